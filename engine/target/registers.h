// x86-64 register state of one thread, in the kernel's user_regs_struct layout (the layout of
// NT_PRSTATUS and PTRACE_GETREGSET), with accessors by DWARF register number for the unwinder.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

namespace bt {

// Same field order as <sys/user.h> struct user_regs_struct (27 x 8 bytes).
struct Registers {
  uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax, rip,
      cs, eflags, rsp, ss, fs_base, gs_base, ds, es, fs, gs;
};
static_assert(sizeof(Registers) == 27 * 8);
constexpr int kNumUserRegs = 27;
// Registers' fields as 64-bit words, and their names in that order ("r15", ..., "gs").
extern const char *const kUserRegNames[kNumUserRegs];
inline const uint64_t *userRegWords(const Registers &r) { return reinterpret_cast<const uint64_t *>(&r); }
inline uint64_t *userRegWords(Registers &r) { return reinterpret_cast<uint64_t *>(&r); }

// 512-byte FXSAVE area (struct user_fpregs_struct).
struct FpRegisters {
  uint8_t bytes[512];
};

// DWARF register numbers for x86-64 (System V psABI).
enum DwarfReg : int {
  kRax = 0, kRdx = 1, kRcx = 2, kRbx = 3, kRsi = 4, kRdi = 5, kRbp = 6, kRsp = 7,
  kR8 = 8, kR9, kR10, kR11, kR12, kR13, kR14, kR15, kRip = 16,
  kNumDwarfRegs = 17
};

const char *dwarfRegName(int reg);

// The general registers of one frame during unwinding: value + whether it is known.
struct FrameRegs {
  std::array<uint64_t, kNumDwarfRegs> val{};
  uint32_t known = 0;

  bool has(int r) const { return r >= 0 && r < kNumDwarfRegs && (known >> r & 1); }
  std::optional<uint64_t> get(int r) const {
    if (!has(r)) return std::nullopt;
    return val[r];
  }
  void set(int r, uint64_t v) {
    if (r < 0 || r >= kNumDwarfRegs) return;
    val[r] = v;
    known |= 1u << r;
  }
  void clear(int r) {
    if (r >= 0 && r < kNumDwarfRegs) known &= ~(1u << r);
  }
  uint64_t pc() const { return val[kRip]; }
  uint64_t sp() const { return val[kRsp]; }

  static FrameRegs fromUser(const Registers &r);
};

}  // namespace bt
