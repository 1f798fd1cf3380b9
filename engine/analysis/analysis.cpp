#include "analysis/analysis.h"

namespace bt {

AnalysisResult analyzeCrash(const Target &target, const std::vector<ThreadBacktrace> &backtraces) {
  AnalysisResult r;
  r.fingerprint = crashFingerprint(target.signal(), backtraces);
  // Classifiers come with the analysis issue; until then there are none to run.
  return r;
}

}  // namespace bt
