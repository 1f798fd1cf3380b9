#include "analysis/fingerprint.h"

#include "analysis/rust_panic.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SHA256.h>

namespace bt {

namespace {

// The C and C++ runtimes' own libraries: an abort, an assert or a throw passes through the same
// frames there whatever the bug, so they would make unrelated crashes look alike.
const char *const kRuntimeModules =
    R"(^(libc\.so|libc-|libstdc\+\+\.so|libgcc_s\.so|libpthread\.so|libpthread-|ld-linux|libc\+\+\.so|libc\+\+abi\.so|libunwind\.so))";

// The abort/assert/throw machinery, also when linked statically into the program.
const char *const kMachinery =
    R"(^(raise|abort|__GI_raise|__GI_abort|__pthread_kill_implementation|__pthread_kill_internal|__pthread_kill|pthread_kill|__assert_fail|__assert_fail_base|__assert_perror_fail|__cxa_throw|__cxa_rethrow|std::terminate|__cxxabiv1::__terminate|__gnu_cxx::__verbose_terminate_handler|_Unwind_RaiseException|_Unwind_Resume|__libc_message|__fortify_fail|__stack_chk_fail|__chk_fail|malloc_printerr)$)";

// Compiler-made copies of a function (-O2 outlining, IPA clones) are the same source function.
const char *const kCloneSuffix = R"((\.(cold|part\.[0-9]+|isra\.[0-9]+|constprop\.[0-9]+|lto_priv\.[0-9]+))+$)";

FingerprintRules::Pattern pattern(const std::string &text) {
  return {text, std::regex(text, std::regex::ECMAScript | std::regex::optimize)};
}

std::string baseName(const std::string &path) { return path.substr(path.rfind('/') + 1); }

bool matchesAny(const std::vector<FingerprintRules::Pattern> &ps, const std::string &s) {
  std::string text = s.substr(0, 1024);  // bounded recursion in the matcher
  for (const FingerprintRules::Pattern &p : ps)
    if (std::regex_search(text, p.re)) return true;
  return false;
}

// The frame a Rust panic was raised in: past the outermost frame of the panic machinery (with
// everything inside it: the abort, the panic hook that aborted) and the standard library's
// frames that called it (Option::unwrap, slice indexing, mostly inlined into the caller). 0 when
// there is no panic, or nothing past it.
size_t rustPanicCaller(const std::vector<Frame> &frames) {
  size_t outermost = frames.size();
  for (size_t i = 0; i < frames.size(); ++i)
    if (isRustPanicFrame(frames[i].function)) outermost = i;
  if (outermost == frames.size()) return 0;
  size_t caller = outermost + 1;
  while (caller < frames.size() && isRustStdFunction(frames[caller].function)) ++caller;
  return caller < frames.size() ? caller : 0;
}

}  // namespace

const FingerprintRules &FingerprintRules::defaults() {
  static const FingerprintRules rules = [] {
    FingerprintRules r;
    r.renames.push_back({pattern(kCloneSuffix), ""});
    r.skipFunctions.push_back(pattern(kMachinery));
    r.skipModules.push_back(pattern(kRuntimeModules));
    r.skipRustPanic = true;
    return r;
  }();
  return rules;
}

llvm::Expected<FingerprintRules> FingerprintRules::parse(llvm::StringRef text, llvm::StringRef origin) {
  FingerprintRules r = defaults();
  bool sawRule = false;  // `defaults` must come first
  unsigned lineNo = 0;
  for (llvm::StringRef rest = text; !rest.empty();) {
    auto [line, next] = rest.split('\n');
    rest = next;
    ++lineNo;
    line = line.trim();
    if (line.empty() || line.starts_with("#")) continue;
    auto [directive, arg] = line.split(' ');
    arg = arg.trim();
    auto error = [&](const std::string &what) {
      return llvm::createStringError(std::errc::invalid_argument, "%s:%u: %s", origin.str().c_str(),
                                     lineNo, what.c_str());
    };
    if (arg.empty()) return error("'" + directive.str() + "' needs an argument");
    bool first = !sawRule;
    sawRule = true;
    try {
      if (directive == "defaults") {
        if (arg != "on" && arg != "off") return error("'defaults' takes 'on' or 'off'");
        if (!first) return error("'defaults' must come before every other rule");
        if (arg == "off") r = FingerprintRules{};
      } else if (directive == "frames") {
        unsigned n = 0;
        if (arg.getAsInteger(10, n) || n == 0 || n > 64) return error("'frames' needs a number from 1 to 64");
        r.frames = n;
      } else if (directive == "skip-function") {
        r.skipFunctions.push_back(pattern(arg.str()));
      } else if (directive == "skip-module") {
        r.skipModules.push_back(pattern(arg.str()));
      } else if (directive == "stop-after") {
        r.stopAfter.push_back(pattern(arg.str()));
      } else if (directive == "keep-innermost") {
        if (arg != "yes" && arg != "no") return error("'keep-innermost' takes 'yes' or 'no'");
        r.keepInnermost = arg == "yes";
      } else if (directive == "rename") {
        size_t arrow = arg.find(" =>");
        if (arrow == llvm::StringRef::npos) return error("'rename' needs 'REGEX => REPLACEMENT'");
        llvm::StringRef from = arg.take_front(arrow), to = arg.drop_front(arrow + 3);
        r.renames.push_back({pattern(from.trim().str()), to.trim().str()});
      } else {
        return error("unknown rule '" + directive.str() +
                     "' (frames, skip-function, skip-module, stop-after, rename, keep-innermost, defaults)");
      }
    } catch (const std::regex_error &e) {
      return error("bad regular expression '" + arg.str() + "': " + e.what());
    }
  }
  return r;
}

llvm::Expected<FingerprintRules> FingerprintRules::load(const std::string &path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf)
    return llvm::createStringError(buf.getError(), "%s: %s", path.c_str(), buf.getError().message().c_str());
  if ((*buf)->getBufferSize() > (1 << 20))
    return llvm::createStringError(std::errc::file_too_large, "%s: a rule file is at most 1 MiB", path.c_str());
  return parse((*buf)->getBuffer(), path);
}

bool isRuntimeFrame(const Frame &f) {
  const FingerprintRules &d = FingerprintRules::defaults();
  return matchesAny(d.skipModules, baseName(f.module)) || matchesAny(d.skipFunctions, f.function);
}

Fingerprint crashFingerprint(const std::optional<SignalInfo> &signal,
                             const std::vector<ThreadBacktrace> &backtraces,
                             const FingerprintRules &rules) {
  Fingerprint fp;
  const ThreadBacktrace *t = nullptr;
  for (const ThreadBacktrace &b : backtraces)
    if (b.crashed) t = &b;
  if (!t && !backtraces.empty()) t = &backtraces.front();
  std::string key = signal ? signalName(signal->signo) : "no-signal";
  if (t) {
    // The program's own frames, and the innermost frame where it faulted even inside the
    // runtime (strlen(NULL) is not memcpy(NULL)) unless that is abort/assert/throw machinery;
    // all frames only when the rules leave none.
    size_t panicCaller = rules.skipRustPanic ? rustPanicCaller(t->frames) : 0;
    for (bool everything : {false, true}) {
      bool innermost = everything || panicCaller == 0;
      for (size_t i = everything ? 0 : panicCaller; i < t->frames.size(); ++i) {
        const Frame &f = t->frames[i];
        if (fp.frames.size() == rules.frames) break;
        if (f.signalTrampoline) continue;
        // Names longer than 1 KiB are cut before any regex sees them (libstdc++'s matcher
        // recurses per character).
        std::string function = f.function.substr(0, 1024);
        for (const FingerprintRules::Rename &rn : rules.renames)
          function = std::regex_replace(function, rn.from.re, rn.to);
        bool skippedFunction = matchesAny(rules.skipFunctions, function);
        bool skippedModule = matchesAny(rules.skipModules, baseName(f.module));
        bool keep = everything || (!skippedFunction &&
                                   (!skippedModule || (innermost && rules.keepInnermost)));
        innermost = false;
        if (!keep) continue;
        std::string where = function.empty() ? "+0x" + llvm::utohexstr(f.moduleOffset, true) : function;
        fp.frames.push_back(baseName(f.module) + "!" + where);
        if (!function.empty() && matchesAny(rules.stopAfter, function)) break;
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
