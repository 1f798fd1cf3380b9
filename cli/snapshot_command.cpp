// `bt snapshot`: capture a live process or a core into a .btsnap file.
#include "cli/capture_options.h"
#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"

#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>

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
  --no-vars              do not capture variables
  --keep-stopped         keep a live process stopped until everything is read (by default it
                         runs on once its registers and stacks are copied, and the memory read
                         after that is listed in the snapshot: memory_read_after_release);
                         always so with --siginfo (a crashing process)
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
  --symbols PATH         a Breakpad symbol store (NAME/DEBUGID/NAME.sym) or .sym file, for
                         modules without DWARF (repeatable)
  --offline              never fetch missing debug files from DEBUGINFOD_URLS (bt --help)
  --security             also run the security checks (W+X mappings, code that differs from its
                         file, GOT entries outside every module, pcs outside every module;
                         docs/analysis.md); on by default with --siginfo (the in-process handler)
  --no-security          do not
  --max-frames N, --past-main, --no-cache, --allow-mismatch, --dedup-rules FILE, -q
                         as for bt
  --upload URL           then send the snapshot to a btengine crash server (btengine server,
                         docs/server.md: POST URL/api/v1/crashes); the file stays here either
                         way, and when the server cannot be reached bt says so and exits 1
  --upload-token-file F  the server's upload token: the first line of F (else BT_UPLOAD_TOKEN)
  --upload-timeout S     give up on the server after S seconds (default 30)
  --upload-background    send it from a detached `bt upload` and return at once (what
                         libbtcrash.so does with BTCRASH_UPLOAD)
%PLUGINS%  -h, --help             show this help

With plugins, the snapshot also keeps the process's writable memory (within
--max-memory-bytes, default 256 MiB then), the plugins run on the written snapshot after the
target is let go, and their results are stored in it.

exit status: as for bt; 9: the snapshot was written, but from an incomplete source (a
truncated core, a missing or mismatched executable; the warnings say what is missing)
)";

}  // namespace

int snapshotMain(int argc, char **argv) {
  CaptureCli c;
  std::string input;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << withPluginOptions(kSnapshotUsage);
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
  if (c.uploadBackground && c.upload.url.empty())
    return usageError("snapshot", "--upload-background needs --upload URL");
  bool isPid = isProcessId(input);
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

  TargetRequest request = isPid ? TargetRequest::forPid(atoi(input.c_str()))
                                : TargetRequest::forFile(input, c.exe);
  request.allowMismatch = c.allowMismatch;
  request.signalTid = c.tid;
  c.capture.security = c.security.value_or(c.siginfo || c.ucontext);  // crash handlers: on
  // A crashing process is held until everything is read: its other threads, let go, could end
  // it (exit, abort) while the variables are read.
  if (c.siginfo || c.ucontext) c.capture.keepStopped = true;
  request.siginfo = c.siginfo;
  request.ucontext = c.ucontext;
  if (sourceKindOf(request) == "snapshot")
    return fail({ErrorKind::BadInput, input + " is already a snapshot (bt show " + input +
                                          " prints it)"});
  // Before the target stops: looking for plugins scans the Python site directories, which
  // with a cold page cache took most of a 30 ms pause.
  preparePluginCapture(c);
  Symbolizer symbols = makeSymbolizer(c);
  auto target = openTarget(request);
  if (!target) return fail(takeErrorReport(target.takeError()));
  SnapshotData snap = captureSnapshot(**target, symbols, c.capture);
  llvm::Expected<WrittenCapture> written = writeAndReport(snap, c);
  if (!written) return fail(takeErrorReport(written.takeError()));
  llvm::outs() << written->summary << "\n";
  if (!c.quiet) printWarnings(collectWarnings(**target, symbols), llvm::errs());
  if (!c.upload.url.empty()) {
    llvm::Expected<std::string> sent = uploadCapture(*written, c);
    if (!sent) return fail(takeErrorReport(sent.takeError()));
    llvm::outs() << *sent << "\n";
  }
  return resultStatus((*target)->partial());
}

}  // namespace bt
