#include "vars/frame_variables.h"

#include "symbols/elf_file.h"
#include "unwind/dwarf_expr.h"
#include "vars/value_printer.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <cinttypes>

namespace bt {

using namespace llvm;

namespace {

constexpr uint64_t kMaxValueBytes = 1 << 20;  // larger objects are not read whole

std::string hexAddr(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

bool containsPc(const DWARFDie &block, uint64_t vaddr) {
  auto ranges = block.getAddressRanges();
  if (!ranges) {
    consumeError(ranges.takeError());
    return false;
  }
  for (const DWARFAddressRange &r : *ranges)
    if (vaddr >= r.LowPC && vaddr < r.HighPC) return true;
  return false;
}

// The lexical blocks of a scope that contain the pc, outermost first (the scope itself first).
std::vector<DWARFDie> blockChain(const DWARFDie &scope, uint64_t vaddr) {
  std::vector<DWARFDie> chain{scope};
  DWARFDie cur = scope;
  for (int depth = 0; depth < 64; ++depth) {
    DWARFDie next;
    for (const DWARFDie &c : cur.children())
      if (c.getTag() == dwarf::DW_TAG_lexical_block && containsPc(c, vaddr)) {
        next = c;
        break;
      }
    if (!next) break;
    chain.push_back(next);
    cur = next;
  }
  return chain;
}

DWARFDie typeOfVar(const DWARFDie &v) {
  if (auto fv = v.findRecursively({dwarf::DW_AT_type})) return v.getAttributeValueAsReferencedDie(*fv);
  return {};
}

struct FrameEnv {
  Target *target;
  const PhysicalFrame *frame;
  uint64_t bias;
  uint64_t vaddr;  // lookup address (link-time)
  DWARFUnit *unit;
};

ExprEnv makeEnv(const FrameEnv &fe) {
  ExprEnv env;
  const FrameRegs *regs = &fe.frame->regs;
  Target *t = fe.target;
  env.reg = [regs](int r) { return regs->get(r); };
  env.mem = [t](uint64_t a, unsigned n) -> std::optional<uint64_t> {
    uint64_t v = 0;
    if (t->readMemory(a, &v, n) != n) return std::nullopt;
    return v;
  };
  if (fe.frame->cfa) env.cfa = fe.frame->cfa;
  env.loadBias = fe.bias;
  DWARFUnit *u = fe.unit;
  env.addrx = [u](uint64_t idx) -> std::optional<uint64_t> {
    auto a = u->getAddrOffsetSectionItem(uint32_t(idx));
    if (!a) return std::nullopt;
    return a->Address;
  };
  return env;
}

// The expression bytes valid at vaddr for a location attribute; nullopt: no location there.
std::optional<std::string> locationAt(const DWARFDie &die, dwarf::Attribute attr, uint64_t vaddr,
                                      std::string &error) {
  auto locs = die.getLocations(attr);
  if (!locs) {
    error = toString(locs.takeError());
    return std::nullopt;
  }
  for (const DWARFLocationExpression &l : *locs) {
    if (!l.Range || (vaddr >= l.Range->LowPC && vaddr < l.Range->HighPC))
      return std::string(l.Expr.begin(), l.Expr.end());
  }
  return std::nullopt;
}

}  // namespace

std::string FrameVariables::symbolizeAddress(uint64_t addr, bool function) {
  const ModuleInfo *mod = target_.moduleFor(addr);
  if (!mod) return {};
  ModuleSymbols *ms = symbols_.forModule(*mod);
  uint64_t v = addr - mod->loadBias;
  for (const ElfFile *f : {ms->binary(), ms->debugFile()}) {
    if (!f) continue;
    const ElfSymbol *s = function ? f->symbolFor(v) : f->objectFor(v);
    if (!s && !function) {
      // A data pointer into code: only a sized function symbol really contains it (gdb prints
      // nothing for, e.g., string literals in .rodata after the last sized symbol).
      s = f->symbolFor(v);
      if (s && s->size == 0) s = nullptr;
    }
    if (!s) continue;
    if (s->size && v >= s->address + s->size) continue;
    std::string name = displayFunctionName(s->name);
    if (v == s->address) return "<" + name + ">";
    return "<" + name + "+" + std::to_string(v - s->address) + ">";
  }
  return {};
}

ScopeVisitor FrameVariables::visitorFor(const UnwindResult &thread, size_t index) {
  const PhysicalFrame *frame = &thread.frames[index];
  return [this, frame](DWARFContext &, ArrayRef<DWARFDie> scopes,
                       std::vector<SourceLocation> &chain) {
    bool exact = frame->pcExact || frame->signalTrampoline;
    uint64_t lookup = exact ? frame->pc : frame->pc - 1;
    const ModuleInfo *mod = target_.moduleFor(lookup);
    if (!mod || scopes.empty()) return;
    FrameEnv fe{&target_, frame, mod->loadBias, lookup - mod->loadBias, scopes[0].getDwarfUnit()};
    ExprEnv baseEnv = makeEnv(fe);
    // The frame base belongs to the physical function: the outermost scope.
    std::string fbErr;
    if (auto fb = locationAt(scopes.back(), dwarf::DW_AT_frame_base, fe.vaddr, fbErr)) {
      ExprResult r = evaluateDwarfExpr(*fb, baseEnv);
      if (r.ok && r.pieces.size() == 1) {
        const ExprPiece &p = r.pieces[0];
        if (p.kind == ExprPiece::Memory) baseEnv.frameBase = p.address;
        else if (p.kind == ExprPiece::Register) baseEnv.frameBase = frame->regs.get(p.reg);
        else if (p.kind == ExprPiece::Value) baseEnv.frameBase = p.value;
      }
    }
    PrintContext pc;
    Target *t = &target_;
    pc.read = [t](uint64_t a, void *b, size_t n) { return t->readMemory(a, b, n); };
    pc.symbolize = [this](uint64_t a, bool fn) { return symbolizeAddress(a, fn); };

    auto readVariable = [&](const DWARFDie &die, const char *kind) {
      Variable v;
      v.kind = kind;
      if (const char *n = die.getShortName()) v.name = n;
      DWARFDie type = typeOfVar(die);
      v.type = typeName(type);
      uint64_t size = typeSize(type);
      std::string bytes;
      std::optional<uint64_t> address;
      if (auto cv = die.find(dwarf::DW_AT_const_value)) {
        if (auto block = cv->getAsBlock()) bytes.assign(block->begin(), block->end());
        else if (auto sv = cv->getAsSignedConstant()) bytes.assign(reinterpret_cast<const char *>(&*sv), 8);
        else if (auto uv = cv->getAsUnsignedConstant()) bytes.assign(reinterpret_cast<const char *>(&*uv), 8);
        bytes.resize(std::max<uint64_t>(size, bytes.size()), '\0');
      } else {
        std::string err;
        std::optional<std::string> expr = locationAt(die, dwarf::DW_AT_location, fe.vaddr, err);
        if (!expr || expr->empty()) {
          v.optimizedOut = true;
          v.value = "<optimized out>";
          return v;
        }
        ExprResult r = evaluateDwarfExpr(*expr, baseEnv);
        if (!r.ok) {
          // A register the unwinder could not recover is what gdb calls optimized out.
          if (r.error.rfind("register", 0) == 0 || r.error.rfind("entry value", 0) == 0 ||
              r.error.rfind("frame base", 0) == 0) {
            v.optimizedOut = true;
            v.value = "<optimized out>";
          } else {
            v.error = true;
            v.value = "<error: " + r.error + ">";
          }
          return v;
        }
        if (size > kMaxValueBytes) {
          v.error = true;
          v.value = "<error: value of " + std::to_string(size) + " bytes not read>";
          return v;
        }
        // Assemble the object from its pieces.
        bytes.assign(size, '\0');
        uint64_t at = 0;
        for (const ExprPiece &p : r.pieces) {
          uint64_t n = p.sizeBits ? p.sizeBits / 8 : size;
          if (at + n > size) n = size > at ? size - at : 0;
          switch (p.kind) {
            case ExprPiece::Memory:
              if (r.pieces.size() == 1) address = p.address;
              if (n && t->readMemory(p.address, bytes.data() + at, n) != n) {
                v.error = true;
                v.value = "<error: Cannot access memory at address " + hexAddr(p.address) + ">";
                return v;
              }
              break;
            case ExprPiece::Register: {
              auto rv = frame->regs.get(p.reg);
              if (!rv || n > 8) {
                v.optimizedOut = true;
                v.value = "<optimized out>";
                return v;
              }
              memcpy(bytes.data() + at, &*rv, n);
              break;
            }
            case ExprPiece::Value:
              memcpy(bytes.data() + at, &p.value, std::min<uint64_t>(n, 8));
              break;
            case ExprPiece::ImplicitValue:
              memcpy(bytes.data() + at, p.bytes.data(), std::min<uint64_t>(n, p.bytes.size()));
              break;
            case ExprPiece::ImplicitPointer:
              v.value = "<synthetic pointer>";
              return v;
            case ExprPiece::Undefined:
              v.optimizedOut = true;
              v.value = "<optimized out>";
              return v;
          }
          at += n;
        }
      }
      v.address = address;
      v.value = formatValue(type, bytes, address, pc);
      return v;
    };

    for (size_t k = 0; k < scopes.size() && k < chain.size(); ++k) {
      std::vector<Variable> &out = chain[k].variables;
      const DWARFDie &scope = scopes[k];
      for (const DWARFDie &c : scope.children())
        if (c.getTag() == dwarf::DW_TAG_formal_parameter) out.push_back(readVariable(c, "param"));
      std::vector<DWARFDie> blocks = blockChain(scope, fe.vaddr);
      for (auto b = blocks.rbegin(); b != blocks.rend(); ++b)
        for (const DWARFDie &c : b->children())
          if (c.getTag() == dwarf::DW_TAG_variable && !c.find(dwarf::DW_AT_declaration) &&
              !c.find(dwarf::DW_AT_artificial))
            out.push_back(readVariable(c, "local"));
    }
  };
}

}  // namespace bt
