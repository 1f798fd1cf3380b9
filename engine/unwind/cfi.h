// DWARF call-frame information for x86-64: finds the FDE covering a PC (through .eh_frame_hdr's
// binary-search table, or a sorted index of .eh_frame / .debug_frame built on first use), parses
// the CIE/FDE, and runs the CFA program up to the PC to get the unwind row. Every read is bounds-
// checked and every loop bounded, so corrupt .eh_frame data yields "no row", never a crash.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bt {

struct RegRule {
  enum Kind : uint8_t { Unspecified, Undefined, SameValue, Offset, ValOffset, Register, Expression,
                        ValExpression };
  Kind kind = Unspecified;
  int64_t offset = 0;  // Offset/ValOffset
  int reg = 0;         // Register
  llvm::StringRef expr;  // Expression/ValExpression (DWARF expression bytes)
};

constexpr int kCfiRegs = 17;  // DWARF 0..16 (rax..r15, return address)

struct CfiRow {
  bool cfaIsExpr = false;
  int cfaReg = 7;
  int64_t cfaOffset = 8;
  llvm::StringRef cfaExpr;
  RegRule regs[kCfiRegs];
  int returnAddressReg = 16;
  bool signalFrame = false;  // 'S' augmentation
};

// One section of CFI as mapped at link time.
struct CfiSection {
  llvm::StringRef data;
  uint64_t vaddr = 0;  // link-time address of data[0] (needed for pc-relative pointers)
  bool isEhFrame = true;
};

class CfiTable {
public:
  // ehFrameHdr may be empty; debugFrame may be empty.
  CfiTable(CfiSection ehFrame, CfiSection ehFrameHdr, CfiSection debugFrame);

  // Unwind row for a link-time pc, if any FDE covers it.
  std::optional<CfiRow> rowFor(uint64_t vaddr);

  // Number of FDEs seen when an index had to be built (for tests/diagnostics).
  size_t indexedFdes() const { return ehIndex_.size() + debugIndex_.size(); }

private:
  struct FdeRef {
    uint64_t start, end;
    uint64_t offset;  // offset of the FDE in its section
  };
  std::optional<uint64_t> searchHdr(uint64_t vaddr);
  void buildIndex(const CfiSection &sec, std::vector<FdeRef> &out);
  std::optional<CfiRow> rowFromFde(const CfiSection &sec, uint64_t fdeOffset, uint64_t vaddr);

  CfiSection eh_, hdr_, debug_;
  bool ehIndexed_ = false, debugIndexed_ = false;
  std::vector<FdeRef> ehIndex_, debugIndex_;
};

// Evaluates a DWARF expression used by CFI (and later by variable locations): a bounded stack
// machine over the registers of the frame being unwound. `initial` is pushed first when set
// (DW_CFA_expression pushes the CFA). Returns nullopt when a needed register/memory is unknown.
struct ExprContext {
  std::optional<uint64_t> (*readReg)(void *ctx, int reg);
  std::optional<uint64_t> (*readMem)(void *ctx, uint64_t addr, unsigned size);
  void *ctx;
};
std::optional<uint64_t> evalDwarfExpr(llvm::StringRef expr, const ExprContext &ec,
                                      std::optional<uint64_t> initial);

}  // namespace bt
