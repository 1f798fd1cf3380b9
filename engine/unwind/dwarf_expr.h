// DWARF expression evaluator (DWARF 2-5 plus the GNU extensions compilers emit): the stack
// machine behind CFI rules and variable locations. The result is a list of pieces, each in
// memory, in a register, an implicit value, an implicit pointer or undefined (optimized out),
// so a variable split between registers and stack (DW_OP_piece) is described exactly.
// Everything the expression needs from outside (registers, memory, frame base, CFA, .debug_addr,
// entry values, TLS) comes through ExprEnv; a missing input makes the evaluation fail with a
// reason rather than guess. Every loop is bounded.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bt {

struct ExprPiece {
  enum Kind { Memory, Register, Value, ImplicitValue, ImplicitPointer, Undefined };
  Kind kind = Undefined;
  uint64_t address = 0;  // Memory
  int reg = -1;          // Register (DWARF number)
  uint64_t value = 0;    // Value (DW_OP_stack_value)
  std::string bytes;     // ImplicitValue
  uint64_t dieOffset = 0;  // ImplicitPointer: the variable pointed to
  int64_t pointerOffset = 0;
  uint64_t sizeBits = 0;   // 0: the whole object (no DW_OP_piece)
  uint64_t bitOffset = 0;  // DW_OP_bit_piece offset
};

struct ExprResult {
  std::vector<ExprPiece> pieces;  // empty with ok=true: no location (optimized out)
  bool ok = false;
  std::string error;  // why it failed ("register rdx not saved in this frame", ...)

  // The single-location helpers used by CFI: top-of-stack as an address or value.
  std::optional<uint64_t> scalar() const;
};

struct ExprEnv {
  std::function<std::optional<uint64_t>(int reg)> reg;
  std::function<std::optional<uint64_t>(uint64_t addr, unsigned size)> mem;
  std::optional<uint64_t> frameBase;  // DW_OP_fbreg
  std::optional<uint64_t> cfa;        // DW_OP_call_frame_cfa
  uint64_t loadBias = 0;              // added to DW_OP_addr / addrx results
  std::function<std::optional<uint64_t>(uint64_t index)> addrx;    // .debug_addr lookup
  std::function<std::optional<uint64_t>(llvm::StringRef)> entryValue;
  std::function<std::optional<uint64_t>(uint64_t offset)> tls;      // TLS offset -> address
};

ExprResult evaluateDwarfExpr(llvm::StringRef expr, const ExprEnv &env,
                             std::optional<uint64_t> initial = std::nullopt);

}  // namespace bt
