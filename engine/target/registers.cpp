#include "target/registers.h"

namespace bt {

const char *const kUserRegNames[kNumUserRegs] = {
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
    "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"};

const char *dwarfRegName(int reg) {
  static const char *names[kNumDwarfRegs] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi",
                                             "rbp", "rsp", "r8",  "r9",  "r10", "r11",
                                             "r12", "r13", "r14", "r15", "rip"};
  return reg >= 0 && reg < kNumDwarfRegs ? names[reg] : "?";
}

FrameRegs FrameRegs::fromUser(const Registers &r) {
  FrameRegs f;
  f.set(kRax, r.rax); f.set(kRdx, r.rdx); f.set(kRcx, r.rcx); f.set(kRbx, r.rbx);
  f.set(kRsi, r.rsi); f.set(kRdi, r.rdi); f.set(kRbp, r.rbp); f.set(kRsp, r.rsp);
  f.set(kR8, r.r8);   f.set(kR9, r.r9);   f.set(kR10, r.r10); f.set(kR11, r.r11);
  f.set(kR12, r.r12); f.set(kR13, r.r13); f.set(kR14, r.r14); f.set(kR15, r.r15);
  f.set(kRip, r.rip);
  return f;
}

}  // namespace bt
