// Analysis: what the engine concludes about a captured process once its backtraces are known —
// the crash fingerprint and the classifications. It sees the Target and the symbolized
// backtraces only, never which kind of source they came from, so a live process, a core, a
// minidump and a snapshot are analysed alike. The capture pipeline (engine/snapshot/pipeline.h)
// runs it after the target is released.
#pragma once

#include "analysis/classification.h"
#include "analysis/fingerprint.h"
#include "analysis/instruction_decoder.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <optional>
#include <vector>

namespace bt {

struct AnalysisResult {
  Fingerprint fingerprint;
  std::vector<Classification> classifications;
  // The instruction at the crashed thread's pc and the access it makes (none when no thread
  // crashed or its bytes cannot be read or decoded).
  std::optional<DecodedInstruction> instruction;
};

// The code at the crashed thread's pc and that thread's registers, read while the target is
// still frozen (the pipeline reads nothing after it lets a live process go).
struct CrashingCode {
  Registers regs{};
  std::vector<uint8_t> bytes;  // up to 15 (the longest x86-64 instruction), fewer if unreadable
};
std::optional<CrashingCode> readCrashingCode(Target &target);

AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces,
                            const std::optional<CrashingCode> &code);

// The instruction at the crashed thread's pc, decoded from the target's memory (a snapshot keeps
// the bytes around every captured thread's pc, so no binary is needed).
std::optional<DecodedInstruction> crashingInstruction(Target &target);

}  // namespace bt
