// Unit tests of the crashing-instruction decoder on x86-64 byte sequences: the access (read,
// write, read-modify-write, block move, call, return, trap, privileged), its size, the address
// registers and the effective address recomputed from given registers.
#include "analysis/instruction_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace bt;

namespace {

Registers sampleRegs() {
  Registers r{};
  r.rax = 0x1000;
  r.rcx = 3;
  r.rsi = 0x2000;
  r.rdi = 0x3000;
  r.rsp = 0x7ffe0000;
  r.fs_base = 0x7f0000001000;
  return r;
}

DecodedInstruction decode(std::vector<uint8_t> bytes, uint64_t pc = 0x401000) {
  static std::unique_ptr<InstructionDecoder> d = InstructionDecoder::create();
  EXPECT_TRUE(d);
  std::optional<DecodedInstruction> i = d->decode(bytes, pc, sampleRegs());
  EXPECT_TRUE(i.has_value());
  return i.value_or(DecodedInstruction{});
}

}  // namespace

TEST(InstructionDecoder, LoadsAndStoresWithTheirAddress) {
  DecodedInstruction i = decode({0x8b, 0x47, 0x08});  // mov eax, dword ptr [rdi + 8]
  EXPECT_EQ(i.text, "mov eax, dword ptr [rdi + 8]");
  EXPECT_EQ(i.length, 3u);
  EXPECT_EQ(i.access, AccessKind::Read);
  EXPECT_EQ(i.accessSize, 4u);
  EXPECT_EQ(i.base, "rdi");
  EXPECT_EQ(i.displacement, 8);
  EXPECT_EQ(i.effectiveAddress, 0x3008u);

  i = decode({0x48, 0x89, 0x04, 0xc8});  // mov qword ptr [rax + 8*rcx], rax
  EXPECT_EQ(i.access, AccessKind::Write);
  EXPECT_EQ(i.accessSize, 8u);
  EXPECT_EQ(i.index, "rcx");
  EXPECT_EQ(i.scale, 8u);
  EXPECT_EQ(i.effectiveAddress, 0x1000u + 8 * 3);

  i = decode({0xc6, 0x06, 0x41});  // mov byte ptr [rsi], 0x41
  EXPECT_EQ(i.access, AccessKind::Write);
  EXPECT_EQ(i.accessSize, 1u);
  EXPECT_EQ(i.effectiveAddress, 0x2000u);

  i = decode({0x83, 0x00, 0x01});  // add dword ptr [rax], 1
  EXPECT_EQ(i.access, AccessKind::ReadWrite);
  EXPECT_EQ(i.effectiveAddress, 0x1000u);
}

TEST(InstructionDecoder, SegmentAndRipRelativeAddresses) {
  // mov rax, qword ptr fs:[0x28] (the stack protector's canary)
  DecodedInstruction i = decode({0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0});
  EXPECT_EQ(i.segment, "fs");
  EXPECT_EQ(i.effectiveAddress, 0x7f0000001028u);
  i = decode({0x48, 0x8b, 0x05, 0x10, 0, 0, 0}, 0x401000);  // mov rax, qword ptr [rip + 0x10]
  EXPECT_EQ(i.base, "rip");
  EXPECT_EQ(i.effectiveAddress, 0x401000u + 7 + 0x10);
  EXPECT_EQ(i.accessSize, 8u);
}

TEST(InstructionDecoder, BlockMovesCallsReturnsAndTraps) {
  DecodedInstruction i = decode({0xf3, 0xa4});  // rep movsb
  EXPECT_EQ(i.access, AccessKind::BlockMove);
  EXPECT_EQ(i.accessSize, 1u);
  EXPECT_EQ(i.base, "rdi");
  EXPECT_EQ(i.effectiveAddress, 0x3000u);
  i = decode({0xf3, 0x48, 0xab});  // rep stosq
  EXPECT_EQ(i.access, AccessKind::BlockMove);
  EXPECT_EQ(i.accessSize, 8u);

  i = decode({0xff, 0xd0});  // call rax
  EXPECT_EQ(i.access, AccessKind::Call);
  EXPECT_EQ(i.branchTarget, 0x1000u);
  i = decode({0xe8, 0x10, 0, 0, 0}, 0x401000);  // call 0x401015
  EXPECT_EQ(i.access, AccessKind::Call);
  EXPECT_EQ(i.branchTarget, 0x401015u);
  i = decode({0xff, 0x10});  // call qword ptr [rax]: the target is read at rax
  EXPECT_EQ(i.access, AccessKind::Call);
  EXPECT_EQ(i.effectiveAddress, 0x1000u);
  i = decode({0xc3});  // ret
  EXPECT_EQ(i.access, AccessKind::Return);
  EXPECT_EQ(i.effectiveAddress, 0x7ffe0000u);
  i = decode({0x50});  // push rax: writes below rsp
  EXPECT_EQ(i.access, AccessKind::Write);
  EXPECT_EQ(i.effectiveAddress, 0x7ffe0000u - 8);

  EXPECT_EQ(decode({0x0f, 0x0b}).access, AccessKind::Trap);  // ud2
  EXPECT_EQ(decode({0xcc}).access, AccessKind::Trap);        // int3
  EXPECT_EQ(decode({0xf4}).access, AccessKind::Privileged);  // hlt
  EXPECT_EQ(decode({0x48, 0x01, 0xc8}).access, AccessKind::None);  // add rax, rcx
}

TEST(InstructionDecoder, GarbageIsNoInstruction) {
  std::unique_ptr<InstructionDecoder> d = InstructionDecoder::create();
  ASSERT_TRUE(d);
  Registers r{};
  EXPECT_FALSE(d->decode(std::vector<uint8_t>{0x06}, 0, r));  // push es: invalid in 64-bit mode
  EXPECT_FALSE(d->decode(std::vector<uint8_t>{}, 0, r));
  EXPECT_FALSE(d->decode(std::vector<uint8_t>{0x48}, 0, r));  // a prefix alone
}
