// PluginReport: what Python plugins (docs/plugins.md) added to a capture — classifications, a
// severity override, attributes, annotations on frames and variables, highlighted variables,
// variables a pretty-printer renders, the plugins that failed and how long they all took. bt
// never runs Python itself: it reads this from `python -m btengine.plugins` (JSON schema
// "btengine.plugins/1"), applies it to its frames, prints it, and stores it in snapshots under the
// same schema, so `bt show` needs no Python to print it again.
#pragma once

#include "analysis/classification.h"
#include "unwind/backtrace.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bt {

struct PluginReport {
  struct Plugin {
    std::string name, origin;
  };
  struct Severity {  // a plugin's verdict replacing the computed severity
    std::string severity, plugin, reason;
  };
  struct Annotation {  // on frame `frame` of thread `tid` (-1: unknown), or one of its variables
    std::string plugin;
    int tid = -1, frame = -1;
    std::string variable;  // "" for the frame itself
    std::string text;
  };
  struct Highlight {
    int tid = -1, frame = -1;
    std::string variable, why;
  };
  struct Error {  // kind: "exception", "timeout", "invalid", "load", "runner"
    std::string plugin, function, kind, message;
  };
  struct PrintedVariable {  // a frame variable as the plugins' pretty-printers render it
    int tid = -1, frame = -1;
    std::string variable, text;
  };
  std::vector<Plugin> plugins;
  std::vector<Classification> classifications;
  std::optional<Severity> severity;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<Annotation> annotations;
  std::vector<Highlight> highlighted;
  std::vector<Error> errors;
  std::vector<PrintedVariable> variables;
  double ms = 0;  // wall time of the plugin run, Python's start-up included
};

// The "btengine.plugins/1" document (the runner's output, a snapshot's "plugins" object).
llvm::json::Value pluginReportToJson(const PluginReport &r);
llvm::Expected<PluginReport> pluginReportFromJson(const llvm::json::Value &v);

// Puts the pretty-printed texts and the highlights on the frames' variables.
void applyPluginReport(const PluginReport &r, std::vector<ThreadBacktrace> &threads);

// The "Plugins:" block of bt's text output (annotations of frames in `threads` are printed under
// those frames by printBacktraceText instead).
void printPluginReportText(llvm::raw_ostream &os, const PluginReport &r,
                           const std::vector<ThreadBacktrace> &threads);

}  // namespace bt
