// LiveProcess: a running process frozen with PTRACE_SEIZE + PTRACE_INTERRUPT on every thread.
// SEIZE (not ATTACH) sends no SIGSTOP, so if bt dies at any point the kernel detaches and the
// target simply runs on. Registers come from PTRACE_GETREGSET, memory from process_vm_readv with
// /proc/PID/mem as fallback, modules from /proc/PID/maps and the link map. The process is stopped
// from open() until release() (or destruction), or only until its stacks are copied
// (releaseKeepingStacks): then reads of the copy see the frozen state and other reads of writable
// memory are counted as read after release.
#pragma once

#include "target/target.h"

#include <llvm/Support/Error.h>

#include <chrono>
#include <memory>

namespace bt {

class LiveProcess : public Target {
public:
  static llvm::Expected<std::unique_ptr<LiveProcess>> open(int pid);
  ~LiveProcess() override;

  const char *kind() const override { return "live"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override;

  // Detaches from every thread; the target runs on. Idempotent.
  void release() override;
  void releaseKeepingStacks(uint64_t stackBytes, uint64_t totalBytes) override;
  uint64_t readsAfterRelease() const override { return readsAfterRelease_; }
  std::vector<std::pair<uint64_t, uint64_t>> rangesReadAfterRelease() const override;
  // How long the target has been (or was) stopped.
  std::chrono::microseconds stoppedFor() const;
  double stoppedMs() const override { return stoppedFor().count() / 1000.0; }
  // The process is inside a signal handler (an in-process crash handler ran bt): take thread
  // `tid`'s registers from the handler's ucontext_t and the signal from its siginfo_t (both at
  // addresses in the target; 0 = not given), so frames start at the faulting instruction.
  llvm::Error adoptSignalContext(int tid, uint64_t siginfoAddr, uint64_t ucontextAddr);

private:
  explicit LiveProcess(int pid);
  llvm::Error freeze();
  llvm::Error loadMaps();
  void readProcessFacts(const std::string &proc);
  std::string originalFile(const ModuleInfo &mod) const override;

  size_t readLive(uint64_t addr, void *buf, size_t len);

  int pid_;
  int memFd_ = -1;
  // The stacks copied by releaseKeepingStacks, sorted by address and disjoint, their bytes in
  // one buffer.
  struct FrozenStack {
    uint64_t start, size;
    const char *bytes;
  };
  std::vector<FrozenStack> frozen_;
  std::unique_ptr<char[]> frozenBytes_;
  bool runningOn_ = false;  // released by releaseKeepingStacks: reads see the running process
  uint64_t readsAfterRelease_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> afterRelease_;  // ranges, appended (bounded)
  std::vector<int> attached_;
  bool released_ = false;
  std::chrono::steady_clock::time_point stopStart_{}, stopEnd_{};
};

}  // namespace bt
