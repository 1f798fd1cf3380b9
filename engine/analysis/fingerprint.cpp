#include "analysis/fingerprint.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

namespace bt {

namespace {
constexpr size_t kFingerprintFrames = 5;
}

Fingerprint crashFingerprint(const std::optional<SignalInfo> &signal,
                             const std::vector<ThreadBacktrace> &backtraces) {
  Fingerprint fp;
  const ThreadBacktrace *t = nullptr;
  for (const ThreadBacktrace &b : backtraces)
    if (b.crashed) t = &b;
  if (!t && !backtraces.empty()) t = &backtraces.front();
  std::string key = signal ? signalName(signal->signo) : "no-signal";
  if (t)
    for (const Frame &f : t->frames) {
      if (fp.frames.size() == kFingerprintFrames) break;
      if (f.signalTrampoline) continue;
      std::string mod = f.module.substr(f.module.rfind('/') + 1);
      std::string where = f.function.empty() ? "+0x" + llvm::utohexstr(f.moduleOffset, true)
                                             : f.function;
      fp.frames.push_back(mod + "!" + where);
    }
  for (const std::string &f : fp.frames) key += "\n" + f;
  std::array<uint8_t, 32> h = llvm::SHA256::hash(llvm::arrayRefFromStringRef(key));
  fp.hash = llvm::toHex(llvm::ArrayRef(h).take_front(8), /*LowerCase=*/true);
  return fp;
}

}  // namespace bt
