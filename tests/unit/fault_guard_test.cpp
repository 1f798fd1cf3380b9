// runGuarded on several threads at once: each call is guarded for its whole duration, whatever
// the other threads' calls do, and the handlers that were there before come back when the last
// one leaves.
#include "support/fault_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<int> sentinelRan{0};
void sentinel(int) { ++sentinelRan; }

// Waits (bounded) until `flag` is set by the other thread.
bool waitFor(const std::atomic<bool> &flag) {
  for (int i = 0; i < 10000 && !flag; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return flag;
}

TEST(FaultGuard, CatchesAFaultAndRestoresTheHandler) {
  struct sigaction sa{}, before{};
  sa.sa_handler = sentinel;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGSEGV, &sa, &before), 0);
  std::string fault;
  EXPECT_FALSE(bt::runGuarded([] { raise(SIGSEGV); }, &fault));
  EXPECT_EQ(fault, strsignal(SIGSEGV));
  EXPECT_TRUE(bt::runGuarded([] {}));
  struct sigaction now{};
  sigaction(SIGSEGV, nullptr, &now);
  EXPECT_EQ(now.sa_handler, sentinel);
  sigaction(SIGSEGV, &before, nullptr);
}

TEST(FaultGuard, ACallEndingOnOneThreadLeavesAnotherThreadGuarded) {
  struct sigaction sa{}, before{};
  sa.sa_handler = sentinel;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGSEGV, &sa, &before), 0);
  sentinelRan = 0;
  std::atomic<bool> aInside{false}, bInside{false}, aDone{false};
  bool aOk = false, bOk = true;
  std::string bFault;
  // A enters first and leaves while B is still inside; then B faults.
  std::thread a([&] {
    aOk = bt::runGuarded([&] {
      aInside = true;
      waitFor(bInside);
    });
    aDone = true;
  });
  std::thread b([&] {
    waitFor(aInside);
    bOk = bt::runGuarded(
        [&] {
          bInside = true;
          waitFor(aDone);
          raise(SIGSEGV);
        },
        &bFault);
  });
  a.join();
  b.join();
  EXPECT_TRUE(aOk);
  EXPECT_FALSE(bOk) << "B's fault went to the handler A's call put back";
  EXPECT_EQ(bFault, strsignal(SIGSEGV));
  EXPECT_EQ(sentinelRan.load(), 0);
  struct sigaction now{};
  sigaction(SIGSEGV, nullptr, &now);
  EXPECT_EQ(now.sa_handler, sentinel);
  sigaction(SIGSEGV, &before, nullptr);
}

}  // namespace
