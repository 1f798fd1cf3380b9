#include "cli/snapshot_commands.h"

#include "cli/backtrace_printer.h"
#include "snapshot/backtrace_codec.h"
#include "snapshot/capture.h"
#include "snapshot/snapshot_target.h"
#include "support/error.h"
#include "symbols/dwarf_sections.h"
#include "target/core_file.h"
#include "target/dump_file.h"
#include "target/live_process.h"

#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>

namespace bt {

namespace {

const char kSnapshotUsage[] = R"(usage: bt snapshot PID [OPTIONS] [-o FILE|DIR]
       bt snapshot CORE [--exe PATH] [OPTIONS] [-o FILE|DIR]

Captures a snapshot (.btsnap): every thread's registers and symbolized frames with variables,
the stacks and the memory around the fault, modules with build-ids, the memory map, signal,
auxv and process facts, zstd-compressed. `bt show FILE` reads it on any machine, without the
executable or debug files. A live process is stopped only while its state is read
(PTRACE_SEIZE; if bt dies, the process runs on); bt reports for how long.

options:
  -o FILE|DIR            where to write (default: the current directory); in a directory the
                         name is <program>.<pid>.<time>.btsnap
  --exe PATH             the executable of a core file, if the recorded path has moved
  --threads all|crashed  capture every thread (default) or only the crashed one
  --no-vars              do not capture variables (shorter pause)
  --max-stack-bytes N    stack bytes kept per thread from its SP (default 524288)
  --max-memory-bytes N   memory kept in all (default 67108864)
  --redact-env           replace environment values by a hash (default)
  --no-redact-env        keep environment values
  --attr KEY=VALUE       a user attribute stored in the snapshot (version, host, ...); repeatable
  --global NAME          also capture the global variable NAME (repeatable)
  --tid TID --siginfo ADDR --ucontext ADDR
                         (in-process crash handlers) thread TID is in a signal handler whose
                         siginfo_t and ucontext_t are at ADDR: report that signal and unwind
                         that thread from the interrupted context
  --debug-dir DIR        also look for debug files in DIR (repeatable)
  --max-frames N, --past-main, --no-cache, -q    as for bt
  -h, --help             show this help
)";

const char kCoredumpUsage[] = R"(usage: bt coredump [--pid PID] [--tid TID] [--signal SIG] [--exe PATH] -o DIR
                   [--keep-core] [snapshot options]

Reads an ELF core from standard input as the kernel pipes it to a core_pattern handler and
writes a snapshot into DIR, without writing the core to disk (unless --keep-core: then also
DIR/core.<pid>). Install it with scripts/crash-handler install; the kernel runs:
  |/path/to/bt coredump --pid %P --tid %I --signal %s --exe %E -o DIR
--exe takes the kernel's %E form too ('!' for '/'). Messages go to DIR/bt-coredump.log, as
the kernel shows a pipe handler's output to no one. Snapshot options as for bt snapshot.
)";

const char kShowUsage[] = R"(usage: bt show FILE [--json] [--vars]

Prints a snapshot like bt prints a process: every thread's frames (with --vars their
parameters and locals), the signal, and the snapshot's own facts (when and where it was
taken, attributes, fingerprint). Needs neither the executable nor its debug files.

options:
  --json      JSON (schema btengine.backtrace/1 plus a "snapshot" object; docs/json-output.md)
  --vars      also print variables (alias: bt show full FILE)
  -h, --help  show this help
)";

int usageError(const char *cmd, const std::string &msg) {
  llvm::errs() << "bt " << cmd << ": " << msg << "\nTry 'bt " << cmd << " --help' for more information.\n";
  return static_cast<int>(ErrorKind::Usage);
}

int fail(ErrorReport r) {
  llvm::errs() << "bt: error: " << r.message << "\n";
  return static_cast<int>(r.kind);
}

bool parseNumber(const char *s, uint64_t &out, int base = 0) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  out = strtoull(s, &end, base);
  return !*end && errno == 0;
}

// Options shared by `bt snapshot` and `bt coredump`.
struct CaptureCli {
  CaptureOptions capture;
  std::string output, exe;
  std::vector<std::string> debugDirs;
  bool noCache = false, quiet = false;
  int tid = 0;
  uint64_t siginfo = 0, ucontext = 0;
};

// Returns 0 if argv[i] was consumed (i advanced past its value), -1 if it is not a capture
// option, or a usage exit status.
int parseCaptureOption(const char *cmd, int argc, char **argv, int &i, CaptureCli &c) {
  std::string a = argv[i];
  auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
  uint64_t n = 0;
  if (a == "-o" || a == "--output") {
    const char *v = value();
    if (!v) return usageError(cmd, a + " needs a file or directory");
    c.output = v;
  } else if (a == "--exe") {
    const char *v = value();
    if (!v) return usageError(cmd, "--exe needs a path");
    c.exe = v;
  } else if (a == "--threads") {
    const char *v = value();
    if (!v || (strcmp(v, "all") && strcmp(v, "crashed")))
      return usageError(cmd, "--threads needs 'all' or 'crashed'");
    c.capture.allThreads = !strcmp(v, "all");
  } else if (a == "--no-vars") {
    c.capture.variables = false;
  } else if (a == "--max-stack-bytes" || a == "--max-memory-bytes") {
    if (!parseNumber(value(), n) || n == 0) return usageError(cmd, a + " needs a positive number");
    (a == "--max-stack-bytes" ? c.capture.maxStackBytes : c.capture.maxMemoryBytes) = n;
  } else if (a == "--redact-env") {
    c.capture.redactEnvironment = true;
  } else if (a == "--no-redact-env") {
    c.capture.redactEnvironment = false;
  } else if (a == "--attr") {
    const char *v = value();
    const char *eq = v ? strchr(v, '=') : nullptr;
    if (!eq || eq == v) return usageError(cmd, "--attr needs KEY=VALUE");
    c.capture.attributes.emplace_back(std::string(v, eq), std::string(eq + 1));
  } else if (a == "--global") {
    const char *v = value();
    if (!v) return usageError(cmd, "--global needs a variable name");
    c.capture.globals.push_back(v);
  } else if (a == "--tid") {
    if (!parseNumber(value(), n, 10) || n == 0 || n > INT32_MAX)
      return usageError(cmd, "--tid needs a thread id");
    c.tid = int(n);
  } else if (a == "--siginfo" || a == "--ucontext") {
    if (!parseNumber(value(), n) || n == 0) return usageError(cmd, a + " needs an address");
    (a == "--siginfo" ? c.siginfo : c.ucontext) = n;
  } else if (a == "--debug-dir") {
    const char *v = value();
    if (!v) return usageError(cmd, "--debug-dir needs a directory");
    c.debugDirs.push_back(v);
  } else if (a == "--max-frames") {
    if (!parseNumber(value(), n, 10) || n == 0) return usageError(cmd, "--max-frames needs a positive number");
    c.capture.unwind.maxFrames = size_t(n);
  } else if (a == "--past-main") {
    c.capture.unwind.pastMain = true;
  } else if (a == "--no-cache") {
    c.noCache = true;
  } else if (a == "-q" || a == "--quiet") {
    c.quiet = true;
  } else {
    return -1;
  }
  return 0;
}

bool isDirectory(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// FILE as given, or DIR/<program>.<pid>.<time>.btsnap.
std::string outputPath(const std::string &out, const ProcessFacts &p) {
  std::string dir = out.empty() ? "." : out;
  if (!out.empty() && !isDirectory(out) && out.back() != '/') return out;
  std::string prog = llvm::sys::path::filename(p.executable).str();
  if (prog.empty() && !p.commandLine.empty()) prog = llvm::sys::path::filename(p.commandLine[0]).str();
  if (prog.empty()) prog = "process";
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string base = prog + "." + std::to_string(p.pid) + "." + stamp;
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string path = dir + "/" + base + ".btsnap";
  for (int n = 2; access(path.c_str(), F_OK) == 0 && n < 1000; ++n)
    path = dir + "/" + base + "-" + std::to_string(n) + ".btsnap";
  return path;
}

Symbolizer makeSymbolizer(const CaptureCli &c) {
  SymbolizerOptions sopts;
  sopts.debugDirs = c.debugDirs;
  sopts.cacheDir = c.noCache ? std::string() : defaultDebugCacheDir();
  sopts.variables = c.capture.variables || !c.capture.globals.empty();
  return Symbolizer(sopts);
}

void printWarnings(const Symbolizer &symbols, llvm::raw_ostream &os) {
  std::set<std::string> seen;
  for (const std::string &w : symbols.warnings())
    if (seen.insert(w).second && seen.size() <= 10) os << "bt: warning: " << w << "\n";
}

// Writes the snapshot; the result is a one-line summary ("snapshot: PATH (N bytes...)").
llvm::Expected<std::string> writeAndReport(const SnapshotData &snap, const std::string &out) {
  std::string path = outputPath(out, snap.process);
  llvm::Expected<uint64_t> size = writeSnapshot(snap, path);
  if (!size) return size.takeError();
  std::string summary = "snapshot: " + path + " (" + std::to_string(*size) + " bytes";
  if (snap.capture.stoppedMs >= 0) {
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", snap.capture.stoppedMs);
    summary += std::string(", target stopped ") + ms + " ms";
  }
  return summary + ")";
}

}  // namespace

int snapshotMain(int argc, char **argv) {
  CaptureCli c;
  std::string input;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kSnapshotUsage;
      return 0;
    }
    int r = parseCaptureOption("snapshot", argc, argv, i, c);
    if (r > 0) return r;
    if (r == 0) continue;
    if (a.size() > 1 && a[0] == '-') return usageError("snapshot", "unknown option '" + a + "'");
    if (!input.empty()) return usageError("snapshot", "unexpected argument '" + a + "'");
    input = a;
  }
  if (input.empty()) return usageError("snapshot", "missing PID or CORE");
  bool isPid = input.find_first_not_of("0123456789") == std::string::npos;
  if (!isPid && (c.tid || c.siginfo || c.ucontext))
    return usageError("snapshot", "--tid, --siginfo and --ucontext apply to a live process");
  if ((c.siginfo || c.ucontext) && !c.tid)
    return usageError("snapshot", "--siginfo and --ucontext need --tid");
  if (isPid && !c.exe.empty()) return usageError("snapshot", "--exe applies to core files");
  if (!c.output.empty() && !isDirectory(c.output) && c.output.back() != '/') {
    std::string dir = llvm::sys::path::parent_path(c.output).str();
    if (!dir.empty() && !isDirectory(dir))
      return fail({ErrorKind::MissingFile, "output directory does not exist: " + dir});
  } else if (!c.output.empty() && !isDirectory(c.output)) {
    return fail({ErrorKind::MissingFile, "output directory does not exist: " + c.output});
  }

  Symbolizer symbols = makeSymbolizer(c);
  SnapshotData snap;
  if (isPid) {
    auto lp = LiveProcess::open(atoi(input.c_str()));
    if (!lp) return fail(takeErrorReport(lp.takeError()));
    LiveProcess *p = lp->get();
    if (c.tid) {
      if (llvm::Error e = p->adoptSignalContext(c.tid, c.siginfo, c.ucontext)) {
        p->release();
        return fail(takeErrorReport(std::move(e)));
      }
    }
    snap = captureSnapshot(*p, symbols, c.capture, [p] { p->release(); },
                           [p] { return p->stoppedFor().count() / 1000.0; });
  } else {
    auto core = openDumpFile(input, c.exe);
    if (!core) return fail(takeErrorReport(core.takeError()));
    snap = captureSnapshot(**core, symbols, c.capture, [] {}, {});
  }
  llvm::Expected<std::string> summary = writeAndReport(snap, c.output);
  if (!summary) return fail(takeErrorReport(summary.takeError()));
  llvm::outs() << *summary << "\n";
  if (!c.quiet) printWarnings(symbols, llvm::errs());
  return 0;
}

int coredumpMain(int argc, char **argv) {
  CaptureCli c;
  bool keepCore = false;
  int pid = 0, signo = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    uint64_t n = 0;
    if (a == "-h" || a == "--help") {
      llvm::outs() << kCoredumpUsage;
      return 0;
    }
    if (a == "--keep-core") {
      keepCore = true;
      continue;
    }
    if (a == "--pid" || a == "--signal") {
      if (i + 1 >= argc || !parseNumber(argv[++i], n, 10) || n > INT32_MAX)
        return usageError("coredump", a + " needs a number");
      (a == "--pid" ? pid : signo) = int(n);
      continue;
    }
    int r = parseCaptureOption("coredump", argc, argv, i, c);
    if (r > 0) return r;
    if (r < 0) return usageError("coredump", "unexpected argument '" + a + "'");
  }
  if (c.output.empty() || !isDirectory(c.output))
    return usageError("coredump", "-o DIR (an existing directory) is required");
  if (c.siginfo || c.ucontext) return usageError("coredump", "--siginfo/--ucontext apply to bt snapshot");
  // The kernel's %E spells '/' as '!'.
  std::replace(c.exe.begin(), c.exe.end(), '!', '/');
  if (!c.exe.empty() && access(c.exe.c_str(), R_OK) != 0) c.exe.clear();

  std::ofstream log(c.output + "/bt-coredump.log", std::ios::app);
  auto note = [&](const std::string &msg) {
    char stamp[32];
    time_t now = time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    log << stamp << " pid " << pid << ": " << msg << "\n";
    log.flush();
    llvm::errs() << "bt coredump: " << msg << "\n";
  };

  auto started = std::chrono::steady_clock::now();
  auto in = llvm::MemoryBuffer::getSTDIN();
  if (!in) {
    note("cannot read the core from standard input: " + in.getError().message());
    return static_cast<int>(ErrorKind::BadInput);
  }
  std::unique_ptr<llvm::MemoryBuffer> buf = std::move(*in);
  if (keepCore) {
    std::string corePath = c.output + "/core." + std::to_string(pid);
    std::ofstream f(corePath, std::ios::binary);
    f.write(buf->getBufferStart(), std::streamsize(buf->getBufferSize()));
    if (!f) note("could not keep the core in " + corePath);
  }
  auto core = CoreFile::openBuffer(std::move(buf), "core of process " + std::to_string(pid) + " (stdin)", c.exe);
  if (!core) {
    ErrorReport r = takeErrorReport(core.takeError());
    note("error: " + r.message);
    return static_cast<int>(r.kind);
  }
  if (c.tid) c.capture.attributes.emplace_back("crashed_tid", std::to_string(c.tid));
  if (signo) c.capture.attributes.emplace_back("kernel_signal", std::to_string(signo));
  Symbolizer symbols = makeSymbolizer(c);
  SnapshotData snap = captureSnapshot(**core, symbols, c.capture, [] {}, {});
  snap.capture.source = "coredump";
  llvm::Expected<std::string> summary = writeAndReport(snap, c.output);
  if (!summary) {
    // The log is the only place a core_pattern handler's message is seen: keep the reason.
    ErrorReport r = takeErrorReport(summary.takeError());
    note("error: could not write the snapshot: " + r.message);
    return static_cast<int>(r.kind);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  snprintf(took, sizeof took, "%.2f", secs);
  note(*summary + " in " + took + " s");
  llvm::outs() << *summary << "\n";
  return 0;
}

int showMain(int argc, char **argv) {
  bool json = false, vars = false;
  std::string input;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kShowUsage;
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--vars" || (a == "full" && input.empty() && !vars)) {
      vars = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError("show", "unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usageError("show", "unexpected argument '" + a + "'");
    }
  }
  if (input.empty()) return usageError("show", "missing FILE");
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
  if (json) {
    printBacktraceJson(llvm::outs(), **target, threads, globals, [&](llvm::json::OStream &j) {
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
        j.attribute("classifications", llvm::json::Array(s.classifications));
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
    os << "Fingerprint: " << s.fingerprint << "\n\n";
    printBacktraceText(os, **target, threads, globals);
  }
  llvm::outs().flush();
  return 0;
}

}  // namespace bt
