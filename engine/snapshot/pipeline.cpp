#include "snapshot/pipeline.h"

#include "symbols/dwarf_sections.h"

#include <chrono>
#include <set>

namespace bt {

static double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

SymbolizerOptions symbolizerOptionsFor(const PipelineOptions &opts,
                                       std::vector<std::string> debugDirs, bool useCache) {
  SymbolizerOptions so;
  so.debugDirs = std::move(debugDirs);
  so.cacheDir = useCache ? defaultDebugCacheDir() : std::string();
  so.variables = opts.variables || !opts.globals.empty();
  return so;
}

PipelineResult runPipeline(Target &target, Symbolizer &symbols, const PipelineOptions &opts,
                           const BeforeRelease &beforeRelease) {
  PipelineResult r;
  bool needTarget = opts.variables || !opts.globals.empty();
  if (needTarget) {
    r.variables = std::make_unique<FrameVariables>(target, symbols);
    if (opts.keepValues) r.variables->keepValues(opts.keepValues);
  }
  std::optional<CrashEvidence> evidence;  // for the analysis, read while the target is frozen
  std::vector<LockWait> lockWaits;
  std::vector<Classification> securityFindings;
  auto release = [&] {
    auto start = std::chrono::steady_clock::now();
    evidence = readCrashEvidence(target, &symbols);
    lockWaits = readLockWaits(target);
    if (opts.security) securityFindings = runSecurityChecks(target, symbols);
    r.analysisReadMs = msSince(start);
    if (beforeRelease) beforeRelease(r);
    if (opts.releaseWhenDone) target.release();
  };
  r.unwound = unwindAllThreads(target, symbols, opts.unwind);
  auto interrupted = [&] { return opts.unwind.interrupted && opts.unwind.interrupted(); };
  if (interrupted()) {
    release();
    r.interrupted = true;
    return r;
  }
  // Symbolizing reads no target memory, reading variables does: without variables the target
  // goes before the (possibly slow) symbolization.
  if (!needTarget) release();
  ScopeVisitorFactory visitors;
  if (opts.variables) {
    FrameVariables *fv = r.variables.get();
    visitors = [fv](const UnwindResult &ur, size_t i) { return fv->visitorFor(ur, i); };
  }
  r.backtraces = symbolizeBacktraces(target, symbols, r.unwound, opts.unwind, visitors);
  for (const std::string &name : opts.globals) {
    std::optional<Variable> v = r.variables->readGlobal(name);
    if (!v && opts.missingGlobalsAsErrors) {
      v = Variable{};
      v->name = name;
      v->kind = "global";
      v->error = true;
      v->value = "<error: no global variable named " + name + " in the debug information>";
    }
    if (v) r.globals.push_back(std::move(*v));
  }
  if (needTarget) release();
  if (interrupted()) {
    r.interrupted = true;
    return r;
  }
  r.stoppedMs = target.stoppedMs();
  auto start = std::chrono::steady_clock::now();
  r.analysis = analyzeCrash(target, r.backtraces, evidence,
                            opts.fingerprintRules ? *opts.fingerprintRules : FingerprintRules::defaults(),
                            lockWaits);
  for (Classification &c : securityFindings) r.analysis.classifications.push_back(std::move(c));
  if (!r.analysis.classifications.empty())
    highlightVariables(r.backtraces, r.analysis.classifications.front());
  r.analysisMs = msSince(start);
  r.warnings = collectWarnings(target, symbols);
  return r;
}

std::vector<std::string> collectWarnings(const Target &target, const Symbolizer &symbols) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::vector<std::string> &from : {target.warnings(), symbols.warnings()})
    for (const std::string &w : from)
      if (seen.insert(w).second) out.push_back(w);
  return out;
}

}  // namespace bt
