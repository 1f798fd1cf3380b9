// `bt show`: print a snapshot like bt prints a process, without the binaries or debug files.
#include "snapshot/backtrace_printer.h"
#include "cli/command_line.h"
#include "cli/plugin_runner.h"
#include "cli/subcommands.h"
#include "snapshot/open_target.h"
#include "snapshot/snapshot_target.h"

#include <llvm/Support/raw_ostream.h>

#include <sys/stat.h>


namespace bt {

namespace {

const char kShowUsage[] = R"(usage: bt show FILE [--json] [--vars] [--dedup-rules FILE]

Prints a snapshot like bt prints a process: every thread's frames (with --vars their
parameters and locals), the signal, and the snapshot's own facts (when and where it was
taken, attributes, fingerprint). Needs neither the executable nor its debug files.
A core file or minidump is printed as `bt FILE` prints it.

options:
  --json      JSON (schema btengine.backtrace/2 plus a "snapshot" object; docs/json-output.md)
  --vars      also print variables (alias: bt show full FILE)
  --dedup-rules FILE
              fingerprint the stored frames again with these rules (docs/analysis.md)
              instead of showing the fingerprint stored when the snapshot was taken
%PLUGINS%  -h, --help  show this help

Plugin results stored in the snapshot (bt snapshot with plugins) are shown; plugins configured
now run on the snapshot and are shown instead (the file is not changed).
)";

}  // namespace

int showMain(int argc, char **argv) {
  bool json = false, vars = false;
  std::string input, dedupRulesPath;
  std::shared_ptr<const FingerprintRules> dedupRules;
  PluginOptions plugins;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << withPluginOptions(kShowUsage);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--vars" || (a == "full" && input.empty() && !vars)) {
      vars = true;
    } else if (a == "--dedup-rules") {
      const char *v = i + 1 < argc ? argv[++i] : nullptr;
      if (int st = loadDedupRules("show", v, dedupRules)) return st;
      dedupRulesPath = v;
    } else if (int r = parsePluginOption("show", argc, argv, i, plugins); r >= 0) {
      if (r > 0) return r;
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError("show", "unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usageError("show", "unexpected argument '" + a + "'");
    }
  }
  if (input.empty()) return usageError("show", "missing FILE");
  std::string kind = sourceKindOf(TargetRequest::forFile(input));
  if (kind == "core" || kind == "minidump") {
    // Not a snapshot but something bt reads: print it as bt does.
    std::vector<std::string> args = {"bt", input};
    if (json) args.push_back("--json");
    if (vars) args.push_back("--vars");
    if (dedupRules) args.insert(args.end(), {"--dedup-rules", dedupRulesPath});
    appendPluginArgs(plugins, args);
    return runCommand(backtraceMain, std::move(args));
  }
  struct stat st;
  if (kind == "unknown" && stat(input.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return fail({ErrorKind::BadInput, input + ": not a btengine snapshot, core file or minidump"});
  auto target = SnapshotTarget::open(input);
  if (!target) return fail(takeErrorReport(target.takeError()));
  std::optional<PluginReport> report;
  if (pluginsConfigured(plugins)) report = runPlugins(plugins, input, "", {});
  printSnapshot(llvm::outs(), **target, input, json, vars, dedupRules.get(), report ? &*report : nullptr);
  llvm::outs().flush();
  return 0;
}

}  // namespace bt
