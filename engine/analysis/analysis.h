// Analysis: what the engine concludes about a captured process once its backtraces are known —
// the crash fingerprint and the classifications. It sees the Target and the symbolized
// backtraces only, never which kind of source they came from, so a live process, a core, a
// minidump and a snapshot are analysed alike. The capture pipeline (engine/snapshot/pipeline.h)
// runs it after the target is released.
#pragma once

#include "analysis/classification.h"
#include "analysis/crash_evidence.h"
#include "analysis/deadlock.h"
#include "analysis/fingerprint.h"
#include "analysis/instruction_decoder.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <optional>
#include <vector>

namespace bt {

struct AnalysisResult {
  Fingerprint fingerprint;
  // The fault's classification first (fault_rules.h), then any further findings.
  std::vector<Classification> classifications;
  // The instruction at the crashed thread's pc and the access it makes (none when no thread
  // crashed or its bytes cannot be read or decoded).
  std::optional<DecodedInstruction> instruction;
};

// `evidence` and `lockWaits`: what readCrashEvidence() and readLockWaits() read while the
// target was frozen.
AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces,
                            const std::optional<CrashEvidence> &evidence,
                            const FingerprintRules &rules = FingerprintRules::defaults(),
                            const std::vector<LockWait> &lockWaits = {});

// The instruction at the crashed thread's pc, decoded from the target's memory (a snapshot keeps
// the bytes around every captured thread's pc, so no binary is needed).
std::optional<DecodedInstruction> crashingInstruction(Target &target);

}  // namespace bt
