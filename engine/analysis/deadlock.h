// Deadlock detection: threads blocked acquiring a pthread mutex whose owners — the tid glibc
// stores in the mutex — wait in a cycle. What each blocked thread waits for is read while the
// target is frozen (readLockWaits: a thread in the futex system call has the futex word's address
// in rdi, and for a mutex that word is the start of the pthread_mutex_t); the cycle is found
// later, on the symbolized backtraces, which confirm each wait is inside pthread_mutex_lock.
#pragma once

#include "analysis/classification.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <optional>
#include <vector>

namespace bt {

struct LockWait {
  int tid = 0;
  uint64_t mutex = 0;  // the futex word's address: the pthread_mutex_t, if it is a mutex
  int owner = 0;       // the tid in the mutex's __owner field (0: none or unreadable)
};

std::vector<LockWait> readLockWaits(Target &target);

// A "deadlock" classification naming the threads of the first cycle and the mutexes, or nullopt.
std::optional<Classification> findDeadlock(const std::vector<LockWait> &waits,
                                           const std::vector<ThreadBacktrace> &backtraces);

}  // namespace bt
