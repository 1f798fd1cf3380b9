#include "unwind/cfi.h"

#include "support/byte_cursor.h"
#include "unwind/dwarf_expr.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <algorithm>
#include <cstring>

namespace bt {

using namespace llvm;

namespace {

// A factored offset times the CIE's data alignment, wrapping like the unsigned address arithmetic
// it feeds (a hostile CIE must not make it signed overflow: found by cfi_fuzz under UBSan).
int64_t scaled(int64_t factored, int64_t align) { return int64_t(uint64_t(factored) * uint64_t(align)); }

// Decodes a DW_EH_PE_* encoded pointer; `sectionVaddr` locates the cursor for pcrel.
std::optional<uint64_t> readEncoded(Cursor &c, uint8_t enc, uint64_t sectionVaddr,
                                    uint64_t dataRelBase = 0) {
  if (enc == dwarf::DW_EH_PE_omit) return std::nullopt;
  uint64_t fieldAddr = sectionVaddr + c.pos;
  uint64_t v;
  switch (enc & 0x0f) {
    case dwarf::DW_EH_PE_absptr: v = c.get<uint64_t>(); break;
    case dwarf::DW_EH_PE_uleb128: v = c.uleb(); break;
    case dwarf::DW_EH_PE_udata2: v = c.get<uint16_t>(); break;
    case dwarf::DW_EH_PE_udata4: v = c.get<uint32_t>(); break;
    case dwarf::DW_EH_PE_udata8: v = c.get<uint64_t>(); break;
    case dwarf::DW_EH_PE_sleb128: v = uint64_t(c.sleb()); break;
    case dwarf::DW_EH_PE_sdata2: v = uint64_t(int64_t(c.get<int16_t>())); break;
    case dwarf::DW_EH_PE_sdata4: v = uint64_t(int64_t(c.get<int32_t>())); break;
    case dwarf::DW_EH_PE_sdata8: v = c.get<uint64_t>(); break;
    default: c.ok = false; return std::nullopt;
  }
  switch (enc & 0x70) {
    case 0: break;
    case dwarf::DW_EH_PE_pcrel: v += fieldAddr; break;
    case dwarf::DW_EH_PE_datarel: v += dataRelBase; break;
    default: break;  // textrel/funcrel are not used on x86-64 Linux
  }
  if (!c.ok) return std::nullopt;
  return v;
}

struct Cie {
  uint64_t codeAlign = 1;
  int64_t dataAlign = -8;
  int raReg = 16;
  uint8_t fdeEnc = dwarf::DW_EH_PE_absptr;
  bool hasAugData = false;
  bool signalFrame = false;
  StringRef instructions;
};

// Reads the header of the CFI entry at `off`: returns the entry's content cursor and sets end/id.
bool entryHeader(const CfiSection &sec, uint64_t off, Cursor &c, uint64_t &end, uint64_t &id,
                 uint64_t &idFieldPos) {
  c = Cursor(sec.data, off);
  uint64_t len = c.get<uint32_t>();
  bool is64 = false;
  if (len == 0xffffffff) {
    len = c.get<uint64_t>();
    is64 = true;
  }
  if (!c.ok || len == 0 || !c.has(len)) return false;
  end = c.pos + len;
  idFieldPos = c.pos;
  id = is64 ? c.get<uint64_t>() : c.get<uint32_t>();
  if (!is64 && !sec.isEhFrame && id == 0xffffffff) id = ~0ull;  // 32-bit debug_frame CIE id
  return c.ok;
}

bool isCie(const CfiSection &sec, uint64_t id) { return sec.isEhFrame ? id == 0 : id == ~0ull; }

bool parseCie(const CfiSection &sec, uint64_t off, Cie &cie) {
  Cursor c(sec.data);
  uint64_t end, id, idPos;
  if (!entryHeader(sec, off, c, end, id, idPos) || !isCie(sec, id)) return false;
  uint8_t version = c.get<uint8_t>();
  const char *aug = c.cstr();
  if (!c.ok) return false;
  if (strstr(aug, "eh")) c.get<uint64_t>();
  if (version >= 4) {
    c.get<uint8_t>();  // address_size
    c.get<uint8_t>();  // segment_selector_size
  }
  cie.codeAlign = c.uleb();
  cie.dataAlign = c.sleb();
  cie.raReg = version == 1 ? c.get<uint8_t>() : int(c.uleb());
  if (aug[0] == 'z') {
    cie.hasAugData = true;
    uint64_t augLen = c.uleb();
    uint64_t augEnd = c.pos + augLen;
    for (const char *a = aug + 1; *a && c.ok; ++a) {
      switch (*a) {
        case 'L': c.get<uint8_t>(); break;
        case 'R': cie.fdeEnc = c.get<uint8_t>(); break;
        case 'P': {
          uint8_t enc = c.get<uint8_t>();
          readEncoded(c, enc & 0x7f, sec.vaddr);
          break;
        }
        case 'S': cie.signalFrame = true; break;
        default: break;  // unknown: skipped by augEnd
      }
    }
    c.pos = augEnd;
  } else if (strchr(aug, 'S')) {
    cie.signalFrame = true;
  }
  if (!c.ok || c.pos > end) return false;
  cie.instructions = StringRef(reinterpret_cast<const char *>(c.base + c.pos), end - c.pos);
  return true;
}

struct Fde {
  uint64_t start = 0, end = 0;
  StringRef instructions;
  Cie cie;
};

bool parseFde(const CfiSection &sec, uint64_t off, Fde &fde) {
  Cursor c(sec.data);
  uint64_t end, id, idPos;
  if (!entryHeader(sec, off, c, end, id, idPos) || isCie(sec, id)) return false;
  uint64_t cieOff = sec.isEhFrame ? idPos - id : id;
  if (sec.isEhFrame && id > idPos) return false;
  if (!parseCie(sec, cieOff, fde.cie)) return false;
  uint8_t enc = sec.isEhFrame ? fde.cie.fdeEnc : uint8_t(dwarf::DW_EH_PE_udata8);
  auto start = readEncoded(c, enc, sec.vaddr);
  auto range = readEncoded(c, enc & 0x0f, sec.vaddr);
  if (!start || !range) return false;
  fde.start = *start;
  fde.end = *start + *range;
  if (fde.cie.hasAugData) {
    uint64_t l = c.uleb();
    c.pos += l;
  }
  if (!c.ok || c.pos > end) return false;
  fde.instructions = StringRef(reinterpret_cast<const char *>(c.base + c.pos), end - c.pos);
  return true;
}

// Runs CFA instructions until the location passes `target`.
bool runProgram(StringRef prog, const Cie &cie, uint64_t &loc, uint64_t target, CfiRow &row,
                const CfiRow *initial) {
  Cursor c(prog);
  std::vector<CfiRow> stack;
  auto setRule = [&](uint64_t reg, RegRule r) {
    if (reg < kCfiRegs) row.regs[reg] = r;
  };
  unsigned steps = 0;
  while (c.pos < c.size && c.ok) {
    if (++steps > 100000) return false;
    uint8_t op = c.get<uint8_t>();
    uint8_t hi = op & 0xc0, lo = op & 0x3f;
    if (hi == dwarf::DW_CFA_advance_loc) {
      loc += lo * cie.codeAlign;
      if (loc > target) return true;
      continue;
    }
    if (hi == dwarf::DW_CFA_offset) {
      setRule(lo, {RegRule::Offset, scaled(int64_t(c.uleb()), cie.dataAlign)});
      continue;
    }
    if (hi == dwarf::DW_CFA_restore) {
      if (initial && lo < kCfiRegs) row.regs[lo] = initial->regs[lo];
      continue;
    }
    switch (op) {
      case dwarf::DW_CFA_nop: break;
      case dwarf::DW_CFA_set_loc: {
        auto v = readEncoded(c, cie.fdeEnc, 0);
        if (!v) return false;
        loc = *v;
        if (loc > target) return true;
        break;
      }
      case dwarf::DW_CFA_advance_loc1: loc += c.get<uint8_t>() * cie.codeAlign; if (loc > target) return true; break;
      case dwarf::DW_CFA_advance_loc2: loc += c.get<uint16_t>() * cie.codeAlign; if (loc > target) return true; break;
      case dwarf::DW_CFA_advance_loc4: loc += c.get<uint32_t>() * cie.codeAlign; if (loc > target) return true; break;
      case dwarf::DW_CFA_offset_extended: { uint64_t r = c.uleb(); setRule(r, {RegRule::Offset, scaled(int64_t(c.uleb()), cie.dataAlign)}); break; }
      case dwarf::DW_CFA_offset_extended_sf: { uint64_t r = c.uleb(); setRule(r, {RegRule::Offset, scaled(c.sleb(), cie.dataAlign)}); break; }
      case 0x2f: {  // DW_CFA_GNU_negative_offset_extended (the comment used to swallow this case)
        uint64_t r = c.uleb();
        setRule(r, {RegRule::Offset, scaled(int64_t(uint64_t(0) - c.uleb()), cie.dataAlign)});
        break;
      }
      case dwarf::DW_CFA_val_offset: { uint64_t r = c.uleb(); setRule(r, {RegRule::ValOffset, scaled(int64_t(c.uleb()), cie.dataAlign)}); break; }
      case dwarf::DW_CFA_val_offset_sf: { uint64_t r = c.uleb(); setRule(r, {RegRule::ValOffset, scaled(c.sleb(), cie.dataAlign)}); break; }
      case dwarf::DW_CFA_restore_extended: { uint64_t r = c.uleb(); if (initial && r < kCfiRegs) row.regs[r] = initial->regs[r]; break; }
      case dwarf::DW_CFA_undefined: setRule(c.uleb(), {RegRule::Undefined}); break;
      case dwarf::DW_CFA_same_value: setRule(c.uleb(), {RegRule::SameValue}); break;
      case dwarf::DW_CFA_register: { uint64_t r = c.uleb(); RegRule rr{RegRule::Register}; rr.reg = int(c.uleb()); setRule(r, rr); break; }
      case dwarf::DW_CFA_remember_state:
        if (stack.size() > 64) return false;
        stack.push_back(row);
        break;
      case dwarf::DW_CFA_restore_state: {
        if (stack.empty()) return false;
        // The CFA is not part of the remembered register state in practice; gcc relies on
        // restore_state restoring it too, as GDB and libgcc do.
        row = stack.back();
        stack.pop_back();
        break;
      }
      case dwarf::DW_CFA_def_cfa: row.cfaIsExpr = false; row.cfaReg = int(c.uleb()); row.cfaOffset = int64_t(c.uleb()); break;
      case dwarf::DW_CFA_def_cfa_sf: row.cfaIsExpr = false; row.cfaReg = int(c.uleb()); row.cfaOffset = scaled(c.sleb(), cie.dataAlign); break;
      case dwarf::DW_CFA_def_cfa_register: row.cfaIsExpr = false; row.cfaReg = int(c.uleb()); break;
      case dwarf::DW_CFA_def_cfa_offset: row.cfaIsExpr = false; row.cfaOffset = int64_t(c.uleb()); break;
      case dwarf::DW_CFA_def_cfa_offset_sf: row.cfaIsExpr = false; row.cfaOffset = scaled(c.sleb(), cie.dataAlign); break;
      case dwarf::DW_CFA_def_cfa_expression: { uint64_t n = c.uleb(); row.cfaIsExpr = true; row.cfaExpr = c.bytes(n); break; }
      case dwarf::DW_CFA_expression: { uint64_t r = c.uleb(); uint64_t n = c.uleb(); RegRule rr{RegRule::Expression}; rr.expr = c.bytes(n); setRule(r, rr); break; }
      case dwarf::DW_CFA_val_expression: { uint64_t r = c.uleb(); uint64_t n = c.uleb(); RegRule rr{RegRule::ValExpression}; rr.expr = c.bytes(n); setRule(r, rr); break; }
      case dwarf::DW_CFA_GNU_args_size: c.uleb(); break;
      default: return false;  // unknown opcode: the row cannot be trusted
    }
  }
  return c.ok;
}

}  // namespace

CfiTable::CfiTable(CfiSection ehFrame, CfiSection ehFrameHdr, CfiSection debugFrame)
    : eh_(ehFrame), hdr_(ehFrameHdr), debug_(debugFrame) {
  eh_.isEhFrame = true;
  debug_.isEhFrame = false;
}

std::optional<uint64_t> CfiTable::searchHdr(uint64_t vaddr) {
  if (hdr_.data.size() < 4 || eh_.data.empty()) return std::nullopt;
  Cursor c(hdr_.data);
  uint8_t version = c.get<uint8_t>();
  uint8_t ptrEnc = c.get<uint8_t>();
  uint8_t countEnc = c.get<uint8_t>();
  uint8_t tableEnc = c.get<uint8_t>();
  if (version != 1) return std::nullopt;
  auto ehPtr = readEncoded(c, ptrEnc, hdr_.vaddr, hdr_.vaddr);
  auto count = readEncoded(c, countEnc, hdr_.vaddr, hdr_.vaddr);
  // Only the common datarel|sdata4 table allows random access (fixed 8-byte entries).
  if (!ehPtr || !count || tableEnc != (dwarf::DW_EH_PE_datarel | dwarf::DW_EH_PE_sdata4))
    return std::nullopt;
  uint64_t tableStart = c.pos;
  if (*count == 0 || *count > (hdr_.data.size() - tableStart) / 8) return std::nullopt;
  auto entry = [&](uint64_t i, int32_t &loc, int32_t &fde) {
    memcpy(&loc, hdr_.data.data() + tableStart + i * 8, 4);
    memcpy(&fde, hdr_.data.data() + tableStart + i * 8 + 4, 4);
  };
  uint64_t lo = 0, hi = *count;  // find last entry with initial location <= vaddr
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    int32_t loc, fde;
    entry(mid, loc, fde);
    if (hdr_.vaddr + int64_t(loc) <= vaddr) lo = mid;
    else hi = mid;
  }
  int32_t loc, fde;
  entry(lo, loc, fde);
  if (hdr_.vaddr + int64_t(loc) > vaddr) return std::nullopt;
  uint64_t fdeAddr = hdr_.vaddr + int64_t(fde);
  if (fdeAddr < eh_.vaddr || fdeAddr >= eh_.vaddr + eh_.data.size()) return std::nullopt;
  return fdeAddr - eh_.vaddr;
}

void CfiTable::buildIndex(const CfiSection &sec, std::vector<FdeRef> &out) {
  uint64_t off = 0;
  for (unsigned n = 0; off < sec.data.size() && n < 10'000'000; ++n) {
    Cursor c(sec.data);
    uint64_t end, id, idPos;
    if (!entryHeader(sec, off, c, end, id, idPos)) break;
    if (!isCie(sec, id)) {
      Fde fde;
      if (parseFde(sec, off, fde) && fde.end > fde.start) out.push_back({fde.start, fde.end, off});
    }
    off = end;
  }
  std::sort(out.begin(), out.end(), [](const FdeRef &a, const FdeRef &b) { return a.start < b.start; });
}

std::optional<CfiRow> CfiTable::rowFromFde(const CfiSection &sec, uint64_t fdeOffset,
                                           uint64_t vaddr) {
  Fde fde;
  if (!parseFde(sec, fdeOffset, fde) || vaddr < fde.start || vaddr >= fde.end) return std::nullopt;
  CfiRow row;
  row.returnAddressReg = fde.cie.raReg;
  row.signalFrame = fde.cie.signalFrame;
  uint64_t loc = fde.start;
  if (!runProgram(fde.cie.instructions, fde.cie, loc, ~0ull, row, nullptr)) return std::nullopt;
  CfiRow initial = row;
  loc = fde.start;
  if (!runProgram(fde.instructions, fde.cie, loc, vaddr, row, &initial)) return std::nullopt;
  return row;
}

std::optional<CfiRow> CfiTable::rowFor(uint64_t vaddr) {
  if (!eh_.data.empty()) {
    std::optional<uint64_t> off = searchHdr(vaddr);
    if (!off) {
      if (!ehIndexed_) {
        ehIndexed_ = true;
        buildIndex(eh_, ehIndex_);
      }
      auto it = std::upper_bound(ehIndex_.begin(), ehIndex_.end(), vaddr,
                                 [](uint64_t a, const FdeRef &f) { return a < f.start; });
      if (it != ehIndex_.begin() && vaddr < std::prev(it)->end) off = std::prev(it)->offset;
    }
    if (off)
      if (auto row = rowFromFde(eh_, *off, vaddr)) return row;
  }
  if (!debug_.data.empty()) {
    if (!debugIndexed_) {
      debugIndexed_ = true;
      buildIndex(debug_, debugIndex_);
    }
    auto it = std::upper_bound(debugIndex_.begin(), debugIndex_.end(), vaddr,
                               [](uint64_t a, const FdeRef &f) { return a < f.start; });
    if (it != debugIndex_.begin() && vaddr < std::prev(it)->end)
      return rowFromFde(debug_, std::prev(it)->offset, vaddr);
  }
  return std::nullopt;
}

std::optional<uint64_t> evalDwarfExpr(StringRef expr, const ExprContext &ec,
                                      std::optional<uint64_t> initial) {
  ExprEnv env;
  env.reg = [&](int r) { return ec.readReg(ec.ctx, r); };
  env.mem = [&](uint64_t a, unsigned n) { return ec.readMem(ec.ctx, a, n); };
  return evaluateDwarfExpr(expr, env, initial).scalar();
}

}  // namespace bt
