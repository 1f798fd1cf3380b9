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

std::optional<CrashingCode> readCrashingCode(Target &target) {
  if (!target.crashedTid()) return std::nullopt;
  for (const ThreadInfo &t : target.threads()) {
    if (t.tid != *target.crashedTid()) continue;
    CrashingCode c;
    c.regs = t.regs;
    c.bytes.resize(15);  // the longest x86-64 instruction
    c.bytes.resize(target.readMemory(t.regs.rip, c.bytes.data(), c.bytes.size()));
    return c;
  }
  return std::nullopt;
}

static std::optional<DecodedInstruction> decodeCode(const std::optional<CrashingCode> &code) {
  const InstructionDecoder *decoder = code ? sharedDecoder() : nullptr;
  if (!decoder) return std::nullopt;
  return decoder->decode(code->bytes, code->regs.rip, code->regs);
}

std::optional<DecodedInstruction> crashingInstruction(Target &target) {
  return decodeCode(readCrashingCode(target));
}

AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces,
                            const std::optional<CrashingCode> &code) {
  AnalysisResult r;
  r.fingerprint = crashFingerprint(target.signal(), backtraces);
  r.instruction = decodeCode(code);
  // Classifiers come with the analysis issue; until then there are none to run.
  return r;
}

}  // namespace bt
