// `bt coredump`: the kernel's core_pattern pipe handler (a core on standard input -> a snapshot).
#include "cli/capture_options.h"
#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "snapshot/open_target.h"

#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

namespace bt {

namespace {

const char kCoredumpConfig[] = "/etc/btengine/coredump.conf";

const char kCoredumpUsage[] = R"(usage: bt coredump [--pid PID] [--tid TID] [--signal SIG] [--exe PATH] -o DIR
                   [--keep-core] [snapshot options]

Reads an ELF core from standard input as the kernel pipes it to a core_pattern handler and
writes a snapshot into DIR, without writing the core to disk (unless --keep-core: then also
DIR/core.<pid>). Install it with scripts/crash-handler install; the kernel runs:
  |/path/to/bt coredump --pid %P --tid %I --signal %s --exe %E -o DIR
--exe takes the kernel's %E form too ('!' for '/'). Messages go to DIR/bt-coredump.log, as
the kernel shows a pipe handler's output to no one. Snapshot options as for bt snapshot,
plugin options too (the kernel's environment has no BTENGINE_PLUGIN_PATH or HOME: give
--plugin); the security checks are on (--no-security turns them off). With --upload URL
(and --upload-token-file FILE, read by the handler, never on the world-readable core_pattern
line) the snapshot is then sent to a btengine crash server, and kept in DIR either way; the log
says whether the server took it. Options are also read from /etc/btengine/coredump.conf
(BT_COREDUMP_CONFIG names another file; words separated by blanks, # starts a comment), after
the command line's: the kernel keeps only 127 characters of core_pattern
(scripts/crash-handler install --upload URL --upload-token-file FILE writes it).
)";

// Options from the configuration file, after the command line's: the kernel keeps 127
// characters of core_pattern, no room for --upload URL --upload-token-file FILE.
std::vector<std::string> configuredOptions() {
  const char *env = getenv("BT_COREDUMP_CONFIG");
  std::ifstream f(env && *env ? env : kCoredumpConfig);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream words(line);
    std::string w;
    while (words >> w && w[0] != '#') out.push_back(w);
  }
  return out;
}

}  // namespace

int coredumpMain(int argc0, char **argv0) {
  std::vector<std::string> words(argv0, argv0 + argc0);
  for (std::string &w : configuredOptions()) words.push_back(std::move(w));
  std::vector<char *> args;
  for (std::string &w : words) args.push_back(w.data());
  args.push_back(nullptr);
  int argc = int(words.size());
  char **argv = args.data();
  CaptureCli c;
  bool keepCore = false;
  int pid = 0, signo = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    uint64_t n = 0;
    if (a == "-h" || a == "--help") {
      llvm::outs() << withPluginOptions(kCoredumpUsage);
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
  if (c.uploadBackground && c.upload.url.empty())
    return usageError("coredump", "--upload-background needs --upload URL");
  // The kernel's %E spells '/' as '!'.
  std::replace(c.exe.begin(), c.exe.end(), '!', '/');
  if (!c.exe.empty() && access(c.exe.c_str(), R_OK) != 0) c.exe.clear();

  std::ofstream log(c.output + "/bt-coredump.log", std::ios::app);
  auto note = [&](const std::string &msg) {
    log << utcNow("%Y-%m-%dT%H:%M:%SZ") << " pid " << pid << ": " << msg << "\n";
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
  auto core = openTargetBuffer(std::move(buf), "core of process " + std::to_string(pid) + " (stdin)", c.exe,
                               c.allowMismatch);
  if (!core) {
    ErrorReport r = takeErrorReport(core.takeError());
    note("error: " + r.message);
    return static_cast<int>(r.kind);
  }
  if (c.tid) c.capture.attributes.emplace_back("crashed_tid", std::to_string(c.tid));
  if (signo) c.capture.attributes.emplace_back("kernel_signal", std::to_string(signo));
  Symbolizer symbols = makeSymbolizer(c);
  c.capture.security = c.security.value_or(true);  // a crash handler: on unless --no-security
  preparePluginCapture(c);
  SnapshotData snap = captureSnapshot(**core, symbols, c.capture);
  snap.capture.source = "coredump";
  llvm::Expected<WrittenCapture> written = writeAndReport(snap, c);
  if (!written) {
    // The log is the only place a core_pattern handler's message is seen: keep the reason.
    ErrorReport r = takeErrorReport(written.takeError());
    note("error: could not write the snapshot: " + r.message);
    return static_cast<int>(r.kind);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  char took[32];
  snprintf(took, sizeof took, "%.2f", secs);
  note(written->summary + " in " + took + " s");
  llvm::outs() << written->summary << "\n";
  if (!c.upload.url.empty()) {
    llvm::Expected<std::string> sent = uploadCapture(*written, c);
    if (!sent) {
      ErrorReport r = takeErrorReport(sent.takeError());
      note("error: " + r.message);
      return static_cast<int>(r.kind);
    }
    note(*sent);
  }
  return 0;
}

}  // namespace bt
