#include "vars/frame_variables.h"

#include "symbols/call_sites.h"
#include "symbols/elf_file.h"
#include "symbols/gdb_names.h"
#include "unwind/dwarf_expr.h"
#include "vars/value.h"
#include "vars/value_printer.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>
#include <llvm/Demangle/Demangle.h>

#include <algorithm>
#include <cinttypes>
#include <functional>

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

// What any location needs: target memory, the module's load bias and its unit's .debug_addr
// (null unit: no DW_OP_addrx). Frame registers and CFA are added by makeEnv.
ExprEnv memoryEnv(Target *t, uint64_t bias, DWARFUnit *u) {
  ExprEnv env;
  env.mem = [t](uint64_t a, unsigned n) -> std::optional<uint64_t> {
    uint64_t v = 0;
    if (t->readMemory(a, &v, n) != n) return std::nullopt;
    return v;
  };
  env.loadBias = bias;
  if (u)
    env.addrx = [u](uint64_t idx) -> std::optional<uint64_t> {
      auto a = u->getAddrOffsetSectionItem(uint32_t(idx));
      if (!a) return std::nullopt;
      return a->Address;
    };
  return env;
}

ExprEnv makeEnv(const FrameEnv &fe) {
  ExprEnv env = memoryEnv(fe.target, fe.bias, fe.unit);
  const FrameRegs *regs = &fe.frame->regs;
  env.reg = [regs](int r) { return regs->get(r); };
  if (fe.frame->cfa) env.cfa = fe.frame->cfa;
  return env;
}

// The expression bytes valid at vaddr for a location attribute; nullopt: no location there.
std::optional<std::string> locationAt(const DWARFDie &die, dwarf::Attribute attr, uint64_t vaddr,
                                      std::string &error) {
  if (!die.find(attr)) return std::nullopt;  // no location at all: optimized out, not an error
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

// A location read as one word, as DW_AT_frame_base, DW_AT_call_target and a call site's
// DW_AT_call_value are: the address it computes (DW_OP_call_frame_cfa, DW_OP_bregN), what the
// register it names holds (clang's DW_OP_reg7 RSP, an indirect call's DW_OP_reg0 RAX) or its value.
std::optional<uint64_t> locationAsAddress(const ExprResult &r, const FrameRegs &regs) {
  if (r.ok && r.pieces.size() == 1 && r.pieces[0].kind == ExprPiece::Register)
    return regs.get(r.pieces[0].reg);
  return r.scalar();
}

// DW_OP_regN / DW_OP_regx N as a register number.
std::optional<int> singleRegister(StringRef expr) {
  if (expr.size() == 1 && uint8_t(expr[0]) >= dwarf::DW_OP_reg0 && uint8_t(expr[0]) <= dwarf::DW_OP_reg31)
    return uint8_t(expr[0]) - dwarf::DW_OP_reg0;
  if (expr.size() >= 2 && uint8_t(expr[0]) == dwarf::DW_OP_regx) {
    uint64_t v = 0;
    unsigned shift = 0;
    for (size_t i = 1; i < expr.size() && shift < 64; ++i, shift += 7) {
      v |= uint64_t(uint8_t(expr[i]) & 0x7f) << shift;
      if (!(uint8_t(expr[i]) & 0x80)) return i + 1 == expr.size() ? std::optional<int>(int(v)) : std::nullopt;
    }
  }
  return std::nullopt;
}


// The children of a scope plus, when it is a concrete instance (DW_AT_abstract_origin: an
// inlined or out-of-line copy), the abstract instance's children that have no concrete
// counterpart. The compiler drops the DIEs of variables it optimized away from the concrete
// tree; gdb lists them from the abstract one (inherit_abstract_dies), as <optimized out>.
std::vector<DWARFDie> childrenWithInherited(const DWARFDie &scope) {
  std::vector<DWARFDie> out;
  std::vector<uint64_t> covered;
  for (const DWARFDie &c : scope.children()) {
    out.push_back(c);
    if (DWARFDie o = c.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin))
      covered.push_back(o.getOffset());
  }
  DWARFDie origin = scope.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin);
  if (!origin) return out;
  for (const DWARFDie &a : origin.children()) {
    dwarf::Tag t = a.getTag();
    if (t != dwarf::DW_TAG_formal_parameter && t != dwarf::DW_TAG_variable &&
        t != dwarf::DW_TAG_lexical_block)
      continue;
    if (std::find(covered.begin(), covered.end(), a.getOffset()) == covered.end()) out.push_back(a);
  }
  return out;
}

}  // namespace

std::optional<uint64_t> FrameVariables::entryRegisterValue(const UnwindResult &thread,
                                                           size_t index, int reg,
                                                           uint64_t calleeEntry, int depth,
                                                           std::optional<TailCallPosition> tail) {
  // Only a direct caller found by CFI has the registers and the call site to trust.
  if (depth > 4 || index + 1 >= thread.frames.size()) return std::nullopt;
  const PhysicalFrame &callee = thread.frames[index];
  const PhysicalFrame &caller = thread.frames[index + 1];
  if (caller.how != FrameHow::Cfi || callee.signalTrampoline) return std::nullopt;
  const ModuleInfo *mod = target_.moduleFor(caller.pc - 1);
  if (!mod) return std::nullopt;
  ModuleSymbols *ms = symbols_.forModule(*mod);
  std::optional<CallSiteInfo> cs = ms->callSite(caller.pc - mod->loadBias);
  if (!cs) return std::nullopt;
  // A call into another module through the PLT names a declaration: the callee's module resolves
  // it by name, as gdb does with minimal symbols (select@plt: nfds=nfds@entry=0). `declared` is
  // that function's link-time entry in `declaredIn`, the callee's module.
  const ModuleInfo *declaredIn = nullptr;
  uint64_t declared = 0;
  if (!cs->target && !cs->targetName.empty())
    if (const ModuleInfo *cm = target_.moduleFor(calleeEntry); cm && cm != mod) {
      declaredIn = cm;
      declared = symbols_.forModule(*cm)->symbolAddress(cs->targetName);
    }
  bool plt = declared && declared + declaredIn->loadBias == calleeEntry;
  if (!cs->target && !plt && cs->targetExpr.empty() && cs->targetName.empty()) return std::nullopt;
  // The caller's own entry (from its symbol), for a call value that uses the caller's entry
  // values (a parameter passed on, modified): resolved one frame further up.
  uint64_t callerEntry = 0;
  for (const ElfFile *f : {ms->binary(), ms->debugFile()})
    if (f && !callerEntry)
      if (const ElfSymbol *sym = f->symbolFor(caller.pc - 1 - mod->loadBias))
        callerEntry = sym->address + mod->loadBias;
  using EntryOf = std::function<std::optional<uint64_t>(int)>;
  EntryOf callerEntryOf = [&](int r) -> std::optional<uint64_t> {
    if (!callerEntry) return std::nullopt;
    return entryRegisterValue(thread, index + 1, r, callerEntry, depth + 1);
  };
  uint64_t callerAt = caller.pc - 1 - mod->loadBias;
  // The environment a call site's expressions are evaluated in: the frame `regs` at link-time
  // `at` of the module loaded at `bias`, its frame base when known, entry values from `entryOf`.
  auto siteEnv = [&](const CallSiteInfo &site, uint64_t at, uint64_t bias, const PhysicalFrame &regs,
                     bool frameBase, const EntryOf &entryOf) {
    FrameEnv fe{&target_, &regs, bias, at, nullptr};
    ExprEnv env = makeEnv(fe);
    if (frameBase && !site.callerFrameBase.empty())
      env.frameBase = locationAsAddress(evaluateDwarfExpr(site.callerFrameBase, env), regs.regs);
    env.entryValue = [&entryOf](StringRef sub) -> std::optional<uint64_t> {
      auto rr = singleRegister(sub);
      return rr ? entryOf(*rr) : std::nullopt;
    };
    return env;
  };
  // A call through a function pointer (no DW_AT_call_origin): it called this function if the
  // address DW_AT_call_target names, evaluated in the caller's frame, is its entry, as gdb checks
  // (glibc's call of main: DW_OP_fbreg -152, DW_OP_deref).
  bool indirect = false;
  if (!cs->target && !plt && !tail && !cs->targetExpr.empty()) {
    ExprEnv env = siteEnv(*cs, callerAt, mod->loadBias, caller, true, callerEntryOf);
    indirect = locationAsAddress(evaluateDwarfExpr(cs->targetExpr, env), caller.regs) == calleeEntry;
    if (!indirect) return std::nullopt;
  }
  // What `site` (at link-time `at` of the module at `bias`) passed in `r`, its expression
  // evaluated in `regs`.
  auto passed = [&](const CallSiteInfo &site, uint64_t at, uint64_t bias, const PhysicalFrame &regs,
                    bool frameBase, int r, const EntryOf &entryOf) -> std::optional<uint64_t> {
    for (const auto &[loc, value] : site.parameters) {
      if (singleRegister(loc) != r) continue;
      return locationAsAddress(evaluateDwarfExpr(value, siteEnv(site, at, bias, regs, frameBase, entryOf)),
                               regs.regs);
    }
    return std::nullopt;
  };
  if (!tail && (plt || indirect || cs->target + mod->loadBias == calleeEntry))
    return passed(*cs, callerAt, mod->loadBias, caller, true, reg, callerEntryOf);

  // gdb's rule through reconstructed tail-call frames (every futex wait in libc): the caller
  // called a function that tail-called (maybe through more) the callee; the value comes from the
  // site that jumped to the callee, its entry values from the site that called that function,
  // ... down to the caller's call site. A tail-caller's registers at its jump are the callee's
  // at entry: the caller's callee-saved ones as unwound, the stack pointer one slot lower (the
  // return address is still pushed); its frame base is not known, so values based on it are
  // not offered.
  // A tail-call frame's own entry values come from the next site outwards in the same chain,
  // the one the backtrace found. The chain's sites are all in one module: the caller's (it may
  // end in another module: block() -> pause@plt), or, for a call through the PLT, the callee's
  // (python's sem_wait@plt -> __new_sem_wait -> jmp __new_sem_wait_slow64).
  std::vector<uint64_t> chain;
  ModuleSymbols *sites = ms;
  uint64_t sitesBias = mod->loadBias;
  if (tail) {
    const ModuleInfo *cm = target_.moduleFor(tail->chain.front() - 1);
    if (!cm) return std::nullopt;
    for (uint64_t pc : tail->chain)
      if (target_.moduleFor(pc - 1) != cm) return std::nullopt;
    sites = symbols_.forModule(*cm);
    sitesBias = cm->loadBias;
    for (uint64_t pc : tail->chain) chain.push_back(pc - sitesBias);
  } else {
    uint64_t first = cs->target;
    if (!first && !cs->targetName.empty()) {
      if (!declaredIn) return std::nullopt;
      sites = symbols_.forModule(*declaredIn);
      sitesBias = declaredIn->loadBias;
      first = declared;
    } else if (target_.moduleFor(calleeEntry) != mod) {
      return std::nullopt;
    }
    if (!first) return std::nullopt;
    uint64_t calleeLookup = callee.pcExact ? callee.pc : callee.pc - 1;
    chain = sites->tailCallChain(first, calleeLookup - sitesBias);
  }
  if (chain.empty()) return std::nullopt;
  PhysicalFrame jumping = caller;
  if (auto sp = caller.regs.get(kRsp)) jumping.regs.set(kRsp, *sp - 8);
  std::function<std::optional<uint64_t>(size_t, int)> atTail;
  // What the function entered by the jump at chain[k] was given in `r`.
  auto outerOf = [&](size_t k, int r) -> std::optional<uint64_t> {
    if (k + 1 < chain.size()) return atTail(k + 1, r);
    return passed(*cs, callerAt, mod->loadBias, caller, true, r, callerEntryOf);
  };
  atTail = [&](size_t k, int r) -> std::optional<uint64_t> {
    std::optional<CallSiteInfo> site = sites->tailCallSite(chain[k]);
    if (!site) return std::nullopt;
    EntryOf outer = [&](int r2) { return outerOf(k, r2); };
    return passed(*site, chain[k] - 1, sitesBias, jumping, false, r, outer);
  };
  return tail ? outerOf(tail->level, reg) : atTail(0, reg);
}

PrintContext FrameVariables::printContext() {
  PrintContext pc;
  Target *t = &target_;
  pc.read = [t](uint64_t a, void *b, size_t n) { return t->readMemory(a, b, n); };
  pc.symbolize = [this](uint64_t a, bool fn) { return symbolizeAddress(a, fn); };
  pc.staticAddress = [this](const DWARFDie &m) { return staticMemberAddress(m); };
  pc.completeType = typeCompleter_;
  return pc;
}

// The symbol a static data member is defined by: its linkage name, or, where the declaration has
// none (DWARF 4 members), the Itanium mangling of its qualified name, for names only namespaces
// and non-template classes qualify (others are left <optimized out>).
static std::string staticMemberSymbol(const DWARFDie &m) {
  if (const char *ln = m.getLinkageName()) return ln;
  const char *name = m.getShortName();
  if (!name) return {};
  std::vector<std::string> parts{name};
  for (DWARFDie p = m.getParent(); p && p.getTag() != dwarf::DW_TAG_compile_unit; p = p.getParent()) {
    dwarf::Tag t = p.getTag();
    if (t != dwarf::DW_TAG_namespace && t != dwarf::DW_TAG_class_type &&
        t != dwarf::DW_TAG_structure_type && t != dwarf::DW_TAG_union_type)
      return {};
    const char *pn = p.getShortName();
    if (!pn || StringRef(pn).contains('<')) return {};  // anonymous or a template
    for (const DWARFDie &c : p.children())
      if (c.getTag() == dwarf::DW_TAG_template_type_parameter ||
          c.getTag() == dwarf::DW_TAG_template_value_parameter)
        return {};
    parts.push_back(pn);
    if (parts.size() > 32) return {};
  }
  if (parts.size() < 2) return {};
  std::string out = "_ZN";
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += std::to_string(it->size()) + *it;
  return out + "E";
}

std::optional<uint64_t> FrameVariables::staticMemberAddress(const DWARFDie &m) {
  std::string sym = staticMemberSymbol(m);
  if (sym.empty()) return std::nullopt;
  if (auto it = staticAddresses_.find(sym); it != staticAddresses_.end()) return it->second;
  // As gdb's minimal symbols; the definition may be in any module.
  std::optional<uint64_t> found;
  for (const ModuleInfo *mod : target_.modulesExecutableFirst())
    if (uint64_t a = symbols_.forModule(*mod)->objectAddress(sym)) {
      found = a + mod->loadBias;
      break;
    }
  staticAddresses_[sym] = found;
  return found;
}

// gdb names a C++ function by its DWARF symbol: the demangled linkage name without the return
// type ("tfn<int>(int)"), or, without one (main, extern "C", gcc's lambda helpers), the
// qualified DWARF name plus the parameter types ("main(int, char**)"), in the demangler's
// spelling unless the name holds a lambda that gdb's C++ name parser cannot canonicalize.
static std::string cxxSymbolName(const DWARFDie &subprogram) {
  DWARFDie d = subprogram;
  const char *linkage = nullptr;
  for (int i = 0; i < 4 && d && !linkage; ++i) {
    linkage = d.getLinkageName();
    DWARFDie next = d.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin);
    if (!next) next = d.getAttributeValueAsReferencedDie(dwarf::DW_AT_specification);
    d = next;
  }
  if (linkage) {
    llvm::ItaniumPartialDemangler dm;
    if (dm.partialDemangle(linkage)) return {};
    size_t n = 0;
    char *full = dm.finishDemangle(nullptr, &n);
    if (!full) return {};
    std::string out(full);
    free(full);
    if (char *ret = dm.getFunctionReturnType(nullptr, &n)) {
      std::string prefix = std::string(ret) + " ";
      free(ret);
      if (StringRef(out).starts_with(prefix)) out.erase(0, prefix.size());
    }
    return gnuClosureNames(std::move(out));
  }
  std::string name = functionNameForDie(subprogram);
  if (name.empty()) return {};
  bool canonical = name.find("<lambda") == std::string::npos &&
                   name.find("{lambda") == std::string::npos &&
                   name.find("(lambda") == std::string::npos;
  return name + functionSignature(subprogram, canonical);
}

std::string FrameVariables::dwarfFunctionName(const ModuleInfo &mod, ModuleSymbols &ms,
                                              uint64_t vaddr) {
  auto key = std::make_pair(mod.loadBias, vaddr);
  if (auto it = functionNames_.find(key); it != functionNames_.end()) return it->second;
  std::string name = ms.functionNameAt(vaddr, [&] {
    std::string name;
    if (ms.hasDwarf())
      ms.withDwarfAt(vaddr, [&](DWARFContext &ctx) {
        DWARFDie sub = subprogramAt(ctx, vaddr);
        if (!sub || dieFunctionEntry(sub) != vaddr) return;
        DWARFUnit *u = sub.getDwarfUnit();
        auto lang = u ? dwarf::toUnsigned(u->getUnitDIE(false).find(dwarf::DW_AT_language))
                      : std::nullopt;
        if (lang && (*lang == dwarf::DW_LANG_C_plus_plus || *lang == dwarf::DW_LANG_C_plus_plus_03 ||
                     *lang == dwarf::DW_LANG_C_plus_plus_11 || *lang == dwarf::DW_LANG_C_plus_plus_14))
          name = cxxSymbolName(sub);
        else if (lang && *lang == dwarf::DW_LANG_Rust)
          name = functionNameForDie(sub);  // crash_rs::main, as gdb names Rust functions
        else if (const char *n = sub.getShortName())
          name = n;  // gdb prefers the function's own name to an alias (___pthread_cond_clockwait64)
      });
    return name;
  });
  functionNames_[key] = name;
  return name;
}

std::optional<FrameVariables::SymbolHit> FrameVariables::symbolAt(uint64_t addr, bool function) {
  const ModuleInfo *mod = target_.moduleFor(addr);
  if (!mod) return std::nullopt;
  ModuleSymbols *ms = symbols_.forModule(*mod);
  uint64_t v = addr - mod->loadBias;
  for (const ElfFile *f : {ms->binary(), ms->debugFile()}) {
    if (!f) continue;
    const ElfSymbol *s = function ? f->symbolFor(v) : f->objectFor(v);
    bool isFunction = function;
    if (!s && !function) {
      // A data pointer into code: only a sized function symbol really contains it (gdb prints
      // nothing for, e.g., string literals in .rodata after the last sized symbol), or an
      // unsized one it points at exactly (__restore_rt).
      s = f->symbolFor(v);
      if (s && s->size == 0 && s->address != v) s = nullptr;
      isFunction = s != nullptr;
    }
    if (!s) continue;
    if (s->size && v >= s->address + s->size) continue;
    // gdb names functions by their full C++ name here ("f(int)"), data by the plain name.
    std::string name = isFunction ? dwarfFunctionName(*mod, *ms, s->address) : std::string();
    if (name.empty())
      name = isFunction && StringRef(s->name).starts_with("_Z")
                 ? gnuClosureNames(llvm::demangle(s->name))
                 : displayFunctionName(s->name);
    return SymbolHit{name, s->address + mod->loadBias, s->size, v - s->address, mod->path, isFunction};
  }
  return std::nullopt;
}

std::string FrameVariables::symbolizeAddress(uint64_t addr, bool function) {
  std::optional<SymbolHit> h = symbolAt(addr, function);
  if (!h) return {};
  return "<" + h->name + (h->offset ? "+" + std::to_string(h->offset) : "") + ">";
}

std::function<std::optional<uint64_t>(uint64_t)> FrameVariables::tlsAddresses(const ModuleInfo &mod,
                                                                              uint64_t threadPointer) {
  // Thread-local storage of the executable (TLS variant II, x86-64): its block is the first
  // static block, ending at the thread pointer. Shared libraries' blocks are placed by the
  // dynamic linker at offsets bt does not know: their TLS variables stay unavailable.
  if (!mod.isMainExecutable || !threadPointer) return {};
  const ElfFile *bin = symbols_.forModule(mod)->binary();
  auto tls = bin ? bin->tlsSegment() : std::nullopt;
  if (!tls) return {};
  uint64_t align = std::max<uint64_t>(tls->second, 1);
  uint64_t blockStart = threadPointer - (tls->first + align - 1) / align * align;
  return [blockStart](uint64_t offset) -> std::optional<uint64_t> { return blockStart + offset; };
}

namespace {

// Reads the variables of one frame's scopes: each location evaluated in the frame's registers
// (the environment visitorFor builds), its pieces assembled into the object's bytes, the value
// rendered like gdb and, when the owner asked for it, kept walkable.
class ScopeReader {
public:
  ScopeReader(Target &target, const PhysicalFrame &frame, uint64_t vaddr, uint64_t bias,
              ExprEnv env, PrintContext print, std::shared_ptr<ValueSession> values,
              std::function<std::optional<uint64_t>(int)> entryOfReg)
      : target_(target), frame_(frame), vaddr_(vaddr), bias_(bias), env_(std::move(env)),
        print_(std::move(print)), values_(std::move(values)), entryOfReg_(std::move(entryOfReg)) {}

  Variable read(const DWARFDie &die, const char *kind) {
    print_.nesting = strcmp(kind, "param") == 0 ? 2 : 4;  // where `bt full` prints them
    Variable v;
    v.kind = kind;
    if (const char *n = die.getShortName()) v.name = n;
    DWARFDie type = typeOfVar(die);
    v.type = typeName(type);
    uint64_t size = completedTypeSize(type, print_);
    std::string bytes;
    std::optional<uint64_t> address;
    std::vector<bool> missing;  // bytes without a location (assemble)
    if (auto cv = die.find(dwarf::DW_AT_const_value)) {
      bytes = constValueBytes(*cv, size);
    } else {
      std::string err;
      std::optional<std::string> expr = locationAt(die, dwarf::DW_AT_location, vaddr_, err);
      if (!err.empty()) {
        v.error = true;
        v.value = "<error: bad location: " + err + ">";
        return v;
      }
      if (!expr || expr->empty()) {
        v.optimizedOut = true;
        v.value = "<optimized out>";
        return v;
      }
      ExprResult r = evaluateDwarfExpr(*expr, env_);
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
        // Only a prefix of a huge object is read: arrays print their first elements and
        // "...", as gdb's element limit would; anything else says what it skipped.
        if (r.pieces.size() != 1 || r.pieces[0].kind != ExprPiece::Memory) {
          v.error = true;
          v.value = "<error: value of " + std::to_string(size) + " bytes not read>";
          return v;
        }
        size = kMaxValueBytes;
      }
      DWARFDie st = stripTypedefs(type);
      bool aggregate = st && (isClassType(st) || st.getTag() == dwarf::DW_TAG_array_type);
      if (!assemble(r, size, bytes, address, v, missing, aggregate)) {
        if (r.pieces.size() == 1 && r.pieces[0].kind == ExprPiece::ImplicitPointer)
          v.value += syntheticPointee(type, r.pieces[0], die);
        return v;
      }
    }
    v.address = address;
    if (!missing.empty()) {
      // Partly available: no walkable Value, whose missing bytes would read as zeros.
      PrintContext partial = print_;
      partial.missingBytes = missing;
      v.value = formatValue(type, bytes, address, partial);
      return v;
    }
    v.value = formatValue(type, bytes, address, print_);
    if (values_) v.handle = std::make_shared<Value>(values_, values_->types().fromDie(type, bias_),
                                                    bytes, address);
    return v;
  }

  // DW_OP_implicit_pointer: a reference to a variable that lives only in registers or as a
  // constant (a by-reference argument of an inlined call). gdb prints what it refers to:
  // "<synthetic pointer>: {a = 1, b = 2}". Bounded: the target may be implicit in turn.
  std::string syntheticPointee(const DWARFDie &type, const ExprPiece &piece, const DWARFDie &die) {
    DWARFDie t = stripTypedefs(type);
    if (!t || (t.getTag() != dwarf::DW_TAG_reference_type &&
               t.getTag() != dwarf::DW_TAG_rvalue_reference_type) ||
        piece.pointerOffset != 0 || implicitDepth_ >= 4 || !die.getDwarfUnit())
      return {};
    DWARFDie target = die.getDwarfUnit()->getContext().getDIEForOffset(piece.dieOffset);
    if (!target || (target.getTag() != dwarf::DW_TAG_variable &&
                    target.getTag() != dwarf::DW_TAG_formal_parameter))
      return {};
    ++implicitDepth_;
    Variable pointee = read(target, "local");
    --implicitDepth_;
    if (pointee.error || pointee.optimizedOut) return {};
    return ": " + pointee.value;
  }

  // gdb's x@entry: the parameter's location at the scope's entry, if a single register,
  // recomputed from the caller's call site.
  std::string entryValueOf(const DWARFDie &param, const DWARFDie &scope) {
    std::optional<uint64_t> entry = dieFunctionEntry(scope);
    if (!entry) return {};
    std::string err;
    std::optional<std::string> loc = locationAt(param, dwarf::DW_AT_location, *entry, err);
    if (!loc) return {};
    std::optional<int> reg = singleRegister(*loc);
    if (!reg) return {};
    std::optional<uint64_t> v = entryOfReg_(*reg);
    if (!v) return {};
    DWARFDie type = typeOfVar(param);
    // gdb shows a reference's entry value only from the call site's DW_AT_call_data_value (the
    // data referred to at entry), which bt does not read: none, as gdb without it.
    if (DWARFDie t = stripTypedefs(type); t && (t.getTag() == dwarf::DW_TAG_reference_type ||
                                                 t.getTag() == dwarf::DW_TAG_rvalue_reference_type))
      return {};
    uint64_t size = typeSize(type);
    if (size == 0 || size > 8) return {};
    std::string bytes(reinterpret_cast<const char *>(&*v), size);
    return formatValue(type, bytes, std::nullopt, print_);
  }

private:
  // The object's bytes from its location pieces; false when they cannot be had (v says why).
  // A piece without a location (or in a register not recovered) of an object made of several
  // leaves its bytes in `missing`: gdb prints those parts <optimized out> ({1, <optimized out>
  // <repeats 1024 times>}); the whole object is <optimized out> only when no byte is known.
  bool assemble(const ExprResult &r, uint64_t size, std::string &bytes,
                std::optional<uint64_t> &address, Variable &v, std::vector<bool> &missing,
                bool aggregate) {
    bytes.assign(size, '\0');
    missing.clear();
    uint64_t at = 0;
    auto partMissing = [&](uint64_t from, uint64_t n) {
      if (r.pieces.size() < 2) return false;
      missing.resize(size, false);
      for (uint64_t i = from; i < from + n && i < size; ++i) missing[i] = true;
      return true;
    };
    for (const ExprPiece &p : r.pieces) {
      uint64_t n = p.sizeBits ? p.sizeBits / 8 : size;
      if (at + n > size) n = size > at ? size - at : 0;
      switch (p.kind) {
        case ExprPiece::Memory:
          if (r.pieces.size() == 1) address = p.address;
          if (n && target_.readMemory(p.address, bytes.data() + at, n) != n) {
            v.address = address;  // it lives there, even if the source does not hold it
            v.error = true;
            v.value = "<error: Cannot access memory at address " + hexAddr(p.address) + ">";
            return false;
          }
          break;
        case ExprPiece::Register: {
          auto rv = frame_.regs.get(p.reg);
          if (!rv && n <= 8 && partMissing(at, n)) break;
          if (!rv || n > 8) {
            v.optimizedOut = true;
            v.value = "<optimized out>";
            return false;
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
          return false;
        case ExprPiece::Undefined:
          if (partMissing(at, n)) break;
          v.optimizedOut = true;
          v.value = "<optimized out>";
          return false;
      }
      at += n;
    }
    // Several pieces that end before the object does leave its last bytes without a location
    // (rustc's optimised closures: a 32-byte capture described by two 8-byte register pieces).
    // They are unknown, not zero: zeros would read as a plausible value (an enum's first variant,
    // a null pointer). So does one short piece of a struct, union or array (rustc 1.63 describes
    // a moved 24-byte String by its first 8 bytes: zeros made its length 0, an empty string).
    // One short piece of a scalar is its value bytes (a long double's 10 of 16): the rest is
    // padding.
    if (at < size && (r.pieces.size() >= 2 || aggregate) && r.pieces.back().sizeBits) {
      missing.resize(size, false);
      for (uint64_t i = at; i < size; ++i) missing[i] = true;
    }
    if (!missing.empty() && std::find(missing.begin(), missing.end(), false) == missing.end()) {
      v.optimizedOut = true;
      v.value = "<optimized out>";
      return false;
    }
    return true;
  }

  Target &target_;
  const PhysicalFrame &frame_;
  uint64_t vaddr_, bias_;
  ExprEnv env_;
  PrintContext print_;
  std::shared_ptr<ValueSession> values_;
  std::function<std::optional<uint64_t>(int)> entryOfReg_;
  unsigned implicitDepth_ = 0;
};

}  // namespace

ScopeVisitor FrameVariables::visitorFor(const UnwindResult &thread, size_t index,
                                        std::optional<TailCallPosition> tail) {
  const PhysicalFrame *frame = &thread.frames[index];
  std::shared_ptr<PhysicalFrame> jumped;
  if (tail) {
    // gdb's registers for a tail-call frame: the caller's, as unwound from the callee, at the
    // jump (pc), with the stack pointer the callee had at entry (its CFA less the return
    // address) and the callee's CFA, which the jump left in place.
    if (index + 1 >= thread.frames.size()) return {};
    const PhysicalFrame &callee = thread.frames[index];
    jumped = std::make_shared<PhysicalFrame>(thread.frames[index + 1]);
    jumped->pc = tail->pc();
    jumped->pcExact = false;
    jumped->signalTrampoline = false;
    jumped->how = FrameHow::TailCall;
    jumped->regs.set(kRip, tail->pc());
    jumped->cfa = callee.cfa;
    if (callee.cfa) jumped->regs.set(kRsp, callee.cfa - 8);
    else jumped->regs.clear(kRsp);
    frame = jumped.get();
  }
  const UnwindResult *th = &thread;
  return [this, frame, jumped, th, index, tail](DWARFContext &, ArrayRef<DWARFDie> scopes,
                                                std::vector<SourceLocation> &chain) {
    bool exact = frame->pcExact || frame->signalTrampoline;
    uint64_t lookup = exact ? frame->pc : frame->pc - 1;
    const ModuleInfo *mod = target_.moduleFor(lookup);
    if (!mod || scopes.empty()) return;
    StdPrinterMemoScope memo(printerMemo_);
    FrameEnv fe{&target_, frame, mod->loadBias, lookup - mod->loadBias, scopes[0].getDwarfUnit()};
    ExprEnv baseEnv = makeEnv(fe);
    uint64_t functionEntry = dieFunctionEntry(scopes.back()).value_or(0) + mod->loadBias;
    baseEnv.tls = tlsAddresses(*mod, th->threadPointer);
    auto entryOfReg = [this, th, index, functionEntry, tail](int reg) {
      return entryRegisterValue(*th, index, reg, functionEntry, 0, tail);
    };
    baseEnv.entryValue = [entryOfReg](StringRef sub) -> std::optional<uint64_t> {
      if (auto r = singleRegister(sub)) return entryOfReg(*r);
      return std::nullopt;
    };
    // The frame base belongs to the physical function: the outermost scope.
    std::string fbErr;
    if (auto fb = locationAt(scopes.back(), dwarf::DW_AT_frame_base, fe.vaddr, fbErr)) {
      baseEnv.frameBase = locationAsAddress(evaluateDwarfExpr(*fb, baseEnv), frame->regs);
    }
    ScopeReader reader(target_, *frame, fe.vaddr, fe.bias, baseEnv, printContext(), values_,
                       entryOfReg);
    for (size_t k = 0; k < scopes.size() && k < chain.size(); ++k) {
      std::vector<Variable> &out = chain[k].variables;
      const DWARFDie &scope = scopes[k];
      for (const DWARFDie &c : childrenWithInherited(scope))
        // Unnamed parameters (`void f(int)`) are not shown, as in gdb.
        if (c.getTag() == dwarf::DW_TAG_formal_parameter && c.getShortName()) {
          uint64_t liveReads = target_.readsAfterRelease();
          Variable v = reader.read(c, "param");
          // Entry values describe the physical function's entry; gdb also shows them for the
          // parameters of inlined frames, from the same registers, which do not describe the
          // inlined call: bt shows them for the physical function only.
          if (k + 1 == scopes.size()) v.entryValue = reader.entryValueOf(c, scope);
          v.readAfterRelease = target_.readsAfterRelease() != liveReads;
          out.push_back(std::move(v));
        }
      std::vector<DWARFDie> blocks = blockChain(scope, fe.vaddr);
      // gdb treats a lexical block without addresses as part of its parent (dwarf2/read.c:
      // "process its children as if there was no wrapping"): its variables are listed with the
      // enclosing block's.
      std::function<void(const DWARFDie &, int)> addLocals = [&](const DWARFDie &b, int depth) {
        for (const DWARFDie &c : childrenWithInherited(b)) {
          // Artificial locals too (a lambda's captures): gdb lists them.
          if (c.getTag() == dwarf::DW_TAG_variable && !c.find(dwarf::DW_AT_declaration) &&
              c.getShortName()) {
            uint64_t liveReads = target_.readsAfterRelease();
            out.push_back(reader.read(c, "local"));
            out.back().readAfterRelease = target_.readsAfterRelease() != liveReads;
          }
          else if (c.getTag() == dwarf::DW_TAG_lexical_block && depth < 32 &&
                   !c.find(dwarf::DW_AT_low_pc) && !c.find(dwarf::DW_AT_ranges))
            addLocals(c, depth + 1);
        }
      };
      for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) addLocals(*b, 0);
    }
  };
}

Variable FrameVariables::readStaticVariable(const DWARFDie &var, const ModuleInfo &mod,
                                            uint64_t threadPointer,
                                            std::function<std::optional<uint64_t>(uint64_t)> tls) {
  // Static storage needs no frame: its location is an address (or a TLS offset).
  static const PhysicalFrame kNoFrame{};
  ExprEnv env = memoryEnv(&target_, mod.loadBias, var.getDwarfUnit());
  env.tls = tls ? std::move(tls) : tlsAddresses(mod, threadPointer);
  ScopeReader reader(target_, kNoFrame, 0, mod.loadBias, std::move(env), printContext(), values_, {});
  return reader.read(var, "global");
}

}  // namespace bt
