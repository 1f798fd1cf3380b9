#include "unwind/unwinder.h"

#include "symbols/breakpad_symbols.h"
#include "symbols/dwarf_sections.h"
#include "symbols/elf_file.h"
#include "symbols/symbolizer.h"
#include "support/hex.h"
#include "unwind/breakpad_cfi.h"
#include "unwind/cfi.h"

#include <llvm/Support/MemoryBuffer.h>

#include <cstring>

namespace bt {

const char *frameHowName(FrameHow h) {
  switch (h) {
    case FrameHow::Context: return "context";
    case FrameHow::Cfi: return "cfi";
    case FrameHow::FramePointer: return "fp";
    case FrameHow::Scan: return "scan";
    case FrameHow::TailCall: return "tailcall";
  }
  return "?";
}

Unwinder::Unwinder(Target &target, Symbolizer &symbols, UnwindOptions opts)
    : target_(target), symbols_(symbols), opts_(opts) {}
Unwinder::~Unwinder() = default;

CfiTable *Unwinder::cfiFor(const ModuleInfo &mod) {
  const std::string &key = mod.hostPath.empty() ? mod.path : mod.hostPath;
  auto it = cfi_.find(key);
  if (it != cfi_.end()) return it->second.get();
  ModuleSymbols *ms = symbols_.forModule(mod);
  CfiSection eh, hdr, dbg;
  if (const ElfFile *bin = ms->binary()) {
    if (auto *s = bin->section(".eh_frame"); s && s->present && !s->compressed)
      eh = {s->data, s->address, true};
    if (auto *s = bin->section(".eh_frame_hdr"); s && s->present && !s->compressed)
      hdr = {s->data, s->address, true};
  }
  for (const ElfFile *f : {ms->debugFile(), ms->binary()}) {
    if (!f) continue;
    const ElfSection *s = f->section(".debug_frame");
    if (!s || !s->present || s->data.empty()) continue;
    if (s->compressed) {
      auto buf = inflateSection(".debug_frame", s->data);
      if (!buf) {
        llvm::consumeError(buf.takeError());
        continue;
      }
      dbg = {(*buf)->getBuffer(), 0, false};
      owned_.push_back(std::move(*buf));
    } else {
      dbg = {s->data, 0, false};
    }
    break;
  }
  auto table = std::make_unique<CfiTable>(eh, hdr, dbg);
  CfiTable *raw = table.get();
  cfi_.emplace(key, std::move(table));
  return raw;
}

bool Unwinder::isCodeAddress(uint64_t addr) const {
  const MemoryRegion *r = target_.regionFor(addr);
  if (r) return (r->perms & PermExec) != 0;
  return target_.moduleFor(addr) != nullptr;
}

Unwinder::ReturnAddress Unwinder::classifyReturnAddress(uint64_t addr) {
  if (addr < 8 || !isCodeAddress(addr)) return ReturnAddress::No;
  uint8_t b[7];
  // A minidump often holds no code: an address in a module's executable mapping is possible,
  // unproven.
  if (target_.readMemory(addr - 7, b, 7) != 7) {
    // Not a module's first bytes (its ELF and program headers: the auxiliary vector at the top
    // of a stack points there) nor a page boundary (mapping starts, AT_BASE, the vDSO).
    const ModuleInfo *mod = target_.moduleFor(addr);
    bool plausible = mod && addr - mod->start >= 0x400 && (addr & 0xfff) != 0;
    return plausible ? ReturnAddress::Unverified : ReturnAddress::No;
  }
  if (b[2] == 0xe8) return ReturnAddress::AfterCall;                              // call rel32
  if (b[5] == 0xff && (b[6] & 0x38) == 0x10) return ReturnAddress::AfterCall;     // call *%reg
  if (b[4] == 0xff && (b[5] & 0x38) == 0x10) return ReturnAddress::AfterCall;     // call *disp8(%reg) / (%reg,%reg)
  if (b[1] == 0xff && (b[2] & 0x38) == 0x10) return ReturnAddress::AfterCall;     // call *disp32(%rip) etc.
  if (b[3] == 0xff && (b[4] & 0x38) == 0x10) return ReturnAddress::AfterCall;     // call *disp8(%reg,%reg,s)
  return ReturnAddress::No;
}

bool Unwinder::looksLikeReturnAddress(uint64_t addr) {
  return classifyReturnAddress(addr) == ReturnAddress::AfterCall;
}

bool Unwinder::stepSignalFrame(const PhysicalFrame &cur, PhysicalFrame &next) {
  // glibc's __restore_rt: mov $15, %rax; syscall (rt_sigreturn). Its frame's SP points at the
  // ucontext_t of the rt_sigframe; uc_mcontext.gregs starts 40 bytes in.
  static const uint8_t kRestoreRt[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
  uint8_t code[sizeof kRestoreRt];
  if (target_.readMemory(cur.pc, code, sizeof code) != sizeof code ||
      memcmp(code, kRestoreRt, sizeof code) != 0)
    return false;
  uint64_t g[18];
  if (target_.readMemory(cur.regs.sp() + 40, g, sizeof g) != sizeof g) return false;
  // gregs order: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags.
  FrameRegs r;
  for (int i = 0; i < 8; ++i) r.set(kR8 + i, g[i]);
  r.set(kRdi, g[8]); r.set(kRsi, g[9]); r.set(kRbp, g[10]); r.set(kRbx, g[11]);
  r.set(kRdx, g[12]); r.set(kRax, g[13]); r.set(kRcx, g[14]); r.set(kRsp, g[15]);
  r.set(kRip, g[16]);
  next = PhysicalFrame{};
  next.pc = g[16];
  next.regs = r;
  next.how = FrameHow::Context;
  next.pcExact = true;
  return true;
}

namespace {
struct RegReadCtx {
  Target *target;
  const FrameRegs *regs;
};
std::optional<uint64_t> readRegCb(void *c, int reg) {
  return static_cast<RegReadCtx *>(c)->regs->get(reg);
}
std::optional<uint64_t> readMemCb(void *c, uint64_t addr, unsigned size) {
  uint64_t v = 0;
  if (static_cast<RegReadCtx *>(c)->target->readMemory(addr, &v, size) != size)
    return std::nullopt;
  return v;
}
}  // namespace

Unwinder::CfiStep Unwinder::stepCfi(const PhysicalFrame &cur, PhysicalFrame &next, uint64_t &cfaOut) {
  uint64_t lookup = cur.pcExact ? cur.pc : cur.pc - 1;
  const ModuleInfo *mod = target_.moduleFor(lookup);
  if (!mod) return CfiStep::NoCfi;
  CfiTable *table = cfiFor(*mod);
  std::optional<CfiRow> row = table->rowFor(lookup - mod->loadBias);
  if (!row) return CfiStep::NoCfi;
  RegReadCtx rc{&target_, &cur.regs};
  ExprContext ec{readRegCb, readMemCb, &rc};
  uint64_t &cfa = cfaOut;
  if (row->cfaIsExpr) {
    auto v = evalDwarfExpr(row->cfaExpr, ec, std::nullopt);
    if (!v) return CfiStep::NoCfi;
    cfa = *v;
  } else {
    auto base = cur.regs.get(row->cfaReg);
    if (!base) return CfiStep::NoCfi;
    cfa = *base + row->cfaOffset;
  }
  FrameRegs nr;
  for (int r = 0; r < kCfiRegs; ++r) {
    const RegRule &rule = row->regs[r];
    switch (rule.kind) {
      case RegRule::Unspecified:
        // Callee-saved registers keep their value; the others are not recoverable.
        if (r == kRbx || r == kRbp || (r >= kR12 && r <= kR15))
          if (auto v = cur.regs.get(r)) nr.set(r, *v);
        break;
      case RegRule::Undefined: break;
      case RegRule::SameValue:
        if (auto v = cur.regs.get(r)) nr.set(r, *v);
        break;
      case RegRule::Offset: {
        uint64_t v;
        if (target_.readU64(cfa + rule.offset, v)) nr.set(r, v);
        break;
      }
      case RegRule::ValOffset: nr.set(r, cfa + rule.offset); break;
      case RegRule::Register:
        if (auto v = cur.regs.get(rule.reg)) nr.set(r, *v);
        break;
      case RegRule::Expression: {
        auto addr = evalDwarfExpr(rule.expr, ec, cfa);
        uint64_t v;
        if (addr && target_.readU64(*addr, v)) nr.set(r, v);
        break;
      }
      case RegRule::ValExpression:
        if (auto v = evalDwarfExpr(rule.expr, ec, cfa)) nr.set(r, *v);
        break;
    }
  }
  int ra = row->returnAddressReg;
  if (ra < 0 || ra >= kCfiRegs || row->regs[ra].kind == RegRule::Undefined) return CfiStep::Outermost;
  auto retAddr = nr.get(ra);
  if (!retAddr) return CfiStep::NoCfi;
  if (row->regs[kRsp].kind == RegRule::Unspecified) nr.set(kRsp, cfa);
  nr.set(kRip, *retAddr);
  next = PhysicalFrame{};
  next.pc = *retAddr;
  next.cfa = 0;
  next.regs = nr;
  next.how = FrameHow::Cfi;
  // A signal frame ('S' augmentation) restores an interrupted context: its pc is exact.
  next.pcExact = row->signalFrame;
  return CfiStep::Stepped;
}

bool Unwinder::stepBreakpadCfi(const PhysicalFrame &cur, PhysicalFrame &next, uint64_t &cfaOut) {
  uint64_t lookup = cur.pcExact ? cur.pc : cur.pc - 1;
  const ModuleInfo *mod = target_.moduleFor(lookup);
  if (!mod) return false;
  ModuleSymbols *ms = symbols_.forModule(*mod);
  const BreakpadSymbols *sym = ms->breakpad();
  uint64_t vaddr = lookup - mod->loadBias;
  if (!sym || vaddr < ms->breakpadBase()) return false;
  auto rules = sym->cfiRules(vaddr - ms->breakpadBase());
  if (!rules) return false;
  static const char *const kNames[kNumDwarfRegs] = {"$rax", "$rdx", "$rcx", "$rbx", "$rsi", "$rdi",
                                                    "$rbp", "$rsp", "$r8",  "$r9",  "$r10", "$r11",
                                                    "$r12", "$r13", "$r14", "$r15", "$rip"};
  std::map<std::string, uint64_t> callee;
  for (int r = 0; r < kNumDwarfRegs; ++r)
    if (auto v = cur.regs.get(r)) callee[kNames[r]] = *v;
  MemoryReader read = [this](uint64_t addr, void *buf, size_t len) {
    return target_.readMemory(addr, buf, len);
  };
  auto caller = applyBreakpadCfi(*rules, callee, read);
  if (!caller) {
    llvm::consumeError(caller.takeError());  // no usable rule here: the other strategies
    return false;
  }
  FrameRegs nr;
  // Callee-saved registers no rule recovers keep their value, as with DWARF CFI.
  for (int r : {kRbx, kRbp, kR12, kR13, kR14, kR15})
    if (auto v = cur.regs.get(r)) nr.set(r, *v);
  for (int r = 0; r < kNumDwarfRegs; ++r)
    if (auto it = caller->find(kNames[r]); it != caller->end()) nr.set(r, it->second);
  if (!nr.has(kRip) || !nr.has(kRsp)) return false;
  cfaOut = nr.sp();
  next = PhysicalFrame{};
  next.pc = nr.pc();
  next.regs = nr;
  next.how = FrameHow::Cfi;
  next.pcExact = false;
  return true;
}

bool Unwinder::stepFramePointer(PhysicalFrame &cur, PhysicalFrame &next) {
  auto rbp = cur.regs.get(kRbp);
  if (!rbp || *rbp < cur.regs.sp() || (*rbp & 7) != 0) return false;
  const MemoryRegion *stack = target_.regionFor(cur.regs.sp());
  if (stack && !stack->contains(*rbp)) return false;
  uint64_t saved[2];
  if (target_.readMemory(*rbp, saved, sizeof saved) != sizeof saved) return false;
  // The chain itself is evidence: a return address whose code is not at hand (a minidump's
  // module) is taken, still marked suspect.
  if (classifyReturnAddress(saved[1]) == ReturnAddress::No) return false;
  FrameRegs nr;
  cur.cfa = *rbp + 16;
  nr.set(kRbp, saved[0]);
  nr.set(kRsp, *rbp + 16);
  nr.set(kRip, saved[1]);
  for (int r : {kRbx, kR12, kR13, kR14, kR15})
    if (auto v = cur.regs.get(r)) nr.set(r, *v);
  next = PhysicalFrame{};
  next.pc = saved[1];
  next.regs = nr;
  next.how = FrameHow::FramePointer;
  next.suspect = true;
  next.pcExact = false;
  return true;
}

bool Unwinder::stepScan(const PhysicalFrame &cur, PhysicalFrame &next) {
  uint64_t sp = cur.regs.sp();
  std::vector<uint64_t> words(opts_.scanWords);
  size_t got = target_.readMemory(sp, words.data(), words.size() * 8) / 8;
  // The first word that follows a call instruction; failing that, the first one in a module's
  // executable mapping whose code is not at hand.
  std::optional<size_t> pick, unverified;
  for (size_t i = 0; i < got && !pick; ++i) {
    ReturnAddress kind = classifyReturnAddress(words[i]);
    if (kind == ReturnAddress::AfterCall) pick = i;
    else if (kind == ReturnAddress::Unverified && !unverified) unverified = i;
  }
  if (!pick) pick = unverified;
  if (!pick) return false;
  size_t i = *pick;
  FrameRegs nr;
  nr.set(kRsp, sp + (i + 1) * 8);
  nr.set(kRip, words[i]);
  // rbp is kept: functions without frame pointers leave the caller's value in place.
  if (auto v = cur.regs.get(kRbp)) nr.set(kRbp, *v);
  next = PhysicalFrame{};
  next.pc = words[i];
  next.regs = nr;
  next.how = FrameHow::Scan;
  next.suspect = true;
  next.pcExact = false;
  return true;
}

bool Unwinder::step(PhysicalFrame &cur, PhysicalFrame &next, std::string &stop, size_t index) {
  if (stepSignalFrame(cur, next)) return true;
  uint64_t cfa = 0;
  CfiStep r = stepCfi(cur, next, cfa);
  if (r != CfiStep::NoCfi) cur.cfa = cfa;  // DW_OP_call_frame_cfa of this frame, for variables
  if (r == CfiStep::Outermost) {
    stop = "outermost frame";
    return false;
  }
  if (r == CfiStep::Stepped) return true;
  if (stepBreakpadCfi(cur, next, cfa)) {
    cur.cfa = cfa;
    return true;
  }
  // The innermost frame outside any known code (a call through a bad function pointer): the
  // call just pushed the return address, so it is at SP.
  if (index == 0 && !isCodeAddress(cur.pc)) {
    uint64_t ra;
    if (target_.readU64(cur.regs.sp(), ra) && looksLikeReturnAddress(ra)) {
      next = PhysicalFrame{};
      next.pc = ra;
      next.regs = cur.regs;
      next.regs.set(kRsp, cur.regs.sp() + 8);
      next.regs.set(kRip, ra);
      next.how = FrameHow::Scan;
      next.suspect = true;
      next.pcExact = false;
      return true;
    }
  }
  if (stepFramePointer(cur, next)) return true;
  if (stepScan(cur, next)) return true;
  // Say why when it is the stack itself that is missing (not captured, or unreadable in the
  // process), not the unwind information.
  uint64_t word;
  if (!target_.readU64(cur.regs.sp(), word))
    stop = "the stack at " + hexU64(cur.regs.sp()) + " could not be read (not captured, or unreadable)";
  else
    stop = "no unwind information and no plausible return address";
  return false;
}

UnwindResult Unwinder::unwind(const Registers &regs) {
  UnwindResult res;
  PhysicalFrame f;
  f.pc = regs.rip;
  f.regs = FrameRegs::fromUser(regs);
  f.how = FrameHow::Context;
  f.pcExact = true;
  while (true) {
    PhysicalFrame next;
    std::string stop;
    bool ok = step(f, next, stop, res.frames.size());
    // A frame unwound to an exact pc (the trampoline check, or CFI marked 'S') is the
    // signal trampoline itself.
    if (ok && next.pcExact) f.signalTrampoline = true;
    res.frames.push_back(f);
    if (!ok) {
      res.stopReason = stop;
      break;
    }
    if (res.frames.size() >= opts_.maxFrames) {
      res.stopReason = "depth limit reached";
      break;
    }
    if (next.pc == 0) {
      res.stopReason = "return address is 0";
      break;
    }
    if (!f.signalTrampoline && !next.signalTrampoline && next.regs.sp() <= f.regs.sp() &&
        next.how != FrameHow::Context) {
      res.stopReason = "stack pointer did not increase (corrupt stack or loop)";
      break;
    }
    if (!isCodeAddress(next.pc)) {
      res.stopReason = "return address outside any code";
      break;
    }
    f = next;
  }
  return res;
}

}  // namespace bt
