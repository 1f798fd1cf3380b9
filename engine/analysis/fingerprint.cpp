#include "analysis/fingerprint.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

namespace bt {

namespace {

constexpr size_t kFingerprintFrames = 5;

// The C and C++ runtimes' own libraries: an abort, an assert or a throw passes through the same
// frames there whatever the bug, so they would make unrelated crashes look alike.
bool isRuntimeModule(llvm::StringRef path) {
  llvm::StringRef base = path.substr(path.rfind('/') + 1);
  for (const char *lib : {"libc.so", "libc-", "libstdc++.so", "libgcc_s.so", "libpthread.so",
                          "libpthread-", "ld-linux", "libc++.so", "libc++abi.so", "libunwind.so"})
    if (base.starts_with(lib)) return true;
  return false;
}

// The same runtime functions linked statically into the program.
bool isRuntimeFunction(llvm::StringRef f) {
  static const char *const kNames[] = {
      "raise", "abort", "__GI_raise", "__GI_abort", "__pthread_kill_implementation",
      "__pthread_kill_internal", "__pthread_kill", "pthread_kill", "__assert_fail",
      "__assert_fail_base", "__assert_perror_fail", "__cxa_throw", "__cxa_rethrow",
      "std::terminate", "__cxxabiv1::__terminate", "__gnu_cxx::__verbose_terminate_handler",
      "_Unwind_RaiseException", "_Unwind_Resume", "__libc_message", "__fortify_fail",
      "__stack_chk_fail", "__chk_fail", "malloc_printerr"};
  for (const char *n : kNames)
    if (f == n) return true;
  return false;
}

std::string frameKey(const Frame &f) {
  std::string mod = f.module.substr(f.module.rfind('/') + 1);
  std::string where = f.function.empty() ? "+0x" + llvm::utohexstr(f.moduleOffset, true) : f.function;
  return mod + "!" + where;
}

}  // namespace

bool isRuntimeFrame(const Frame &f) {
  return isRuntimeModule(f.module) || isRuntimeFunction(f.function);
}

Fingerprint crashFingerprint(const std::optional<SignalInfo> &signal,
                             const std::vector<ThreadBacktrace> &backtraces) {
  Fingerprint fp;
  const ThreadBacktrace *t = nullptr;
  for (const ThreadBacktrace &b : backtraces)
    if (b.crashed) t = &b;
  if (!t && !backtraces.empty()) t = &backtraces.front();
  std::string key = signal ? signalName(signal->signo) : "no-signal";
  if (t) {
    // The program's own frames, and the innermost frame where it faulted even inside the
    // runtime (strlen(NULL) is not memcpy(NULL)) unless that is abort/assert/throw machinery;
    // all frames only when the program has none of its own.
    for (bool runtimeToo : {false, true}) {
      bool innermost = true;
      for (const Frame &f : t->frames) {
        if (fp.frames.size() == kFingerprintFrames) break;
        if (f.signalTrampoline) continue;
        bool machinery = isRuntimeFunction(f.function);
        bool keep = runtimeToo || !isRuntimeFrame(f) || (innermost && !machinery);
        innermost = false;
        if (keep) fp.frames.push_back(frameKey(f));
      }
      if (!fp.frames.empty()) break;
    }
  }
  for (const std::string &f : fp.frames) key += "\n" + f;
  std::array<uint8_t, 32> h = llvm::SHA256::hash(llvm::arrayRefFromStringRef(key));
  fp.hash = llvm::toHex(llvm::ArrayRef(h).take_front(8), /*LowerCase=*/true);
  return fp;
}

}  // namespace bt
