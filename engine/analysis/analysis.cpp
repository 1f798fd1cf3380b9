#include "analysis/analysis.h"

#include <mutex>

namespace bt {

static const InstructionDecoder *sharedDecoder() {
  // Built once per process: LLVM's MC tables take milliseconds to set up.
  static std::once_flag once;
  static std::unique_ptr<InstructionDecoder> decoder;
  std::call_once(once, [] { decoder = InstructionDecoder::create(); });
  return decoder.get();
}

std::optional<DecodedInstruction> crashingInstruction(Target &target) {
  if (!target.crashedTid()) return std::nullopt;
  const ThreadInfo *crashed = nullptr;
  for (const ThreadInfo &t : target.threads())
    if (t.tid == *target.crashedTid()) crashed = &t;
  const InstructionDecoder *decoder = crashed ? sharedDecoder() : nullptr;
  if (!decoder) return std::nullopt;
  uint8_t bytes[15];  // the longest x86-64 instruction
  size_t n = target.readMemory(crashed->regs.rip, bytes, sizeof bytes);
  return decoder->decode(llvm::ArrayRef<uint8_t>(bytes, n), crashed->regs.rip, crashed->regs);
}

AnalysisResult analyzeCrash(Target &target, const std::vector<ThreadBacktrace> &backtraces) {
  AnalysisResult r;
  r.fingerprint = crashFingerprint(target.signal(), backtraces);
  r.instruction = crashingInstruction(target);
  // Classifiers come with the analysis issue; until then there are none to run.
  return r;
}

}  // namespace bt
