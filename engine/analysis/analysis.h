// Analysis: what the engine concludes about a captured process once its backtraces are known —
// the crash fingerprint and the classifications. It sees the Target and the symbolized
// backtraces only, never which kind of source they came from, so a live process, a core, a
// minidump and a snapshot are analysed alike. The capture pipeline (engine/snapshot/pipeline.h)
// runs it after the target is released.
#pragma once

#include "analysis/classification.h"
#include "analysis/fingerprint.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <vector>

namespace bt {

struct AnalysisResult {
  Fingerprint fingerprint;
  std::vector<Classification> classifications;
};

AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces);

}  // namespace bt
