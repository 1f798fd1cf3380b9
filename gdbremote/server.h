// RemoteServer: serves one post-mortem engine Target (snapshot, core file, ...) to a debugger
// over the GDB remote serial protocol, read-only: threads, registers (amd64 Linux target
// description), memory, auxv, the shared-library list (svr4), the executable, and the module
// files through vFile (only files the target lists). Resume and step requests answer with the
// original stop again; writes and breakpoints are refused. gdb 13 and lldb 19 are the clients it
// is tested with (notes in ../shared/notes/gdb-remote.md).
#pragma once

#include "amd64_registers.h"
#include "packet_codec.h"
#include "transport.h"

#include "target/target.h"

#include <llvm/Support/raw_ostream.h>

#include <map>
#include <memory>
#include <string>

namespace bt::rsp {

struct ServerOptions {
  llvm::raw_ostream *log = nullptr;  // every packet exchanged, for debugging clients
  // Answer vFile (the debugger reads module files through the server). Off, the debugger is
  // told the server has no file transfer and reads this machine's files itself (gdb with its
  // default sysroot "target:" then does so without "Reading ... from remote target" for each
  // module): right only when it runs here and the files are the builds the target ran.
  bool serveFiles = true;
};

// Every module file of the target is on this machine and the same build (by build-id; a
// module without one: the file exists), so a debugger on this machine can read them directly.
bool localFilesMatch(const Target &target);

class RemoteServer {
public:
  RemoteServer(Target &target, ServerOptions opts);
  // Serves until the client detaches, kills, or closes the stream. Returns 0, or 1 on a
  // transport error.
  int serve(Transport &t);
  // One request -> the reply payload (nullopt: send nothing). Public for tests.
  std::optional<std::string> handle(const std::string &packet);
  bool finished() const { return finished_; }

private:
  std::string stopReply(const ThreadInfo &t);
  std::string stopReply() { return stopReply(*stopThread()); }
  const ThreadInfo *stopThread() const;
  const ThreadInfo *thread(int tid) const;
  std::optional<int> parseThreadId(const std::string &s) const;  // -1 = all, 0 = any
  std::string threadId(int tid) const;
  int gdbSignal(int linuxSignal) const;
  std::string readMemory(const std::string &args);
  size_t readTargetMemory(uint64_t addr, char *buf, size_t len);
  uint64_t syntheticRDebug();
  std::string xfer(const std::string &args);
  std::string xferData(const std::string &object, const std::string &annex, bool &ok);
  std::string vFile(const std::string &args);
  std::string librariesXml();
  std::string threadsXml();

  Target &target_;
  ServerOptions opts_;
  RegisterLayout layout_;
  int gThread_ = 0, cThread_ = 0;
  bool noAck_ = false, finished_ = false, lldb_ = false, listThreadsInStop_ = false;
  std::map<int, std::string> openFiles_;  // vFile descriptors -> host path
  int nextFd_ = 3;
  uint64_t rdebug_ = 0, realRDebug_ = 0;
  std::string rdebugBytes_;
};

}  // namespace bt::rsp
