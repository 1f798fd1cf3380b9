// `btserve`: serves a snapshot or a core file to gdb or lldb over the GDB remote protocol.
#include "server.h"
#include "transport.h"

#include "snapshot/open_target.h"
#include "support/error.h"
#include "support/version.h"

#include <llvm/Support/raw_ostream.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace bt;

static const char kUsage[] = R"(usage: btserve [OPTIONS] FILE

Serves FILE (a btengine snapshot, an ELF core file or a minidump) read-only to a debugger over the GDB
remote serial protocol:
  gdb -ex "target remote | btserve x.btsnap"             (stdio)
  btserve --listen 127.0.0.1:5039 x.btsnap                (TCP, one debugger)
  lldb /path/to/exe -o "gdb-remote 127.0.0.1:5039"        (lldb needs TCP and the executable)
The debugger sees the threads, registers, memory (a snapshot holds stacks and the memory around
the fault; code comes from the module files when this machine has the same builds), auxv and
the shared-library list. Nothing can be changed; continuing or stepping reports the same stop.

options:
  --listen HOST:PORT  serve over TCP instead of stdin/stdout; HOST defaults to 127.0.0.1
                      (loopback); port 0 picks one, printed on stderr ("listening on PORT")
  --exe PATH          the executable of a core file, if the recorded path has moved
  --allow-mismatch    serve a core's code from a module file of another build (by default
                      a file whose build-id differs from the process's is not read)
  --serve-files       always serve the module files to the debugger (vFile). By default
                      they are served over TCP, and over stdio only when this machine lacks
                      the same builds: otherwise gdb reads them from here directly, without
                      a "Reading ... from remote target" line and a transfer per module
  --log FILE          write every packet exchanged to FILE
  -h, --help          show this help
  --version           show the version

exit status: 0 after the debugger detached or disconnected, 2 usage, 3-7 as bt for bad input
)";

static int usage(const std::string &msg) {
  llvm::errs() << "btserve: " << msg << "\nTry 'btserve --help' for more information.\n";
  return static_cast<int>(ErrorKind::Usage);
}

int main(int argc, char **argv) {
  std::string input, listen, exe, logPath;
  bool allowMismatch = false, serveFiles = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      llvm::outs() << kUsage;
      return 0;
    } else if (a == "--version") {
      llvm::outs() << "btserve (btengine) " << bt::kBtVersion << "\n";
      return 0;
    } else if (a == "--allow-mismatch") {
      allowMismatch = true;
    } else if (a == "--serve-files") {
      serveFiles = true;
    } else if (a == "--listen" || a == "--exe" || a == "--log") {
      const char *v = value();
      if (!v) return usage(a + " needs a value");
      (a == "--listen" ? listen : a == "--exe" ? exe : logPath) = v;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage("unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (input.empty()) return usage("missing FILE");
  signal(SIGPIPE, SIG_IGN);  // a debugger that goes away is an EOF, not a death

  // A snapshot, minidump or core, by content (openTarget says what else a file is not).
  TargetRequest request = TargetRequest::forFile(input, exe);
  request.allowMismatch = allowMismatch;
  auto opened = openTarget(request);
  if (!opened) {
    ErrorReport r = takeErrorReport(opened.takeError());
    llvm::errs() << "btserve: error: " << r.message << "\n";
    return static_cast<int>(r.kind);
  }
  std::unique_ptr<Target> target = std::move(*opened);
  // What the source lacks or contradicts (a module of another build, ...): the debugger's user
  // sees btserve's stderr.
  for (const std::string &w : target->warnings()) llvm::errs() << "btserve: warning: " << w << "\n";
  if (target->threads().empty()) {
    llvm::errs() << "btserve: error: " << input << " has no threads to serve\n";
    return static_cast<int>(ErrorKind::BadInput);
  }

  std::unique_ptr<llvm::raw_fd_ostream> log;
  if (!logPath.empty()) {
    std::error_code ec;
    log = std::make_unique<llvm::raw_fd_ostream>(logPath, ec);
    if (ec) return usage("--log " + logPath + ": " + ec.message());
  }
  rsp::ServerOptions opts;
  opts.log = log.get();
  // Over stdio the debugger runs here: when the files here are the builds the target ran, it
  // reads them itself (fast, quiet). Over TCP it may run elsewhere: files are served.
  opts.serveFiles = serveFiles || !listen.empty() || !rsp::localFilesMatch(*target);
  rsp::RemoteServer server(*target, opts);
  std::unique_ptr<rsp::Transport> transport;
  if (!listen.empty()) {
    auto t = rsp::listenTcp(listen, [](int port) {
      llvm::errs() << "btserve: listening on " << port << "\n";
      llvm::errs().flush();
    });
    if (!t) {
      ErrorReport r = takeErrorReport(t.takeError());
      llvm::errs() << "btserve: error: " << r.message << "\n";
      return static_cast<int>(r.kind);
    }
    transport = std::move(*t);
  } else {
    transport = std::make_unique<rsp::FdTransport>(0, 1, false);
  }
  return server.serve(*transport);
}
