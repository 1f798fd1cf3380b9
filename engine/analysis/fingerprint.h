// Fingerprint: a stable hash of a crash — its signal and the top frames of the crashed thread
// by module and function (module offsets where there is no function) — so the same bug in
// another run or on another host gets the same fingerprint and crashes can be grouped. Which
// frames count is said by FingerprintRules: built-in defaults that skip the C/C++ runtime's
// abort, assert and throw machinery, plus a small rule file a team writes for its own noise
// (`--dedup-rules FILE`; the format is in docs/analysis.md).
#pragma once

#include "target/target.h"
#include "unwind/backtrace.h"

#include <llvm/Support/Error.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace bt {

struct Fingerprint {
  std::string hash;                 // 16 lowercase hex digits
  std::vector<std::string> frames;  // what it was computed from ("module!function")
};

struct FingerprintRules {
  struct Pattern {
    std::string text;  // as written (for messages and docs)
    std::regex re;
  };
  struct Rename {
    Pattern from;
    std::string to;  // std::regex_replace format ($1, ...)
  };
  std::vector<Rename> renames;          // applied to function names first, in order
  std::vector<Pattern> skipFunctions;   // frames whose (renamed) function matches are not hashed
  // Frames whose module's file name matches are not hashed, except the innermost frame when
  // `keepInnermost` (a fault inside the runtime — strlen(NULL) — is not memcpy(NULL)).
  std::vector<Pattern> skipModules;
  std::vector<Pattern> stopAfter;       // the first frame whose function matches is the last
  size_t frames = 5;
  bool keepInnermost = true;
  // A Rust panic's frames are not hashed: the first frame is the function that panicked (the
  // panic machinery, what it called and the standard library's frames that called it are
  // skipped; see rustPanicCaller in fingerprint.cpp). On in the defaults, off with `defaults off`.
  bool skipRustPanic = false;

  // The built-in rules (docs/analysis.md lists them).
  static const FingerprintRules &defaults();
  // The rule file's text on top of the defaults (unless it says `defaults off`); errors name
  // `origin` and the line.
  static llvm::Expected<FingerprintRules> parse(llvm::StringRef text, llvm::StringRef origin);
  static llvm::Expected<FingerprintRules> load(const std::string &path);
};

// A frame of the C/C++ runtime, by its module or (statically linked) its function.
bool isRuntimeFrame(const Frame &f);

Fingerprint crashFingerprint(const std::optional<SignalInfo> &signal,
                             const std::vector<ThreadBacktrace> &backtraces,
                             const FingerprintRules &rules = FingerprintRules::defaults());

}  // namespace bt
