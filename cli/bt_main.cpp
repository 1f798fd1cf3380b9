// `bt`: all-thread backtraces of a live process (bt PID) or a core file (bt CORE [--exe PATH]).
#include "snapshot/backtrace_printer.h"
#include "cli/capture_options.h"
#include "cli/command_line.h"
#include "cli/plugin_runner.h"
#include "cli/subcommands.h"
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"
#include "snapshot/capture.h"
#include "snapshot/snapshot.h"
#include "support/error.h"
#include "support/version.h"
#include "symbols/symbolizer.h"

#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <malloc.h>
#include <fstream>
#include <cstring>
#include <string>
#include <vector>

using namespace bt;

static const char kUsage[] = R"(usage: bt [OPTIONS] PID
       bt [OPTIONS] CORE|MINIDUMP [--exe PATH]
       bt [--json] [--vars] SNAPSHOT           (same as bt show SNAPSHOT)
       bt full [OPTIONS] PID|CORE      (same as --vars)
       bt snapshot PID|CORE [-o FILE|DIR] ...   capture a snapshot (bt snapshot --help)
       bt show FILE [--json] [--vars]           print a snapshot (bt show --help)
       bt coredump ... -o DIR                   kernel core_pattern handler (bt coredump --help)
       bt export --minidump INPUT -o FILE       write a core/snapshot as a minidump (bt export --help)
       bt symbols EXE... -o DIR|FILE.sym        write Breakpad .sym files (bt symbols --help)
       bt upload URL FILE...                    send snapshots/minidumps to a crash server (bt upload --help)

Prints the backtrace of every thread of a live process or an ELF core file: the crashing
thread first, each frame with its pc, module+offset, function, inlined frames and file:line.
A live process is stopped only while its registers and stacks are copied (PTRACE_SEIZE; if
bt dies, the process runs on); what variables point to is read afterwards, and the
variables that needed it are listed at the end ("Read after the process ran on"; JSON:
read_after_release). Plugins (docs/plugins.md) run after that, on a private snapshot of it that
keeps its writable memory, or on the core file; their findings print as a Plugins block.

options:
  --json             print JSON instead of text (schema: docs/json-output.md)
  --vars             also print each frame's parameters and locals, like gdb's bt full
  --keep-stopped     keep a live process stopped until every variable is read (a frozen
                     view of its heap too; the pause is longer)
  --exe PATH         the executable of a core file, when the path recorded in the core
                     is missing or holds another build
  --allow-mismatch   use a module file even when its build-id differs from the one the
                     process ran (by default such a module gets no symbols: its frames show
                     module+offset); every frame in it is marked "build-id mismatch"
  --debug-dir DIR    also look for debug files in DIR (DIR/.build-id/xx/rest.debug and
                     debuglink names); repeatable. /usr/lib/debug is always searched
  --symbols PATH     a Breakpad symbol store (NAME/DEBUGID/NAME.sym, as symupload and
                     crash servers keep them) or one .sym file: functions, inline chains,
                     lines and STACK CFI for modules without DWARF (a minidump's, mostly);
                     repeatable. A file whose MODULE id is another build's is not used
  --offline          never fetch from debuginfod. Otherwise, when DEBUGINFOD_URLS names
                     servers, a module's executable or debug file missing here (or another
                     build here) is fetched by build-id into the cache (DEBUGINFOD_TIMEOUT,
                     _MAXTIME, _MAXSIZE bound it; defaults here 30 s, 120 s, 4 GiB)
  --global NAME      also print the variable with static storage NAME (repeatable): a global,
                     file or function static, 'ns::name', 'function::name', a thread-local
  --security         also run the security checks: writable+executable mappings, code of a
                     live process that differs from its file, GOT entries and threads' pcs
                     outside every module (docs/analysis.md)
  --dedup-rules FILE fingerprint the crash with the rules in FILE on top of the built-in ones
                     (which frames count; format: docs/analysis.md)
  --max-frames N     stop each thread's backtrace after N frames (default 4096)
  --past-main        show the C runtime's frames below main (hidden by default, as gdb does)
  --no-cache         do not cache decompressed debug sections
                     (cache: $XDG_CACHE_HOME/btengine/debug, else ~/.cache/btengine/debug;
                     BTENGINE_NO_CACHE=1 in the environment does the same as --no-cache)
  -q, --quiet        do not print warnings (missing debug files, ...) on stderr
%PLUGINS%  -h, --help         show this help
  --version          show the version

exit status:
  0 success             1 other error          2 usage error
  3 no such process     4 permission denied    5 not a core file / bad input
  6 truncated core      7 missing file (executable, core)
  9 partial result: printed, but the source is incomplete (a truncated core, a missing
    or mismatched executable); the warnings on stderr say what is missing
)";

int main(int argc, char **argv) {
  // LLVM grows each compile unit's DIE array by push_back, so a capture makes and frees many
  // large vectors. Past glibc's mmap threshold each one is a fresh mapping whose pages fault in
  // zeroed and are unmapped on free: 20% of a warm `bt --vars` on a 300-unit server was the
  // kernel doing that. Kept in the heap, the pages are reused; a one-shot command need not give
  // them back early.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  if (argc > 1) {
    std::string cmd = argv[1];
    if (cmd == "snapshot") return snapshotMain(argc - 1, argv + 1);
    if (cmd == "show") return showMain(argc - 1, argv + 1);
    if (cmd == "coredump") return coredumpMain(argc - 1, argv + 1);
    if (cmd == "export") return exportMain(argc - 1, argv + 1);
    if (cmd == "symbols") return symbolsMain(argc - 1, argv + 1);
    if (cmd == "upload") return uploadMain(argc - 1, argv + 1);
  }
  return backtraceMain(argc, argv);
}

namespace bt {

namespace {

// bt with plugins: the plugins never run while a live target is stopped, so a live process is
// captured into a private temporary snapshot (its writable memory kept) and let go first; a
// core or minidump is read by the plugins directly. Then the report is applied and printed.
int backtraceWithPlugins(Target &target, Symbolizer &symbols, const PipelineOptions &popts,
                         const PluginOptions &plugins, const std::string &file, const std::string &exe,
                         const SymbolPaths &symbolPaths, bool json, bool vars, bool quiet) {
  std::vector<ThreadBacktrace> threads;
  std::vector<Variable> globals;
  AnalysisResult analysis;
  std::vector<std::string> warnings;
  PluginReport report;
  if (file.empty()) {
    CaptureOptions copts;
    copts.variables = true;
    copts.globals = popts.globals;
    copts.unwind = popts.unwind;
    copts.fingerprintRules = popts.fingerprintRules;
    copts.security = popts.security;
    copts.redactEnvironment = false;  // a private file, deleted when the plugins are done
    copts.writableMemory = true;
    copts.maxMemoryBytes = kPluginMemoryBytes;
    SnapshotData snap = captureSnapshot(target, symbols, copts);  // lets the target go
    const char *tmp = getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/bt-plugins-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0) return fail({ErrorKind::Generic, "cannot create a temporary snapshot for the plugins in " +
                                                   path.substr(0, path.rfind('/')) + ": " + strerror(errno)});
    close(fd);
    llvm::Expected<uint64_t> written = writeSnapshot(snap, path, /*replace=*/true);
    if (!written) {
      unlink(path.c_str());
      return fail(takeErrorReport(written.takeError()));
    }
    report = runPlugins(plugins, path, "", symbolPaths);
    unlink(path.c_str());
    threads = std::move(snap.backtraces);
    globals = std::move(snap.globals);
    analysis = snap.storedAnalysis();
    warnings = collectWarnings(target, symbols);
  } else {
    PipelineResult result = runPipeline(target, symbols, popts);
    report = runPlugins(plugins, file, exe, symbolPaths);
    threads = std::move(result.backtraces);
    globals = std::move(result.globals);
    analysis = std::move(result.analysis);
    warnings = std::move(result.warnings);
  }
  applyPluginReport(report, threads);
  if (!vars) dropVariables(threads);
  if (json) printBacktraceJson(llvm::outs(), target, threads, globals, &analysis, &warnings, {}, &report);
  else printBacktraceText(llvm::outs(), target, threads, globals, &analysis, &report);
  llvm::outs().flush();
  if (!quiet) printWarnings(warnings, llvm::errs());
  return resultStatus(target.partial());
}

}  // namespace

int backtraceMain(int argc, char **argv) {
  bool json = false, quiet = false, noCache = false, vars = false, allowMismatch = false;
  bool security = false;
  bool keepStopped = false;
  std::string exe, input;
  std::vector<std::string> globals;
  SymbolPaths symbolPaths;
  UnwindOptions uopts;
  std::shared_ptr<const FingerprintRules> dedupRules;
  std::string dedupRulesPath;
  PluginOptions plugins;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *opt) -> const char * {
      if (i + 1 >= argc) return nullptr;
      (void)opt;
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      llvm::outs() << withPluginOptions(kUsage);
      return 0;
    } else if (a == "--version") {
      llvm::outs() << "bt (btengine) " << kBtVersion << "\n";
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--vars" || (a == "full" && input.empty() && !vars)) {
      vars = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--past-main") {
      uopts.pastMain = true;
    } else if (a == "--keep-stopped") {
      keepStopped = true;
    } else if (a == "--no-cache") {
      noCache = true;
    } else if (a == "--allow-mismatch") {
      allowMismatch = true;
    } else if (a == "--security") {
      security = true;
    } else if (a == "--dedup-rules") {
      const char *v = value("--dedup-rules");
      if (int st = loadDedupRules("", v, dedupRules)) return st;
      dedupRulesPath = v;
    } else if (a == "--exe" || a.rfind("--exe=", 0) == 0) {
      const char *v = a == "--exe" ? value("--exe") : argv[i] + 6;
      if (!v) return usageError("", "--exe needs a path");
      exe = v;
    } else if (int r = parseSymbolPathOption("", argc, argv, i, symbolPaths); r >= 0) {
      if (r > 0) return r;
    } else if (a == "--global") {
      const char *v = value("--global");
      if (!v) return usageError("", "--global needs a variable name");
      globals.push_back(v);
    } else if (a == "--max-frames") {
      const char *v = value("--max-frames");
      char *end = nullptr;
      long n = v ? strtol(v, &end, 10) : 0;
      if (!v || *end || n <= 0) return usageError("", "--max-frames needs a positive number");
      uopts.maxFrames = size_t(n);
    } else if (int r = parsePluginOption("", argc, argv, i, plugins); r >= 0) {
      if (r > 0) return r;
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError("", "unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usageError("", "unexpected argument '" + a + "'");
    }
  }
  if (input.empty()) return usageError("", "missing PID or CORE");

  bool isPid = isProcessId(input);
  if (isPid && !exe.empty()) return usageError("", "--exe applies to core files, not to a PID");
  TargetRequest request = isPid ? TargetRequest::forPid(atoi(input.c_str()))
                                : TargetRequest::forFile(input, exe);
  request.allowMismatch = allowMismatch;
  if (sourceKindOf(request) == "snapshot") {
    // A snapshot carries its own symbolized frames and values: show those (bt show). Options
    // that would change them cannot apply: say so rather than ignore them.
    if (!exe.empty() || !globals.empty())
      return usageError("", input + " is a snapshot: --exe and --global apply to a process or a core "
                        "(a snapshot keeps the globals captured with bt snapshot --global)");
    std::vector<std::string> args = {"show", input};
    if (json) args.push_back("--json");
    if (vars) args.push_back("--vars");
    if (dedupRules) args.insert(args.end(), {"--dedup-rules", dedupRulesPath});
    appendPluginArgs(plugins, args);
    return runCommand(showMain, std::move(args));
  }
  // Before the target stops: looking for plugins scans the Python site directories.
  bool withPlugins = pluginsConfigured(plugins);
  auto opened = openTarget(request);
  if (!opened) return fail(takeErrorReport(opened.takeError()));
  std::unique_ptr<Target> target = std::move(*opened);

  PipelineOptions popts;
  popts.variables = vars;
  popts.globals = globals;
  popts.unwind = uopts;
  popts.fingerprintRules = dedupRules;
  popts.security = security;
  popts.releaseEarly = !keepStopped;
  if (withPlugins) {
    popts.variables = true;  // plugins see every frame's variables; printed only with --vars
    Symbolizer symbols(symbolizerOptionsFor(popts, symbolPaths, !noCache));
    return backtraceWithPlugins(*target, symbols, popts, plugins, isPid ? "" : input, exe, symbolPaths,
                                json, vars, quiet);
  }
  Symbolizer symbols(symbolizerOptionsFor(popts, symbolPaths, !noCache));
  PipelineResult result = runPipeline(*target, symbols, popts);
  const std::vector<ThreadBacktrace> &threads = result.backtraces;
  const std::vector<Variable> &globalValues = result.globals;

  if (json)
    printBacktraceJson(llvm::outs(), *target, threads, globalValues, &result.analysis,
                       &result.warnings);
  else printBacktraceText(llvm::outs(), *target, threads, globalValues, &result.analysis);
  llvm::outs().flush();

  if (getenv("BT_DEBUG_STATS")) {
    llvm::errs() << llvm::format("analysis: %.3f ms reading evidence (target frozen), %.3f ms rules\n",
                                 result.analysisReadMs, result.analysisMs);
    // Memory breakdown for benchmarking: file-backed (mmapped debug info) vs heap.
    std::ifstream st("/proc/self/status");
    std::string line;
    while (std::getline(st, line))
      if (line.rfind("VmHWM", 0) == 0 || line.rfind("Rss", 0) == 0) llvm::errs() << line << "\n";
  }
  if (!quiet) printWarnings(result.warnings, llvm::errs());
  return resultStatus(target->partial());
}

}  // namespace bt
