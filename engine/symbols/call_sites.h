// Internal helpers over DWARF call-site DIEs (DW_TAG_call_site / DW_TAG_GNU_call_site), shared by
// the batched symbolizer (which call does a return address belong to) and tail-call
// reconstruction. Not part of the engine API.
#pragma once

#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>

#include <optional>
#include <string>
#include <vector>

namespace bt {

class ModuleSymbols;

struct CallSite {
  uint64_t returnPc = 0;
  bool tail = false;
  llvm::DWARFDie die;
};

// Entry address of a subprogram or inlined-subroutine DIE (entry_pc, low_pc or its first range).
std::optional<uint64_t> dieFunctionEntry(const llvm::DWARFDie &fn);
// Call sites inside a function, inlined bodies included, nested functions excluded.
void collectCallSites(const llvm::DWARFDie &fn, std::vector<CallSite> &out, int depth = 0);
// The DIE of the function a call site calls (DW_AT_call_origin / DW_AT_abstract_origin).
llvm::DWARFDie callSiteOrigin(const CallSite &cs);
// Entry address of the function a call site calls (via its origin DIE or the symbol table).
std::optional<uint64_t> callSiteTarget(const CallSite &cs, const ModuleSymbols &syms);
// The symbol name the called function is looked up by in the module that defines it, as gdb
// does (its linkage name; in C its name); "" when there is none to look up.
std::string callSiteTargetName(const CallSite &cs);
// The (outermost, not inlined) subprogram DIE holding an address.
llvm::DWARFDie subprogramAt(llvm::DWARFContext &ctx, uint64_t vaddr);
// The same within a unit already known to cover `vaddr` (no module-wide address lookup).
llvm::DWARFDie subprogramAt(llvm::DWARFUnit &unit, uint64_t vaddr);

}  // namespace bt
