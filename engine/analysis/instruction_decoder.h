// InstructionDecoder: what the instruction at a crashing pc does to memory, from its bytes, with
// LLVM's x86-64 MC disassembler — the access (read, write, read-modify-write, a block move, a
// call/jump/return, a privileged instruction, a trap), its size, the registers forming the
// address and the effective address recomputed from the frame's registers. A core's siginfo does
// not say read or write and a minidump often says neither: this does, and it needs only the
// bytes around the pc (a snapshot keeps them), never the binary.
#pragma once

#include "target/registers.h"

#include <llvm/ADT/ArrayRef.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace bt {

enum class AccessKind {
  None,        // no memory operand (arithmetic on registers, a nop, ...)
  Read,
  Write,
  ReadWrite,   // read-modify-write (add [mem], reg; inc [mem]; xchg)
  BlockMove,   // a string instruction (movs, stos, cmps, scas, lods; with or without rep)
  Call,
  Jump,
  Return,
  Privileged,  // only the kernel may run it (hlt, in/out, cli, wrmsr, ...): SIGSEGV in user space
  Trap,        // ud2, int3, int N: raised on purpose
};

const char *accessKindName(AccessKind k);  // "read", "write", "read_write", "block_move", ...

struct DecodedInstruction {
  uint64_t pc = 0;
  unsigned length = 0;
  std::string text;  // Intel syntax, as gdb's `x/i` with `set disassembly-flavor intel`
  AccessKind access = AccessKind::None;
  unsigned accessSize = 0;  // bytes of the memory operand, 0 if unknown or none
  // The memory operand: segment:[base + index*scale + disp]; "" for a register not used.
  std::string base, index, segment;
  unsigned scale = 0;
  int64_t displacement = 0;
  // Recomputed from the registers given; unset when a register it needs is not known.
  std::optional<uint64_t> effectiveAddress;
  // For call/jump: the target when it is encoded (a direct branch) or in a register/memory
  // operand whose address is known (then `effectiveAddress` is where the target is read from).
  std::optional<uint64_t> branchTarget;
};

// What the instruction does, in words: "write of 4 bytes at 0x0", "call to 0x0", "trap", ...;
// "" when it touches no memory.
std::string describeAccess(const DecodedInstruction &i);

class InstructionDecoder {
public:
  // Null when LLVM has no x86-64 disassembler (never with the LLVM the project builds with).
  static std::unique_ptr<InstructionDecoder> create();
  ~InstructionDecoder();

  // The instruction starting at bytes[0], which sits at `pc`. `regs`: the frame's registers
  // (the faulting thread's at frame 0), for the effective address. Nullopt if the bytes are not
  // a valid instruction.
  std::optional<DecodedInstruction> decode(llvm::ArrayRef<uint8_t> bytes, uint64_t pc,
                                           const Registers &regs) const;

private:
  struct Impl;
  explicit InstructionDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bt
