#include "analysis/deadlock.h"

#include "support/hex.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>

#include <map>
#include <set>

namespace bt {

namespace {

constexpr uint64_t kSysFutex = 202;
constexpr uint64_t kOwnerOffset = 8;  // pthread_mutex_t: int __lock; unsigned __count; int __owner

// The thread's frames show it acquiring a mutex (glibc's names with and without libc6-dbg).
bool inMutexLock(const ThreadBacktrace &t) {
  for (const Frame &f : t.frames) {
    llvm::StringRef n = f.function;
    if (n.contains("pthread_mutex_lock") || n.contains("pthread_mutex_timedlock") ||
        n.contains("lll_lock_wait") || n.contains("lll_mutex_lock") || n.contains("mutex_clocklock"))
      return true;
  }
  return false;
}

std::string where(const ThreadBacktrace &t) {
  // The first frame outside the C library: the program's call that blocked.
  for (const Frame &f : t.frames) {
    llvm::StringRef base = llvm::StringRef(f.module).rsplit('/').second;
    if (!base.starts_with("libc.so") && !base.starts_with("libpthread") && !f.function.empty())
      return f.function;
  }
  return "?";
}

}  // namespace

std::vector<LockWait> readLockWaits(Target &target) {
  std::vector<LockWait> out;
  for (const ThreadInfo &t : target.threads()) {
    if (t.regs.orig_rax != kSysFutex) continue;
    LockWait w;
    w.tid = t.tid;
    w.mutex = t.regs.rdi;
    int32_t owner = 0;
    if (target.scanMemory(w.mutex + kOwnerOffset, &owner, sizeof owner) == sizeof owner && owner > 0)
      w.owner = owner;
    out.push_back(w);
  }
  return out;
}

std::optional<Classification> findDeadlock(const std::vector<LockWait> &waits,
                                           const std::vector<ThreadBacktrace> &backtraces) {
  std::map<int, const ThreadBacktrace *> threads;
  for (const ThreadBacktrace &t : backtraces) threads[t.tid] = &t;
  std::map<int, const LockWait *> waitOf;  // only confirmed mutex waits on a thread of ours
  for (const LockWait &w : waits) {
    auto t = threads.find(w.tid);
    if (w.owner && threads.count(w.owner) && t != threads.end() && inMutexLock(*t->second))
      waitOf[w.tid] = &w;
  }
  for (const auto &[start, _] : waitOf) {
    std::vector<int> path{start};
    std::set<int> seen{start};
    int cur = start;
    while (waitOf.count(cur)) {
      int next = waitOf[cur]->owner;
      if (next == start) {
        std::string cycle;
        for (int tid : path) cycle += std::to_string(tid) + " -> ";
        cycle += std::to_string(start);
        Classification c = makeClassification(
            "deadlock", "probably_not_exploitable", "mutex-wait-cycle",
            std::to_string(path.size()) + " threads wait for each other's mutexes: " + cycle);
        c.evidence.push_back({"cycle", cycle});
        for (int tid : path) {
          const LockWait &w = *waitOf[tid];
          c.evidence.push_back({"thread " + std::to_string(tid),
                                "in " + where(*threads[tid]) + ", waits for mutex " +
                                    hexU64(w.mutex) + " held by " +
                                    std::to_string(w.owner)});
        }
        return c;
      }
      if (!seen.insert(next).second) break;  // a cycle that does not include `start`
      path.push_back(next);
      cur = next;
    }
  }
  return std::nullopt;
}

}  // namespace bt
