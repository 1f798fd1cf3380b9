#include "snapshot/pipeline.h"

#include "support/error.h"
#include "symbols/dwarf_sections.h"
#include "vars/program_index.h"

#include <chrono>
#include <set>

namespace bt {

// What releasing early copies of a live target: each thread's stack from SP upward (as much as
// a snapshot keeps), and at most this much in all (beyond it, stacks are read from the running
// process, and counted as such).
constexpr uint64_t kFrozenStackBytes = 512 * 1024;
constexpr uint64_t kFrozenStacksTotal = 128u << 20;

static double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

SymbolizerOptions symbolizerOptionsFor(const PipelineOptions &opts, const SymbolPaths &paths,
                                       bool useCache) {
  SymbolizerOptions so;
  so.debugDirs = paths.debugDirs;
  so.symbolStores = paths.symbolStores;
  so.offline = paths.offline;
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
  // A live target's stacks are copied and it runs on before the unwinding (the Python API's
  // values walk it later, frozen).
  bool early = opts.releaseEarly && opts.releaseWhenDone && !opts.keepValues;
  bool released = false;
  auto release = [&] {
    if (released) return;
    released = true;
    auto start = std::chrono::steady_clock::now();
    evidence = readCrashEvidence(target, &symbols);
    lockWaits = readLockWaits(target);
    if (opts.security) securityFindings = runSecurityChecks(target, symbols);
    r.analysisReadMs = msSince(start);
    if (beforeRelease) beforeRelease(r);
    if (!opts.releaseWhenDone) return;
    if (early) target.releaseKeepingStacks(kFrozenStackBytes, kFrozenStacksTotal);
    else target.release();
  };
  if (early) {
    r.releasedEarly = true;  // already in the beforeRelease hook: the stacks will be copied
    release();
  }
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
  // Classes a unit only declares are looked up by name in every module, as gdb does; the name
  // index is built only when such a value is printed (clang's classes with a key function in
  // another module), and lives while the variables are read.
  std::shared_ptr<ProgramIndex> typeIndex;
  std::shared_ptr<ValueSession> typeValues;
  if (opts.variables) {
    FrameVariables *fv = r.variables.get();
    fv->setTypeCompleter([&](const llvm::DWARFDie &decl) {
      if (!typeIndex) {
        typeValues = std::make_shared<ValueSession>(&target);
        typeIndex = std::make_shared<ProgramIndex>(target, symbols, typeValues);
      }
      return typeIndex->definitionOf(decl);
    });
    visitors = [fv](const UnwindResult &ur, size_t i, std::optional<TailCallPosition> tail) {
      return fv->visitorFor(ur, i, tail);
    };
  }
  r.backtraces = symbolizeBacktraces(target, symbols, r.unwound, opts.unwind, visitors);
  if (r.variables) r.variables->setTypeCompleter(nullptr);  // it refers to this function's locals
  typeIndex.reset();
  if (typeValues) typeValues->close();
  if (!opts.globals.empty()) {
    // The same lookup as the Python API's proc["name"] (qualified names, statics, TLS).
    std::shared_ptr<ValueSession> values = opts.keepValues ? opts.keepValues : std::make_shared<ValueSession>(&target);
    ProgramIndex program(target, symbols, values);
    for (const std::string &name : opts.globals) {
      uint64_t liveReads = target.readsAfterRelease();
      llvm::Expected<Variable> v = program.variable(name);
      if (v) {
        v->readAfterRelease = target.readsAfterRelease() != liveReads;
        if (!opts.keepValues) v->handle.reset();
        r.globals.push_back(std::move(*v));
        continue;
      }
      ErrorReport e = takeErrorReport(v.takeError());
      if (e.kind == ErrorKind::NotFound && !opts.missingGlobalsAsErrors) continue;
      Variable missing;
      missing.name = name;
      missing.kind = "global";
      missing.error = true;
      missing.value = e.kind == ErrorKind::NotFound
                          ? "<error: no global variable named " + name + " in the debug information>"
                          : "<error: " + e.message + ">";
      r.globals.push_back(std::move(missing));
    }
    if (!opts.keepValues) values->close();
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
