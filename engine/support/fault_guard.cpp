#include "support/fault_guard.h"

#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace bt {

namespace {

// SIGABRT too: LLVM's error paths have tripped glibc's stack protector on fuzzed DWARF
// (__stack_chk_fail -> abort()).
constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr int kNumSignals = sizeof kSignals / sizeof kSignals[0];
thread_local sigjmp_buf *activeJump = nullptr;
std::mutex handlersMutex;
int guardedCalls = 0;  // guarded calls running, on all threads
struct sigaction previous[kNumSignals];

void onFault(int sig) {
  if (sigjmp_buf *jb = activeJump) {
    activeJump = nullptr;
    siglongjmp(*jb, sig);
  }
  // Not ours: fall back to the default action (the previous handler is restored by the
  // guarded call's epilogue, which a fault outside a guarded call never reaches).
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

bool runGuarded(llvm::function_ref<void()> fn, std::string *fault) {
  // An alternate stack so that a stack overflow inside fn can still be handled.
  // One per thread, freed when the thread ends (threads come and go: the symbolizer's workers).
  static thread_local std::unique_ptr<char[]> altStack;
  constexpr size_t kAltSize = 64 * 1024;
  if (!altStack) altStack.reset(new char[kAltSize]);
  stack_t newStack{}, oldStack{};
  newStack.ss_sp = altStack.get();
  newStack.ss_size = kAltSize;
  sigaltstack(&newStack, &oldStack);

  // The handlers are the process's: installed by the first guarded call in and restored by the
  // last one out, so calls on several threads (the symbolizer extracts DIEs on two) never put
  // back the handlers another thread still relies on.
  {
    std::lock_guard<std::mutex> lock(handlersMutex);
    if (guardedCalls++ == 0) {
      struct sigaction sa{};
      sa.sa_handler = onFault;
      sa.sa_flags = SA_ONSTACK | SA_NODEFER;
      sigemptyset(&sa.sa_mask);
      for (int i = 0; i < kNumSignals; ++i) sigaction(kSignals[i], &sa, &previous[i]);
    }
  }

  sigjmp_buf jb;
  sigjmp_buf *outer = activeJump;
  volatile bool ok = true;
  int sig = sigsetjmp(jb, 1);
  if (sig == 0) {
    activeJump = &jb;
    fn();
  } else {
    ok = false;
    if (fault) *fault = strsignal(sig);
  }
  activeJump = outer;
  {
    std::lock_guard<std::mutex> lock(handlersMutex);
    if (--guardedCalls == 0)
      for (int i = 0; i < kNumSignals; ++i) sigaction(kSignals[i], &previous[i], nullptr);
  }
  sigaltstack(&oldStack, nullptr);
  return ok;
}

}  // namespace bt
