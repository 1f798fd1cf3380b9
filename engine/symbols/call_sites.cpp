// Tail-call frame reconstruction from DWARF call-site information (DW_TAG_call_site, DWARF 5,
// and DW_TAG_GNU_call_site). A function that ends in a tail call leaves no return address on the
// stack, so CFI unwinding goes straight from the callee to the caller of the function that made
// the tail call. gdb fills the gap (its "tailcall frames"); so do we, when the chain is unique.
#include "symbols/call_sites.h"
#include "symbols/answer_cache.h"

#include "symbols/elf_file.h"
#include "symbols/symbolizer.h"
#include "support/fault_guard.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFCompileUnit.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>

#include <functional>
#include <set>

namespace bt {

using namespace llvm;

namespace {
constexpr int kMaxChainDepth = 6;
constexpr size_t kMaxPaths = 16;
}  // namespace

std::optional<uint64_t> dieFunctionEntry(const DWARFDie &fn) {
  if (!fn) return std::nullopt;
  // DW_AT_entry_pc first: an inlined block's entry (gdb's block entry pc) may follow low_pc.
  if (auto entry = dwarf::toAddress(fn.find(dwarf::DW_AT_entry_pc))) return *entry;
  if (auto lo = dwarf::toAddress(fn.find(dwarf::DW_AT_low_pc))) return *lo;
  auto ranges = fn.getAddressRanges();
  if (!ranges) {
    consumeError(ranges.takeError());
    return std::nullopt;
  }
  if (ranges->empty()) return std::nullopt;
  return ranges->front().LowPC;
}

void collectCallSites(const DWARFDie &die, std::vector<CallSite> &out, int depth) {
  if (depth > 64) return;
  for (const DWARFDie &child : die.children()) {
    dwarf::Tag tag = child.getTag();
    if (tag == dwarf::DW_TAG_call_site || tag == dwarf::DW_TAG_GNU_call_site) {
      CallSite cs;
      cs.die = child;
      auto ret = dwarf::toAddress(child.find(tag == dwarf::DW_TAG_call_site
                                                 ? dwarf::DW_AT_call_return_pc
                                                 : dwarf::DW_AT_low_pc));
      if (!ret) continue;
      cs.returnPc = *ret;
      cs.tail = child.find(dwarf::DW_AT_call_tail_call) || child.find(dwarf::DW_AT_GNU_tail_call);
      out.push_back(cs);
    } else if (tag == dwarf::DW_TAG_lexical_block || tag == dwarf::DW_TAG_inlined_subroutine) {
      collectCallSites(child, out, depth + 1);
    }
  }
}

DWARFDie callSiteOrigin(const CallSite &cs) {
  DWARFDie origin = cs.die.getAttributeValueAsReferencedDie(dwarf::DW_AT_call_origin);
  if (!origin) origin = cs.die.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin);
  return origin;
}

// The symbol name a declared call target is looked up by, as gdb does: its linkage name; else,
// in C, its name. A C++ unit's declaration without a linkage name (an extern "C" function such
// as pause) gets a physname with parameters from gdb ("pause()") that no symbol has, so gdb
// cannot follow such a call — and bt does not either, to show the frames gdb shows.
static const char *declaredTargetName(const DWARFDie &origin) {
  for (dwarf::Attribute a : {dwarf::DW_AT_linkage_name, dwarf::DW_AT_MIPS_linkage_name})
    if (auto v = origin.find(a))
      if (auto s = v->getAsCString()) return *s;
  DWARFDie unit = origin.getDwarfUnit()->getUnitDIE(false);
  if (auto lang = dwarf::toUnsigned(unit.find(dwarf::DW_AT_language)))
    if (dwarf::isCPlusPlus(dwarf::SourceLanguage(*lang))) return nullptr;
  return origin.getShortName();
}

std::string callSiteTargetName(const CallSite &cs) {
  DWARFDie origin = callSiteOrigin(cs);
  const char *name = origin ? declaredTargetName(origin) : nullptr;
  return name ? name : "";
}

std::optional<uint64_t> callSiteTarget(const CallSite &cs, const ModuleSymbols &syms) {
  DWARFDie origin = callSiteOrigin(cs);
  if (!origin) return std::nullopt;
  if (auto e = dieFunctionEntry(origin)) return e;
  // A declaration or abstract instance: find the out-of-line copy through the symbol table.
  if (const char *name = declaredTargetName(origin))
    if (uint64_t a = syms.symbolAddress(name)) return a;
  return std::nullopt;
}

DWARFDie subprogramAt(DWARFContext &ctx, uint64_t vaddr) {
  // getDIEsForAddress may return the innermost inlined subroutine: climb to the subprogram.
  DWARFDie d = ctx.getDIEsForAddress(vaddr).FunctionDIE;
  while (d && d.getTag() != dwarf::DW_TAG_subprogram) d = d.getParent();
  return d;
}

DWARFDie subprogramAt(DWARFUnit &unit, uint64_t vaddr) {
  DWARFDie d = unit.getSubroutineForAddress(vaddr);  // what getDIEsForAddress finds in its unit
  while (d && d.getTag() != dwarf::DW_TAG_subprogram) d = d.getParent();
  return d;
}

uint64_t ModuleSymbols::symbolAddress(StringRef name) const {
  for (const ElfFile *f : {debug_.get(), binary_.get()})
    if (f)
      if (uint64_t a = f->addressOf(name)) return a;
  return 0;
}

uint64_t ModuleSymbols::objectAddress(StringRef name) const {
  for (const ElfFile *f : {debug_.get(), binary_.get()})
    if (f)
      if (uint64_t a = f->objectAddress(name)) return a;
  return 0;
}

std::vector<uint64_t> ModuleSymbols::tailCallChain(uint64_t firstTarget, uint64_t calleePc) {
  std::vector<uint64_t> chain;
  AnswerCache *memo = answers();
  if (memo && memo->findChain(firstTarget, calleePc, chain)) return chain;
  chain = guardedTailCallSearch(firstTarget, calleePc, nullptr);
  if (memo && !dwarfBroken_ && !(opts_.interrupted && opts_.interrupted()))
    memo->addChain(firstTarget, calleePc, chain);
  return chain;
}

std::vector<uint64_t> ModuleSymbols::tailCallChainOut(uint64_t firstTarget,
                                                      function_ref<bool(StringRef)> isCallee) {
  return guardedTailCallSearch(firstTarget, std::nullopt, isCallee);
}

std::vector<uint64_t> ModuleSymbols::guardedTailCallSearch(uint64_t firstTarget,
                                                           std::optional<uint64_t> calleePc,
                                                           function_ref<bool(StringRef)> isExternalCallee) {
  if (dwarfBroken_) return {};
  // Rare (only where a call site's target is not the callee): a context of its own, freed on
  // return, keeps the DIEs it parses out of the batched symbolization's memory budget.
  std::unique_ptr<DWARFContext> ctx = scratchContext();
  if (!ctx) return {};
  std::vector<uint64_t> chain;
  std::string fault;
  if (!runGuarded([&] { chain = searchTailCalls(*ctx, firstTarget, calleePc, isExternalCallee); }, &fault)) {
    (void)ctx.release();  // state unknown after a fault: abandon, do not destroy
    markDwarfBroken(fault);
    return {};
  }
  return chain;
}

std::vector<uint64_t> ModuleSymbols::searchTailCalls(DWARFContext &dctx, uint64_t firstTarget,
                                                     std::optional<uint64_t> calleePc,
                                                     function_ref<bool(StringRef)> isExternalCallee) {
  DWARFContext *ctx = &dctx;
  auto targetEntry = [&](const CallSite &cs) { return callSiteTarget(cs, *this); };
  auto functionAt = [&](uint64_t vaddr) { return subprogramAt(*ctx, vaddr); };
  // The callee is here (calleePc), or in another module, named by a declaration here.
  std::optional<uint64_t> calleeEntry;
  if (calleePc) {
    calleeEntry = dieFunctionEntry(functionAt(*calleePc));
    if (!calleeEntry || firstTarget == *calleeEntry) return {};
  } else if (!isExternalCallee) {
    return {};
  }
  std::optional<uint64_t> first = firstTarget;

  // Depth-first search over tail-call sites from the called function to the callee.
  std::vector<std::vector<uint64_t>> paths;
  std::vector<uint64_t> path;
  std::set<uint64_t> onPath;
  std::function<void(uint64_t, int)> dfs = [&](uint64_t entry, int depth) {
    if (paths.size() > kMaxPaths || depth > kMaxChainDepth || !onPath.insert(entry).second) return;
    DWARFDie fn = functionAt(entry);
    std::vector<CallSite> tails;
    if (fn) collectCallSites(fn, tails);
    for (const CallSite &cs : tails) {
      if (!cs.tail) continue;
      std::optional<uint64_t> t = targetEntry(cs);
      path.push_back(cs.returnPc);
      if (t && calleeEntry && *t == *calleeEntry) {
        paths.push_back(path);
      } else if (t) {
        dfs(*t, depth + 1);
      } else if (isExternalCallee) {
        // A function declared here and defined in another module (a tail call through the PLT).
        std::string name = callSiteTargetName(cs);
        if (!name.empty() && isExternalCallee(name)) paths.push_back(path);
      }
      path.pop_back();
    }
    onPath.erase(entry);
  };
  dfs(*first, 0);
  if (paths.empty() || paths.size() > kMaxPaths) return {};
  for (const auto &p : paths)
    if (p != paths.front()) return {};  // ambiguous: show nothing rather than guess
  return std::vector<uint64_t>(paths.front().rbegin(), paths.front().rend());
}

std::optional<CallSiteInfo> ModuleSymbols::findCallSite(DWARFContext &ctx, uint64_t returnAddress,
                                                        bool tail, DWARFUnit *unit) {
  DWARFDie fn = unit ? subprogramAt(*unit, returnAddress - 1) : subprogramAt(ctx, returnAddress - 1);
  if (!fn) return std::nullopt;
  std::vector<CallSite> sites;
  collectCallSites(fn, sites);
  for (const CallSite &cs : sites) {
    if (cs.returnPc != returnAddress || cs.tail != tail) continue;
    CallSiteInfo info;
    info.target = callSiteTarget(cs, *this).value_or(0);
    if (!info.target) info.targetName = callSiteTargetName(cs);
    if (!info.target)
      for (dwarf::Attribute a : {dwarf::DW_AT_call_target, dwarf::DW_AT_GNU_call_site_target})
        if (auto t = cs.die.find(a))
          if (auto b = t->getAsBlock()) {
            info.targetExpr.assign(b->begin(), b->end());
            break;
          }
    for (const DWARFDie &p : cs.die.children()) {
      dwarf::Tag tag = p.getTag();
      if (tag != dwarf::DW_TAG_call_site_parameter && tag != dwarf::DW_TAG_GNU_call_site_parameter)
        continue;
      auto loc = p.find(dwarf::DW_AT_location);
      auto val = p.find(tag == dwarf::DW_TAG_call_site_parameter ? dwarf::DW_AT_call_value
                                                                 : dwarf::DW_AT_GNU_call_site_value);
      if (!loc || !val) continue;
      auto lb = loc->getAsBlock();
      auto vb = val->getAsBlock();
      if (!lb || !vb) continue;
      info.parameters.emplace_back(std::string(lb->begin(), lb->end()),
                                   std::string(vb->begin(), vb->end()));
    }
    if (auto fb = fn.find(dwarf::DW_AT_frame_base))
      if (auto b = fb->getAsBlock()) info.callerFrameBase.assign(b->begin(), b->end());
    return info;
  }
  return std::nullopt;
}

void ModuleSymbols::prefillCallSites(const std::vector<uint64_t> &returnAddresses) {
  // Known from this run, else from the answer cache (a warm capture), else looked up below.
  AnswerCache *memo = answers();
  std::vector<uint64_t> todo;
  for (uint64_t ra : returnAddresses) {
    if (callSites_.count(ra)) continue;
    std::optional<CallSiteInfo> known;
    if (memo && memo->findCallSite(ra, known)) callSites_.emplace(ra, std::move(known));
    else todo.push_back(ra);
  }
  if (todo.empty() || dwarfBroken_) return;
  DWARFContext *idx = index();
  if (!idx) return;
  // Same batching as symbolization: by compile unit, a short-lived context per batch.
  std::map<uint64_t, std::vector<uint64_t>> byUnit;
  std::string fault;
  if (!runGuarded(
          [&] {
            for (uint64_t ra : todo)
              if (DWARFCompileUnit *cu = idx->getCompileUnitForCodeAddress(ra - 1))
                byUnit[cu->getOffset()].push_back(ra);
          },
          &fault)) {
    (void)index_.release();
    markDwarfBroken(fault);
    return;
  }
  releaseMappedPages();  // what finding the units read (see computeBatch)
  // Batches of units in pairs: a thread of its own extracts the second batch's DIEs while this
  // one extracts the first's and reads its call sites (the reading is little work: the two
  // extractions are most of it).
  using UnitIt = std::map<uint64_t, std::vector<uint64_t>>::iterator;
  constexpr size_t kUnitsPerBatch = 8;
  auto batchFrom = [&](UnitIt from, UnitIt &to) {
    std::vector<BatchUnit> units;
    for (to = from; to != byUnit.end() && units.size() < kUnitsPerBatch; ++to)
      units.push_back(BatchUnit{to->first, to->second.front() - 1, false});  // its address map
    return units;
  };
  auto readBatch = [&](BatchContext &b, UnitIt from, UnitIt to) {
    DWARFContext *ctx = b.ctx.get();
    // Each return address's unit is known (the index found it): looked up in it, not through
    // the context's address ranges of the whole module, which it would build for the purpose.
    bool ok = ctx && runGuarded(
                         [&] {
                           for (auto u = from; u != to; ++u) {
                             if (!unitIsSane(*ctx, u->first)) continue;
                             DWARFCompileUnit *cu = ctx->getCompileUnitForOffset(u->first);
                             for (uint64_t ra : u->second) callSites_[ra] = findCallSite(*ctx, ra, false, cu);
                           }
                         },
                         &fault);
    return endBatch(b, ok, fault);
  };
  for (UnitIt it = byUnit.begin(); it != byUnit.end() && !dwarfBroken_;) {
    UnitIt mid, end;
    std::vector<BatchUnit> first = batchFrom(it, mid), second = batchFrom(mid, end);
    std::unique_ptr<BatchContext> background = second.empty() ? nullptr : prepareBatch(second, Preparation::Thread);
    std::unique_ptr<BatchContext> here = dwarfBroken_ ? nullptr : prepareBatch(first, Preparation::Here);
    if (!here || !finishBatch(*here) || !readBatch(*here, it, mid)) return;
    if (background) {
      if (!finishBatch(*background)) background = prepareBatch(second, Preparation::Here);  // faulted there: again here
      if (!background || !finishBatch(*background) || !readBatch(*background, mid, end)) return;
    }
    it = end;
  }
  if (dwarfBroken_) return;
  for (uint64_t ra : todo) callSites_.try_emplace(ra, std::nullopt);
  if (memo && !(opts_.interrupted && opts_.interrupted()))
    for (uint64_t ra : todo) memo->addCallSite(ra, callSites_[ra]);
  releaseMappedPages();
}

bool ModuleSymbols::withDwarfAt(uint64_t vaddr, llvm::function_ref<void(DWARFContext &)> fn) {
  DWARFContext *idx = dwarfBroken_ ? nullptr : index();
  if (!idx) return false;
  std::optional<uint64_t> unit;
  std::string fault;
  if (!runGuarded(
          [&] {
            if (DWARFCompileUnit *cu = idx->getCompileUnitForCodeAddress(vaddr)) unit = cu->getOffset();
          },
          &fault)) {
    (void)index_.release();
    markDwarfBroken(fault);
    return false;
  }
  if (!unit || !unitShapeOk(*unit)) return false;
  return withLookupDwarf(fn);
}

std::string ModuleSymbols::functionNameAt(uint64_t vaddr, llvm::function_ref<std::string()> compute) {
  AnswerCache *memo = answers();
  std::string name;
  if (memo && memo->findFunctionName(vaddr, name)) return name;
  name = compute();
  if (memo && !dwarfBroken_) memo->addFunctionName(vaddr, name);
  return name;
}

bool ModuleSymbols::withLookupDwarf(llvm::function_ref<void(DWARFContext &)> fn) {
  if (dwarfBroken_) return false;
  // The index itself: a context of its own would parse every unit header again (and, with
  // 1,200 units, map another 80 MB of .debug_info around them).
  DWARFContext *ctx = index();
  if (!ctx) return false;
  std::string fault;
  if (!runGuarded([&] { fn(*ctx); }, &fault)) {
    (void)index_.release();  // its state is unknown after a fault: leaked, never touched again
    markDwarfBroken(fault);
    return false;
  }
  return true;
}

std::optional<CallSiteInfo> ModuleSymbols::tailCallSite(uint64_t returnAddress) {
  if (auto cached = tailSites_.find(returnAddress); cached != tailSites_.end()) return cached->second;
  std::optional<CallSiteInfo> info;
  if (!dwarfBroken_)
    if (std::unique_ptr<DWARFContext> ctx = scratchContext()) {
      std::string fault;
      if (!runGuarded([&] { info = findCallSite(*ctx, returnAddress, /*tail=*/true); }, &fault)) {
        (void)ctx.release();  // state unknown after a fault: abandon, do not destroy
        markDwarfBroken(fault);
        info.reset();
      }
    }
  tailSites_.emplace(returnAddress, info);
  return info;
}

std::optional<CallSiteInfo> ModuleSymbols::callSite(uint64_t returnAddress) {
  auto cached = callSites_.find(returnAddress);
  if (cached != callSites_.end()) return cached->second;
  prefillCallSites({returnAddress});
  cached = callSites_.find(returnAddress);
  return cached != callSites_.end() ? cached->second : std::nullopt;
}

std::vector<uint64_t> Symbolizer::tailCallChain(const Target &t, uint64_t calleePc,
                                                bool calleeExact, const PcInfo &callee,
                                                const PcInfo &caller) {
  uint64_t calleeLookup = calleeExact ? calleePc : calleePc - 1;
  const ModuleInfo *mod = t.moduleFor(calleeLookup);
  if (!mod || !callee.functionEntry) return {};
  ModuleSymbols *ms = forModule(*mod);
  uint64_t first = caller.callTarget;
  // A call into another module (through the PLT) names a declaration there: resolve it by
  // name in the callee's module, as gdb does with minimal symbols.
  if (!first && !caller.callTargetName.empty())
    if (uint64_t a = ms->symbolAddress(caller.callTargetName)) first = a + mod->loadBias;
  if (!first || first == callee.functionEntry) return {};
  const ModuleInfo *firstMod = t.moduleFor(first);
  if (!firstMod) return {};
  if (firstMod != mod) {
    // The caller called a function of another module that tail-called into the callee's module
    // (block() -> pause@plt): the chain is in the first module, ending at a declaration whose
    // name is the callee's in its own module.
    auto isCallee = [&](StringRef name) {
      uint64_t a = ms->symbolAddress(name);
      return a && a + mod->loadBias == callee.functionEntry;
    };
    std::vector<uint64_t> chain = forModule(*firstMod)->tailCallChainOut(first - firstMod->loadBias, isCallee);
    for (uint64_t &pc : chain) pc += firstMod->loadBias;
    return chain;
  }
  std::vector<uint64_t> chain =
      ms->tailCallChain(first - mod->loadBias, calleeLookup - mod->loadBias);
  for (uint64_t &pc : chain) pc += mod->loadBias;
  return chain;
}

}  // namespace bt
