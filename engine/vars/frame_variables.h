// FrameVariables: the parameters and locals of every frame (inlined frames included), read the
// way gdb's `bt full` shows them. For one physical frame it returns a ScopeVisitor that the
// Symbolizer calls while the frame's compile unit is parsed: it walks the scope DIEs (the
// function or inlined subroutine, then the lexical blocks that contain the pc, innermost first),
// evaluates each variable's location (exprloc or location list) with the frame's registers, CFA
// and frame base, reads the bytes through the Target and renders them with ValuePrinter.
// Registers the unwinder could not recover make a value <optimized out>, never a guess.
#pragma once

#include "symbols/symbolizer.h"
#include "target/target.h"
#include "unwind/backtrace.h"
#include "unwind/unwinder.h"
#include "vars/std_printers.h"
#include "vars/value.h"
#include "vars/value_printer.h"

#include <map>

namespace bt {

class FrameVariables {
public:
  FrameVariables(Target &target, Symbolizer &symbols) : target_(target), symbols_(symbols) {}

  // Visitor for frame `index` of an unwound thread, or for the tail-call frame `tail` above it;
  // valid while `thread` lives.
  ScopeVisitor visitorFor(const UnwindResult &thread, size_t index,
                          std::optional<TailCallPosition> tail = std::nullopt);

  // A variable with static storage (global, file or function static, thread-local of the
  // executable) from its DIE in `mod`'s DWARF, read and rendered as frame variables are.
  // `threadPointer`: fs_base of the thread whose TLS block thread-locals are read in (0: none).
  // `tls`, when given, says where a TLS offset of `mod` lives (a shared library's block, which
  // only the dynamic linker's data tell); else only the executable's thread-locals are read.
  Variable readStaticVariable(const llvm::DWARFDie &var, const ModuleInfo &mod, uint64_t threadPointer,
                              std::function<std::optional<uint64_t>(uint64_t)> tls = {});

  // The ELF symbol containing `addr`: a function (`function`), else a data object (or a sized
  // function a data pointer points into), named as gdb's <symbol+off> shows it.
  struct SymbolHit {
    std::string name;
    uint64_t address = 0, size = 0, offset = 0;  // runtime start, size, addr - start
    std::string module;
    bool function = false;
  };
  std::optional<SymbolHit> symbolAt(uint64_t addr, bool function);
  // Target reads and <symbol> lookup for ValuePrinter.
  PrintContext printContext();

  // From now on, variables also carry a walkable Value (Variable::handle) reading through
  // `session` (which the owner closes when the target goes away). Off by default: bt prints
  // strings only.
  void keepValues(std::shared_ptr<ValueSession> session) { values_ = std::move(session); }
  // Where the definitions of classes a unit only declares are found (PrintContext::completeType);
  // empty: such values print as "<incomplete type>".
  void setTypeCompleter(std::function<llvm::DWARFDie(const llvm::DWARFDie &)> completer) {
    typeCompleter_ = std::move(completer);
  }

private:
  std::string symbolizeAddress(uint64_t addr, bool function);
  // Where a static data member's definition is, in any module, by its symbol (nullopt: none).
  std::optional<uint64_t> staticMemberAddress(const llvm::DWARFDie &member);
  // The executable's TLS offset -> address for a thread (empty for other modules).
  std::function<std::optional<uint64_t>(uint64_t)> tlsAddresses(const ModuleInfo &mod,
                                                                uint64_t threadPointer);
  // gdb's DWARF-based name of the C++ function entered at link-time `vaddr` ("" if none).
  std::string dwarfFunctionName(const ModuleInfo &mod, ModuleSymbols &ms, uint64_t vaddr);
  // The value DWARF register `reg` had when the function of frame `index` was entered,
  // recomputed in its caller's frame from the call site's DW_AT_call_value (gdb's x@entry).
  // `calleeEntry` is the runtime entry address of that function. With `tail`, the function is
  // that of the tail-call frame above frame `index` instead.
  std::optional<uint64_t> entryRegisterValue(const UnwindResult &thread, size_t index, int reg,
                                             uint64_t calleeEntry, int depth = 0,
                                             std::optional<TailCallPosition> tail = std::nullopt);

  Target &target_;
  Symbolizer &symbols_;
  std::shared_ptr<ValueSession> values_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> functionNames_;  // (bias, vaddr) -> name
  StdPrinterMemo printerMemo_;  // every frame's values share the summaries' type lookups
  std::map<std::string, std::optional<uint64_t>> staticAddresses_;      // symbol -> runtime address
  std::function<llvm::DWARFDie(const llvm::DWARFDie &)> typeCompleter_;
};

}  // namespace bt
