// Presentation of a backtrace: the human-readable text of `bt` and the JSON document of
// `bt --json` (schema "btengine.backtrace/2", documented in docs/json-output.md).
#pragma once

#include "analysis/analysis.h"
#include "analysis/fingerprint.h"
#include "analysis/highlight.h"
#include "snapshot/plugin_report.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <functional>

#include <vector>

namespace bt {

// The Analysis block: each classification (kind, severity, Breakpad's rating, reason, the rule
// and its facts) and the fingerprint.
// `threads`: for the highlighted variables (marked on their Variables).
void printAnalysisText(llvm::raw_ostream &os, const AnalysisResult &analysis,
                       const std::vector<ThreadBacktrace> &threads);

// `analysis` (when given) adds the crashing instruction under the signal line and, for a
// crash, the Analysis block; `plugins` (when given) the Plugins block after it.
void printBacktraceText(llvm::raw_ostream &os, const Target &target,
                        const std::vector<ThreadBacktrace> &threads,
                        const std::vector<Variable> &globals = {},
                        const AnalysisResult *analysis = nullptr,
                        const PluginReport *plugins = nullptr);
// `analysis` (when given) becomes the "analysis" object: fingerprint, its frames,
// classifications; `warnings` the "warnings" array; `plugins` the "plugins" object. `extra` adds
// attributes to the top-level object (bt show: the snapshot's own facts).
void printBacktraceJson(llvm::raw_ostream &os, const Target &target,
                        const std::vector<ThreadBacktrace> &threads,
                        const std::vector<Variable> &globals = {},
                        const AnalysisResult *analysis = nullptr,
                        const std::vector<std::string> *warnings = nullptr,
                        const std::function<void(llvm::json::OStream &)> &extra = {},
                        const PluginReport *plugins = nullptr);


// Frames as a run without variables has them (bt without --vars prints no variable lines).
void dropVariables(std::vector<ThreadBacktrace> &threads);

class SnapshotTarget;
// What `bt show FILE` prints for a snapshot (`input`: its name in the header line): its facts
// (when, where, attributes), then the stored frames and analysis as printBacktraceText/Json
// print a process, variables only with `vars`; `dedupRules` (optional) fingerprint the stored
// frames again; `plugins` (optional): what plugins just found, shown instead of the results the
// snapshot stored. The `btengine show` command prints the same.
void printSnapshot(llvm::raw_ostream &os, SnapshotTarget &target, const std::string &input,
                   bool json, bool vars, const FingerprintRules *dedupRules,
                   const PluginReport *plugins = nullptr);

}  // namespace bt
