// The engine's one pipeline over an opened Target: copy a live target's stacks and release it
// (or, releasing late, unwind while it is frozen and release it when nothing still needs its
// memory), unwind every thread, symbolize, read variables and globals, then analyse
// (fingerprint, classifications). `bt`, `bt snapshot`,
// `bt coredump`, btserve and the Python package all go through it; they only choose options and
// present the result. A capture that must copy memory before the target is let go does so in
// the `beforeRelease` hook.
#pragma once

#include "analysis/analysis.h"
#include "analysis/highlight.h"
#include "analysis/security_checks.h"
#include "symbols/symbolizer.h"
#include "target/target.h"
#include "unwind/backtrace.h"
#include "vars/frame_variables.h"
#include "vars/value.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bt {

struct PipelineOptions {
  bool variables = false;            // parameters and locals of every frame
  std::vector<std::string> globals;  // globals / file-statics to read by name
  bool missingGlobalsAsErrors = true;  // a name with no definition: an "<error: ...>" Variable
  UnwindOptions unwind;
  // Variables also carry walkable Values reading through this session (the Python API).
  std::shared_ptr<ValueSession> keepValues;
  bool releaseWhenDone = true;  // false: the caller keeps the target frozen (and releases it)
  // With releaseWhenDone: let a live target go as soon as its registers and stacks are copied
  // (Target::releaseKeepingStacks), before unwinding, symbolizing and reading variables; what is
  // then read from its writable memory beyond the stacks is marked as read after release
  // (Variable::readAfterRelease). false: it stays stopped until everything is read.
  bool releaseEarly = true;
  std::shared_ptr<const FingerprintRules> fingerprintRules;  // null: the built-in rules
  bool security = false;  // also run the security checks (analysis/security_checks.h)
};

struct PipelineResult {
  std::vector<UnwindResult> unwound;         // physical frames, one per thread of the target
  std::vector<ThreadBacktrace> backtraces;   // symbolized, with inline frames and variables
  std::vector<Variable> globals;             // in the order asked for
  std::unique_ptr<FrameVariables> variables; // the reader, for later lookups (null if none)
  AnalysisResult analysis;
  double stoppedMs = -1;                     // how long a live target was stopped
  // Released before unwinding (opts.releaseEarly), keeping copies of the stacks; already true
  // when the beforeRelease hook runs.
  bool releasedEarly = false;
  // What the source and its files contradicted or lacked (the target's warnings first, then the
  // symbolizer's: missing debug files, corrupt DWARF, ...), each once.
  std::vector<std::string> warnings;
  // What the analysis cost (bench/bench_analysis.py): reading its evidence while the target
  // was frozen, and the rules, fingerprint and highlights afterwards, in milliseconds.
  double analysisReadMs = 0, analysisMs = 0;
  // opts.unwind.interrupted said stop: the result is incomplete and only good to throw away.
  bool interrupted = false;
};

// Called once, while the target is still frozen and after everything the pipeline reads from
// it while frozen; `soFar.backtraces` is empty when the target is released before symbolizing
// (without variables, or releasing early).
using BeforeRelease = std::function<void(const PipelineResult &soFar)>;

PipelineResult runPipeline(Target &target, Symbolizer &symbols, const PipelineOptions &opts,
                           const BeforeRelease &beforeRelease = {});

// The target's warnings, then the symbolizer's, each once (PipelineResult::warnings).
std::vector<std::string> collectWarnings(const Target &target, const Symbolizer &symbols);

// The symbolizer options a pipeline with these options needs (symbol paths and cache given).
SymbolizerOptions symbolizerOptionsFor(const PipelineOptions &opts, const SymbolPaths &paths,
                                       bool useCache);

}  // namespace bt
