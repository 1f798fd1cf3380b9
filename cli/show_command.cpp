// `bt show`: print a snapshot like bt prints a process, without the binaries or debug files.
#include "cli/backtrace_printer.h"
#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "snapshot/open_target.h"
#include "snapshot/snapshot_target.h"

#include <llvm/Support/Format.h>
#include <llvm/Support/raw_ostream.h>

#include <sys/stat.h>

#include <ctime>

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
  -h, --help  show this help
)";

}  // namespace

int showMain(int argc, char **argv) {
  bool json = false, vars = false;
  std::string input, dedupRulesPath;
  std::shared_ptr<const FingerprintRules> dedupRules;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kShowUsage;
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--vars" || (a == "full" && input.empty() && !vars)) {
      vars = true;
    } else if (a == "--dedup-rules") {
      const char *v = i + 1 < argc ? argv[++i] : nullptr;
      if (int st = loadDedupRules("show", v, dedupRules)) return st;
      dedupRulesPath = v;
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
    return runCommand(backtraceMain, std::move(args));
  }
  struct stat st;
  if (kind == "unknown" && stat(input.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return fail({ErrorKind::BadInput, input + ": not a btengine snapshot, core file or minidump"});
  auto target = SnapshotTarget::open(input);
  if (!target) return fail(takeErrorReport(target.takeError()));
  const SnapshotData &s = (*target)->data();
  std::vector<ThreadBacktrace> threads = s.backtraces;
  if (!vars)
    for (ThreadBacktrace &t : threads)
      for (Frame &f : t.frames) {
        f.variables.clear();
        f.variablesRead = f.variablesRequested = false;
      }
  const std::vector<Variable> noGlobals;
  const std::vector<Variable> &globals = vars ? s.globals : noGlobals;
  char when[32] = "?";
  time_t t = time_t(s.capture.time);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  AnalysisResult stored = s.storedAnalysis();
  // Decoded again from the code bytes the snapshot keeps around the pc: no binary needed.
  stored.instruction = crashingInstruction(**target);
  if (dedupRules) stored.fingerprint = crashFingerprint(s.signal, s.backtraces, *dedupRules);
  if (json) {
    const std::vector<std::string> noWarnings;  // a snapshot was checked when it was read
    printBacktraceJson(llvm::outs(), **target, threads, globals, &stored, &noWarnings,
                       [&](llvm::json::OStream &j) {
      j.attributeObject("snapshot", [&] {
        j.attribute("format_version", int64_t(kSnapshotFormatVersion));
        j.attribute("source", s.capture.source);
        j.attribute("captured_at", when);
        j.attribute("time", int64_t(s.capture.time));
        if (s.capture.stoppedMs >= 0) j.attribute("stopped_ms", s.capture.stoppedMs);
        else j.attribute("stopped_ms", nullptr);
        j.attribute("host", s.capture.host);
        j.attribute("kernel", s.capture.kernel);
        j.attribute("variables", s.capture.variables);
        j.attribute("threads", s.capture.threads);
        j.attribute("fingerprint", s.fingerprint);
        j.attributeArray("fingerprint_frames", [&] {
          for (const std::string &f : s.fingerprintFrames) j.value(f);
        });
        j.attributeArray("command_line", [&] {
          for (const std::string &a : s.process.commandLine) j.value(a);
        });
        j.attributeArray("environment", [&] {
          for (const std::string &e : s.process.environment) j.value(e);
        });
        j.attribute("environment_redacted", s.capture.environmentRedacted);
        if (s.process.uid) j.attribute("uid", *s.process.uid);
        else j.attribute("uid", nullptr);
        if (s.process.startTime) j.attribute("start_time", int64_t(*s.process.startTime));
        else j.attribute("start_time", nullptr);
        j.attribute("memory_slices", int64_t(s.memory.size()));
        uint64_t bytes = 0;
        for (const MemorySlice &m : s.memory) bytes += m.bytes.size();
        j.attribute("memory_bytes", int64_t(bytes));
        j.attribute("modules", int64_t(s.modules.size()));
        j.attributeArray("classifications", [&] {
          for (const Classification &c : s.classifications) j.value(classificationToJson(c));
        });
      });
      j.attributeObject("attributes", [&] {
        for (const auto &[k, v] : s.attributes) j.attribute(k, v);
      });
    });
  } else {
    llvm::raw_ostream &os = llvm::outs();
    os << "Snapshot " << input << ": captured " << when << " from a " << s.capture.source
       << " target";
    if (!s.capture.host.empty()) os << " on " << s.capture.host;
    if (s.capture.stoppedMs >= 0) os << llvm::format(" (stopped %.1f ms)", s.capture.stoppedMs);
    os << "\n";
    if (!s.process.commandLine.empty()) {
      os << "Command line:";
      for (const std::string &a : s.process.commandLine) os << " " << a;
      os << "\n";
    }
    for (const auto &[k, v] : s.attributes) os << "Attribute " << k << " = " << v << "\n";
    // The fingerprint is in the Analysis block; a snapshot of a process that did not crash
    // has no such block.
    if (!(*target)->crashedTid() && stored.classifications.empty())
      os << "Fingerprint: " << stored.fingerprint.hash << "\n";
    os << "\n";
    printBacktraceText(os, **target, threads, globals, &stored);
  }
  llvm::outs().flush();
  return 0;
}

}  // namespace bt
