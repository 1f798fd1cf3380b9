// Capture: the capture flow of ARCHITECTURE.md for one Target — unwind, symbolize and read
// variables while the target is frozen (every memory read is recorded), collect the memory
// slices a later reader needs (stacks from SP to the stack top, bounded; pages around the fault
// address; what crashing-frame pointers refer to; everything the engine read), let the target
// go, then redact secrets and fingerprint the crash. The caller writes the result with
// writeSnapshot.
#pragma once

#include "snapshot/snapshot.h"
#include "symbols/symbolizer.h"
#include "unwind/backtrace.h"

#include <functional>

namespace bt {

struct CaptureOptions {
  bool variables = true;
  bool allThreads = true;                 // false: only the crashed (or first) thread
  uint64_t maxStackBytes = 512 * 1024;    // per thread, from SP (minus the red zone) upward
  uint64_t maxMemoryBytes = 64u << 20;    // all slices together
  bool redactEnvironment = true;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<std::string> globals;       // globals to read by name
  UnwindOptions unwind;
};

// `release` is called once everything that needs the target's memory has been read (a live
// target is let go there); `stoppedMs` is asked afterwards for how long it was stopped (-1 if not
// live).
SnapshotData captureSnapshot(Target &target, Symbolizer &symbols, const CaptureOptions &opts,
                             const std::function<void()> &release,
                             const std::function<double()> &stoppedMs);

// sha256 of a value as "sha256:<16 hex digits>" (environment redaction).
std::string redactedValue(llvm::StringRef value);

}  // namespace bt
