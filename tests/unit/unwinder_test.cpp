// Unit tests of the unwinder's strategies without CFI, on synthetic cores (tests/synth): a
// frame-pointer chain, a stack scan for return addresses (only words right after a call
// instruction count), a call through a bad function pointer, and the stop conditions (depth
// limit, no plausible caller). Every frame found this way must be marked suspect.
#include "support/error.h"
#include "symbols/symbolizer.h"
#include "synth/core_builder.h"
#include "target/core_file.h"
#include "unwind/unwinder.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace bt;

namespace {

constexpr uint64_t kCode = 0x401000, kStack = 0x7ff000;
// Return addresses: each right after a `call rel32` in the code segment.
constexpr uint64_t kRet1 = 0x401105, kRet2 = 0x401205, kRet3 = 0x401305;

std::string code() {
  std::string c(4096, '\x90');  // nop
  for (uint64_t ret : {kRet1, kRet2, kRet3}) {
    size_t at = ret - 5 - kCode;
    c[at] = '\xe8';  // call rel32 (its operand bytes do not matter)
  }
  return c;
}

void put(std::string &stack, uint64_t addr, uint64_t value) {
  memcpy(&stack[addr - kStack], &value, 8);
}

std::unique_ptr<CoreFile> coreWith(uint64_t rip, uint64_t rsp, uint64_t rbp, const std::string &stack) {
  synth::CoreBuilder b;
  b.thread(1, SIGSEGV, rip, rsp, rbp);
  b.load(kCode, code(), 0, PF_R | PF_X);
  b.load(kStack, stack);
  auto c = CoreFile::openBuffer(llvm::MemoryBuffer::getMemBufferCopy(b.build()), "synthetic");
  EXPECT_TRUE(bool(c));
  if (!c) {
    llvm::consumeError(c.takeError());
    return nullptr;
  }
  return std::move(*c);
}

UnwindResult unwindThread(Target &t, UnwindOptions opts = {}) {
  Symbolizer symbols(SymbolizerOptions{});
  Unwinder u(t, symbols, opts);
  return u.unwind(t.threads().at(0).regs);
}

}  // namespace

TEST(Unwinder, FollowsAFramePointerChainAndMarksItSuspect) {
  std::string stack(4096, '\0');
  put(stack, 0x7ff100, 0x7ff200);  // saved rbp
  put(stack, 0x7ff108, kRet1);     // return address
  put(stack, 0x7ff200, 0x7ff300);
  put(stack, 0x7ff208, kRet2);
  put(stack, 0x7ff300, 0);         // the chain ends
  put(stack, 0x7ff308, kRet3);
  auto core = coreWith(kCode + 0x50, 0x7ff0f0, 0x7ff100, stack);
  ASSERT_TRUE(core);
  UnwindResult r = unwindThread(*core);
  ASSERT_EQ(r.frames.size(), 4u) << r.stopReason;
  EXPECT_EQ(r.frames[0].pc, kCode + 0x50);
  EXPECT_EQ(r.frames[0].how, FrameHow::Context);
  EXPECT_FALSE(r.frames[0].suspect);
  uint64_t rets[] = {kRet1, kRet2, kRet3};
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(r.frames[i].pc, rets[i - 1]);
    EXPECT_EQ(r.frames[i].how, FrameHow::FramePointer);
    EXPECT_TRUE(r.frames[i].suspect);
    EXPECT_FALSE(r.frames[i].pcExact);  // a return address: described at pc - 1
  }
  EXPECT_EQ(r.frames[1].regs.sp(), 0x7ff110u);  // rbp + 16
  EXPECT_EQ(r.stopReason, "no unwind information and no plausible return address");
}

TEST(Unwinder, ScansTheStackOnlyForWordsThatFollowACall) {
  std::string stack(4096, '\0');
  put(stack, 0x7ff008, kCode + 0x10);  // in code, but not after a call: skipped
  put(stack, 0x7ff010, 0x12345678);    // not code
  put(stack, 0x7ff018, kRet2);         // the caller
  auto core = coreWith(kCode + 0x50, 0x7ff000, 0, stack);
  ASSERT_TRUE(core);
  UnwindResult r = unwindThread(*core);
  ASSERT_GE(r.frames.size(), 2u) << r.stopReason;
  EXPECT_EQ(r.frames[1].pc, kRet2);
  EXPECT_EQ(r.frames[1].how, FrameHow::Scan);
  EXPECT_TRUE(r.frames[1].suspect);
  EXPECT_EQ(r.frames[1].regs.sp(), 0x7ff020u);  // just above the return address
}

TEST(Unwinder, ACallThroughABadFunctionPointerResumesAtTheReturnAddressOnTheStack) {
  std::string stack(4096, '\0');
  put(stack, 0x7ff800, kRet1);  // pushed by the call
  auto core = coreWith(0xdead0000, 0x7ff800, 0, stack);
  ASSERT_TRUE(core);
  UnwindResult r = unwindThread(*core);
  ASSERT_GE(r.frames.size(), 2u) << r.stopReason;
  EXPECT_EQ(r.frames[0].pc, 0xdead0000u);
  EXPECT_EQ(r.frames[1].pc, kRet1);
  EXPECT_EQ(r.frames[1].how, FrameHow::Scan);
  EXPECT_EQ(r.frames[1].regs.sp(), 0x7ff808u);
}

TEST(Unwinder, StopsAtTheDepthLimit) {
  std::string stack(4096, '\0');
  // A long frame-pointer chain: each frame 0x20 above the last.
  for (uint64_t fp = 0x7ff100; fp + 0x20 < kStack + 4096; fp += 0x20) {
    put(stack, fp, fp + 0x20);
    put(stack, fp + 8, kRet1);
  }
  auto core = coreWith(kCode + 0x50, 0x7ff0f0, 0x7ff100, stack);
  ASSERT_TRUE(core);
  UnwindOptions opts;
  opts.maxFrames = 5;
  UnwindResult r = unwindThread(*core, opts);
  EXPECT_EQ(r.frames.size(), 5u);
  EXPECT_EQ(r.stopReason, "depth limit reached");
}
