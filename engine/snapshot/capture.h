// Capture: the capture flow of ARCHITECTURE.md for one Target — the engine's pipeline
// (snapshot/pipeline.h) run with every memory read recorded, plus, before the target is let go,
// the memory slices a later reader needs (stacks from SP to the stack top, bounded; pages around
// the fault address; what crashing-frame pointers refer to; everything the engine read); then
// secrets are redacted. The caller writes the result with writeSnapshot.
#pragma once

#include "analysis/fingerprint.h"
#include "snapshot/snapshot.h"
#include "symbols/symbolizer.h"
#include "unwind/backtrace.h"


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
  std::shared_ptr<const FingerprintRules> fingerprintRules;  // null: the built-in rules
  bool security = false;  // run the security checks (the crash handlers turn them on)
  // Also keep the process's writable private memory (heap, .data, .bss, thread stacks beyond
  // maxStackBytes), after everything else and within maxMemoryBytes: what plugins read
  // (interpreter state, a team's own structures) when they run on the snapshot.
  bool writableMemory = false;
  // Keep a live target stopped until everything is read (PipelineOptions::releaseEarly off).
  bool keepStopped = false;
};

// A live target is released once its registers and stacks are copied (or, with keepStopped, as
// soon as everything that needs its memory has been read); the snapshot records for how long it
// was stopped and which of its memory was read after that.
SnapshotData captureSnapshot(Target &target, Symbolizer &symbols, const CaptureOptions &opts);

}  // namespace bt
