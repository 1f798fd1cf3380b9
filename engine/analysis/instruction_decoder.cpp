#include "analysis/instruction_decoder.h"

#include <llvm/MC/MCAsmInfo.h>
#include <llvm/MC/MCContext.h>
#include <llvm/MC/MCDisassembler/MCDisassembler.h>
#include <llvm/MC/MCInst.h>
#include <llvm/MC/MCInstPrinter.h>
#include <llvm/MC/MCInstrAnalysis.h>
#include <llvm/MC/MCInstrInfo.h>
#include <llvm/MC/MCRegisterInfo.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/MCTargetOptions.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Triple.h>

#include <cstdio>
#include <cstring>
#include <mutex>

extern "C" {
void LLVMInitializeX86TargetInfo();
void LLVMInitializeX86TargetMC();
void LLVMInitializeX86Disassembler();
}

namespace bt {

using namespace llvm;

const char *accessKindName(AccessKind k) {
  switch (k) {
    case AccessKind::None: return "none";
    case AccessKind::Read: return "read";
    case AccessKind::Write: return "write";
    case AccessKind::ReadWrite: return "read_write";
    case AccessKind::BlockMove: return "block_move";
    case AccessKind::Call: return "call";
    case AccessKind::Jump: return "jump";
    case AccessKind::Return: return "return";
    case AccessKind::Privileged: return "privileged";
    case AccessKind::Trap: return "trap";
  }
  return "?";
}

std::string describeAccess(const DecodedInstruction &i) {
  auto hex = [](uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
    return std::string(b);
  };
  auto at = [&] { return i.effectiveAddress ? " at " + hex(*i.effectiveAddress) : std::string(); };
  auto bytes = [&](const char *what) {
    std::string s = what;
    if (i.accessSize) s += " of " + std::to_string(i.accessSize) + (i.accessSize == 1 ? " byte" : " bytes");
    return s + at();
  };
  switch (i.access) {
    case AccessKind::None: return {};
    case AccessKind::Read: return bytes("read");
    case AccessKind::Write: return bytes("write");
    case AccessKind::ReadWrite: return bytes("read-modify-write");
    case AccessKind::BlockMove:
      return "block move of " + std::to_string(i.accessSize) + "-byte elements, " +
             (i.base == "rdi" ? "destination" : "source") + at();
    case AccessKind::Call: case AccessKind::Jump: {
      std::string s = i.access == AccessKind::Call ? "call" : "jump";
      if (i.branchTarget) return s + " to " + hex(*i.branchTarget);
      if (i.effectiveAddress) return s + " through the pointer at " + hex(*i.effectiveAddress);
      return s;
    }
    case AccessKind::Return: return "return to the address stored" + at();
    case AccessKind::Privileged: return "privileged instruction";
    case AccessKind::Trap: return "trap";
  }
  return {};
}

struct InstructionDecoder::Impl {
  Triple triple{"x86_64-unknown-linux-gnu"};
  MCTargetOptions options;
  std::unique_ptr<MCRegisterInfo> mri;
  std::unique_ptr<MCAsmInfo> mai;
  std::unique_ptr<MCSubtargetInfo> sti;
  std::unique_ptr<MCInstrInfo> mii;
  std::unique_ptr<MCContext> ctx;
  std::unique_ptr<MCDisassembler> disassembler;
  std::unique_ptr<MCInstPrinter> printer;
  std::unique_ptr<MCInstrAnalysis> analysis;
};

InstructionDecoder::InstructionDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InstructionDecoder::~InstructionDecoder() = default;

std::unique_ptr<InstructionDecoder> InstructionDecoder::create() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86Disassembler();
  });
  auto d = std::make_unique<Impl>();
  std::string error;
  const Target *target = TargetRegistry::lookupTarget(d->triple.str(), error);
  if (!target) return nullptr;
  d->mri.reset(target->createMCRegInfo(d->triple.str()));
  if (!d->mri) return nullptr;
  d->mai.reset(target->createMCAsmInfo(*d->mri, d->triple.str(), d->options));
  d->sti.reset(target->createMCSubtargetInfo(d->triple.str(), "x86-64", ""));
  d->mii.reset(target->createMCInstrInfo());
  if (!d->mai || !d->sti || !d->mii) return nullptr;
  d->ctx = std::make_unique<MCContext>(d->triple, d->mai.get(), d->mri.get(), d->sti.get());
  d->disassembler.reset(target->createMCDisassembler(*d->sti, *d->ctx));
  // Syntax variant 1: Intel, whose operands say their size ("dword ptr").
  d->printer.reset(target->createMCInstPrinter(d->triple, 1, *d->mai, *d->mii, *d->mri));
  d->analysis.reset(target->createMCInstrAnalysis(d->mii.get()));
  if (!d->disassembler || !d->printer) return nullptr;
  return std::unique_ptr<InstructionDecoder>(new InstructionDecoder(std::move(d)));
}

namespace {

// The value of a register named as LLVM names it ("RAX", "R8D", "RIP", "FS"), as an address
// part; nullopt for one this does not know.
std::optional<uint64_t> addressRegister(StringRef llvmName, const Registers &r, uint64_t nextPc) {
  std::string n = llvmName.lower();
  static const struct { const char *name; uint64_t Registers::*field; } k64[] = {
      {"rax", &Registers::rax}, {"rbx", &Registers::rbx}, {"rcx", &Registers::rcx},
      {"rdx", &Registers::rdx}, {"rsi", &Registers::rsi}, {"rdi", &Registers::rdi},
      {"rbp", &Registers::rbp}, {"rsp", &Registers::rsp}, {"r8", &Registers::r8},
      {"r9", &Registers::r9},   {"r10", &Registers::r10}, {"r11", &Registers::r11},
      {"r12", &Registers::r12}, {"r13", &Registers::r13}, {"r14", &Registers::r14},
      {"r15", &Registers::r15}};
  if (n == "rip") return nextPc;  // RIP-relative: from the end of the instruction
  if (n == "eip") return nextPc & 0xffffffff;
  if (n == "fs") return r.fs_base;
  if (n == "gs") return r.gs_base;
  if (n == "ds" || n == "es" || n == "ss" || n == "cs") return 0;  // flat in 64-bit mode
  for (const auto &e : k64)
    if (n == e.name) return r.*e.field;
  // 32-bit address registers (an address-size prefix): the low half.
  static const struct { const char *name; const char *full; } k32[] = {
      {"eax", "rax"}, {"ebx", "rbx"}, {"ecx", "rcx"}, {"edx", "rdx"}, {"esi", "rsi"},
      {"edi", "rdi"}, {"ebp", "rbp"}, {"esp", "rsp"}};
  for (const auto &e : k32)
    if (n == e.name) return addressRegister(e.full, r, nextPc).value() & 0xffffffff;
  if (n.size() >= 3 && n[0] == 'r' && n.back() == 'd')  // r8d..r15d
    if (auto v = addressRegister(n.substr(0, n.size() - 1), r, nextPc)) return *v & 0xffffffff;
  return std::nullopt;
}

// The memory operand's size from Intel syntax ("dword ptr"); 0 if the text has none.
unsigned sizeFromText(StringRef text) {
  static const struct { const char *word; unsigned size; } kSizes[] = {
      {"zmmword ptr", 64}, {"ymmword ptr", 32}, {"xmmword ptr", 16}, {"tbyte ptr", 10},
      {"qword ptr", 8},    {"dword ptr", 4},    {"byte ptr", 1},     {"word ptr", 2}};
  for (const auto &s : kSizes) {
    size_t at = text.find(s.word);
    // "word ptr" is inside "dword ptr" etc.: only a match at a word boundary counts.
    if (at != StringRef::npos && (at == 0 || text[at - 1] == ' ' || text[at - 1] == ','))
      return s.size;
  }
  return 0;
}

bool isPrivileged(StringRef op) {
  static const char *const kPrefixes[] = {"HLT", "IN8", "IN16", "IN32", "INSB", "INSW", "INSL",
                                          "OUT8", "OUT16", "OUT32", "OUTSB", "OUTSW", "OUTSL",
                                          "CLI", "STI", "LGDT", "LIDT", "LLDT", "LTR", "LMSW",
                                          "WRMSR", "RDMSR", "INVD", "WBINVD", "INVLPG", "CLTS",
                                          "SWAPGS", "SYSRET", "SYSEXIT", "MOV64cr", "MOV64rc",
                                          "MOV64dr", "MOV64rd", "XSETBV", "WRPKRU_PRIV"};
  for (const char *p : kPrefixes)
    if (op.starts_with(p)) return true;
  return false;
}

bool isTrap(StringRef op) {
  return op == "TRAP" || op.starts_with("UD1") || op.starts_with("UD2") || op == "INT3" ||
         op == "INT" || op == "INTO" || op == "UD_TRAP";
}

// String instructions: the access and element size from the opcode name (MOVSB..SCASQ).
bool stringInstruction(StringRef op, unsigned &size, bool &reads, bool &writes) {
  for (const char *p : {"MOVS", "STOS", "LODS", "CMPS", "SCAS"}) {
    if (!op.starts_with(p) || op.size() != 5) continue;
    switch (op[4]) {
      case 'B': size = 1; break;
      case 'W': size = 2; break;
      case 'L': case 'D': size = 4; break;
      case 'Q': size = 8; break;
      default: return false;
    }
    reads = op.starts_with("MOVS") || op.starts_with("LODS") || op.starts_with("CMPS") ||
            op.starts_with("SCAS");
    writes = op.starts_with("MOVS") || op.starts_with("STOS");
    return true;
  }
  return false;
}

}  // namespace

std::optional<DecodedInstruction> InstructionDecoder::decode(ArrayRef<uint8_t> bytes, uint64_t pc,
                                                             const Registers &regs) const {
  const Impl &d = *impl_;
  MCInst inst;
  uint64_t size = 0;
  if (bytes.empty() ||
      d.disassembler->getInstruction(inst, size, bytes, pc, nulls()) != MCDisassembler::Success ||
      size == 0)
    return std::nullopt;
  DecodedInstruction out;
  out.pc = pc;
  out.length = unsigned(size);
  uint64_t nextPc = pc + size;
  {
    std::string text;
    raw_string_ostream os(text);
    d.printer->printInst(&inst, pc, "", *d.sti, os);
    os.flush();
    for (char &c : text)
      if (c == '\t') c = ' ';
    StringRef t = StringRef(text).trim();
    // Collapse the printer's runs of spaces.
    for (char c : t)
      if (c != ' ' || out.text.empty() || out.text.back() != ' ') out.text += c;
  }
  const MCInstrDesc &desc = d.mii->get(inst.getOpcode());
  StringRef op = d.mii->getName(inst.getOpcode());
  auto regName = [&](unsigned reg) { return reg ? StringRef(d.mri->getName(reg)).lower() : std::string(); };

  // The first memory operand: base, scale, index, displacement, segment.
  int mem = -1;
  for (unsigned i = 0; i < desc.getNumOperands() && i < inst.getNumOperands(); ++i)
    if (desc.operands()[i].OperandType == MCOI::OPERAND_MEMORY) {
      mem = int(i);
      break;
    }
  bool fullMemoryOperand = mem >= 0 && unsigned(mem) + 5 <= inst.getNumOperands() &&
                           inst.getOperand(mem).isReg() && inst.getOperand(mem + 1).isImm() &&
                           inst.getOperand(mem + 2).isReg() && inst.getOperand(mem + 4).isReg();
  auto computeAddress = [&] {
    std::optional<uint64_t> ea = uint64_t(out.displacement);
    for (const std::string *r : {&out.base, &out.index, &out.segment}) {
      if (r->empty() || !ea) continue;
      std::optional<uint64_t> v = addressRegister(*r, regs, nextPc);
      if (!v) ea.reset();
      else *ea += r == &out.index ? *v * out.scale : *v;
    }
    out.effectiveAddress = ea;
  };
  if (fullMemoryOperand) {
    out.base = regName(inst.getOperand(mem).getReg());
    out.scale = unsigned(inst.getOperand(mem + 1).getImm());
    out.index = regName(inst.getOperand(mem + 2).getReg());
    if (inst.getOperand(mem + 3).isImm()) out.displacement = inst.getOperand(mem + 3).getImm();
    out.segment = regName(inst.getOperand(mem + 4).getReg());
    if (out.index.empty()) out.scale = 0;
    computeAddress();
    out.accessSize = sizeFromText(out.text);
  }

  unsigned elem = 0;
  bool reads = false, writes = false;
  if (isTrap(op)) {
    out.access = AccessKind::Trap;
  } else if (isPrivileged(op)) {
    out.access = AccessKind::Privileged;
  } else if (stringInstruction(op, elem, reads, writes)) {
    // The destination (rdi) when it writes, else the source (rsi); rep repeats it rcx times.
    out.access = AccessKind::BlockMove;
    out.accessSize = elem;
    out.base = writes ? "rdi" : "rsi";
    out.index.clear();
    out.scale = 0;
    out.displacement = 0;
    computeAddress();
  } else if (desc.isCall() || desc.isReturn() || desc.isBranch() || desc.isIndirectBranch()) {
    out.access = desc.isCall() ? AccessKind::Call : desc.isReturn() ? AccessKind::Return : AccessKind::Jump;
    uint64_t target = 0;
    if (d.analysis && d.analysis->evaluateBranch(inst, pc, size, target)) {
      out.branchTarget = target;
    } else if (!fullMemoryOperand && inst.getNumOperands() >= 1 && inst.getOperand(0).isReg() &&
               !desc.isReturn()) {
      // call/jmp through a register: the register holds the target.
      out.branchTarget = addressRegister(regName(inst.getOperand(0).getReg()), regs, nextPc);
    }
    if (desc.isReturn()) {
      // ret reads its target from the stack.
      out.base = "rsp";
      out.accessSize = 8;
      computeAddress();
    }
  } else if (desc.mayLoad() && desc.mayStore()) {
    out.access = AccessKind::ReadWrite;
  } else if (desc.mayStore()) {
    out.access = AccessKind::Write;
  } else if (desc.mayLoad()) {
    out.access = AccessKind::Read;
  }
  // push/pop and friends touch the stack without an explicit memory operand.
  if (!fullMemoryOperand && out.base.empty() &&
      (out.access == AccessKind::Read || out.access == AccessKind::Write ||
       out.access == AccessKind::ReadWrite)) {
    out.base = "rsp";
    out.accessSize = 8;
    if (out.access == AccessKind::Write) out.displacement = -8;  // push writes below rsp
    computeAddress();
  }
  return out;
}

}  // namespace bt
