#include "analysis/analysis.h"

#include "analysis/fault_rules.h"

#include <mutex>

namespace bt {

static const InstructionDecoder *sharedDecoder() {
  // Built once per process: LLVM's MC tables take milliseconds to set up.
  static std::once_flag once;
  static std::unique_ptr<InstructionDecoder> decoder;
  std::call_once(once, [] { decoder = InstructionDecoder::create(); });
  return decoder.get();
}

static std::optional<DecodedInstruction> decodeCode(const std::optional<CrashEvidence> &e) {
  const InstructionDecoder *decoder = e ? sharedDecoder() : nullptr;
  if (!decoder) return std::nullopt;
  return decoder->decode(e->code, e->regs.rip, e->regs);
}

std::optional<DecodedInstruction> crashingInstruction(Target &target) {
  return decodeCode(readCrashEvidence(target, nullptr));
}

AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces,
                            const std::optional<CrashEvidence> &evidence,
                            const FingerprintRules &rules,
                            const std::vector<LockWait> &lockWaits) {
  AnalysisResult r;
  r.fingerprint = crashFingerprint(target.signal(), backtraces, rules);
  r.instruction = decodeCode(evidence);
  std::optional<Classification> deadlock = findDeadlock(lockWaits, backtraces);
  if (!target.crashedTid()) {  // nothing crashed: only a hang to find
    if (deadlock) r.classifications.push_back(*deadlock);
    return r;
  }
  FaultFacts facts;
  facts.signal = target.signal();
  facts.regions = target.regions();
  facts.modules = target.modules();
  for (const ThreadBacktrace &t : backtraces)
    if (t.crashed) facts.frames = t.frames;
  facts.evidence = evidence;
  facts.mainStackAddress = target.auxvValue(31 /* AT_EXECFN */);
  facts.crashedIsMainThread = target.process().pid != 0 && *target.crashedTid() == target.process().pid;
  // A call instruction of any length (2 to 7 bytes) ending where the word at sp points.
  if (evidence && evidence->beforeWordAtSp.size() == 7)
    if (const InstructionDecoder *d = sharedDecoder())
      for (unsigned len = 2; len <= 7 && !facts.spHoldsReturnAddress; ++len) {
        uint64_t at = *evidence->wordAtSp - len;
        auto i = d->decode(llvm::ArrayRef(evidence->beforeWordAtSp).take_back(len), at, evidence->regs);
        facts.spHoldsReturnAddress = i && i->length == len && i->access == AccessKind::Call;
      }
  facts.instruction = r.instruction;
  if (std::optional<Classification> c = classifyFault(facts)) {
    applyHeapRules(*c, facts, target);
    r.classifications.push_back(*c);
  }
  if (deadlock) r.classifications.push_back(*deadlock);
  return r;
}

}  // namespace bt
