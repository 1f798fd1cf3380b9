// Fingerprint: a stable hash of a crash — its signal and the top frames of the crashed thread
// by module and function (module offsets where there is no function) — so the same bug in
// another run or on another host gets the same fingerprint and crashes can be grouped.
#pragma once

#include "target/target.h"
#include "unwind/backtrace.h"

#include <optional>
#include <string>
#include <vector>

namespace bt {

struct Fingerprint {
  std::string hash;                 // 16 lowercase hex digits
  std::vector<std::string> frames;  // what it was computed from ("module!function")
};

// A frame of the C/C++ runtime, by its module or (statically linked) its function.
bool isRuntimeFrame(const Frame &f);

Fingerprint crashFingerprint(const std::optional<SignalInfo> &signal,
                             const std::vector<ThreadBacktrace> &backtraces);

}  // namespace bt
