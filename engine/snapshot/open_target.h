// openTarget: the engine's one front door. Given a process id or a file, it opens the right
// Target by content — a btengine snapshot ("BTSNAP"), a Breakpad/Crashpad minidump ("MDMP") or
// an ELF core file — or freezes a live process, so no front ever chooses a source itself.
// Non-regular files (a FIFO, a directory) are refused before anything could block on them.
#pragma once

#include "target/target.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <memory>
#include <string>

namespace bt {

struct TargetRequest {
  std::string path;      // a snapshot, minidump or core file; or, with pid, unused
  int pid = 0;           // a live process (path empty)
  std::string exe;       // a core's executable when the recorded path moved ("" = recorded)
  // Read modules whose file here is another build than the process ran (--allow-mismatch);
  // by default they get no symbols (ModuleInfo::mismatch).
  bool allowMismatch = false;
  // A live process inside its own signal handler (in-process crash handlers): thread
  // signalTid's registers and signal come from the ucontext_t/siginfo_t at these addresses.
  int signalTid = 0;
  uint64_t siginfo = 0, ucontext = 0;

  static TargetRequest forPid(int pid) {
    TargetRequest r;
    r.pid = pid;
    return r;
  }
  static TargetRequest forFile(std::string path, std::string exe = {}) {
    TargetRequest r;
    r.path = std::move(path);
    r.exe = std::move(exe);
    return r;
  }
};

// "snapshot", "minidump", "core" (an ELF core file) or "live": what openTarget opens, by
// content; "unknown" for anything else (a missing file, an executable, garbage), which
// openTarget hands to the core reader to explain what it is not.
std::string sourceKindOf(const TargetRequest &request);

llvm::Expected<std::unique_ptr<Target>> openTarget(const TargetRequest &request);
// The same for bytes already in memory (a core the kernel pipes to `bt coredump`); `name`
// names them in messages.
llvm::Expected<std::unique_ptr<Target>> openTargetBuffer(std::unique_ptr<llvm::MemoryBuffer> bytes,
                                                         const std::string &name,
                                                         const std::string &exe = {},
                                                         bool allowMismatch = false);

// True if `text` is a process id (digits only).
bool isProcessId(const std::string &text);

}  // namespace bt
