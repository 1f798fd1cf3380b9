// Unit tests of the CFI reader/interpreter and the DWARF expression evaluator: synthetic
// .eh_frame/.eh_frame_hdr built byte by byte, the test binary's own .eh_frame, and garbage.
#include "symbols/elf_file.h"
#include "synth/cfi_builder.h"
#include "unwind/cfi.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <gtest/gtest.h>

#include <link.h>

#include <random>
#include <string>

using namespace bt;
using namespace bt::synth;
namespace dw = llvm::dwarf;

TEST(Cfi, SyntheticPrologueRows) {
  std::string eh = makeEhFrame();
  CfiTable t({eh, kEhVaddr, true}, {}, {});
  auto r0 = t.rowFor(kFuncStart);
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->cfaReg, 7);
  EXPECT_EQ(r0->cfaOffset, 8);
  EXPECT_EQ(r0->regs[16].kind, RegRule::Offset);
  EXPECT_EQ(r0->regs[16].offset, -8);
  EXPECT_EQ(r0->regs[6].kind, RegRule::Unspecified);

  auto r1 = t.rowFor(kFuncStart + 1);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->cfaReg, 7);
  EXPECT_EQ(r1->cfaOffset, 16);
  EXPECT_EQ(r1->regs[6].kind, RegRule::Offset);
  EXPECT_EQ(r1->regs[6].offset, -16);

  auto r4 = t.rowFor(kFuncStart + 10);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->cfaReg, 6);
  EXPECT_EQ(r4->cfaOffset, 16);

  auto rLeave = t.rowFor(kFuncStart + 0x34);  // after the epilogue's def_cfa
  ASSERT_TRUE(rLeave);
  EXPECT_EQ(rLeave->cfaReg, 7);
  EXPECT_EQ(rLeave->cfaOffset, 8);

  auto rAfter = t.rowFor(kFuncStart + 0x36);  // restore_state brings back the rbp-based CFA
  ASSERT_TRUE(rAfter);
  EXPECT_EQ(rAfter->cfaReg, 6);

  EXPECT_FALSE(t.rowFor(kFuncStart - 1));
  EXPECT_FALSE(t.rowFor(kFuncStart + kFuncLen));
}

TEST(Cfi, GnuNegativeOffsetExtendedIsAnOffsetRule) {
  // DW_CFA_GNU_negative_offset_extended rbp, 2: rbp saved at CFA + 2*8 (= -(2 * data_align)).
  // It used to fall through to DW_CFA_val_offset (a comment swallowed its case).
  ByteWriter p;
  p.u8(0x2f); p.uleb(6); p.uleb(2);
  std::string eh = makeEhFrame(false, &p.b);
  CfiTable t({eh, kEhVaddr, true}, {}, {});
  auto row = t.rowFor(kFuncStart + 1);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->regs[6].kind, RegRule::Offset);
  EXPECT_EQ(row->regs[6].offset, 16);
}

TEST(Cfi, HugeFactoredOffsetsWrapInsteadOfOverflowing) {
  // CFA = rsp + 0x4000000000000000 * -8: wraps to 0 (it was a signed overflow: cfi_fuzz + UBSan).
  ByteWriter p;
  p.u8(dw::DW_CFA_def_cfa_sf); p.uleb(7); p.sleb(int64_t(1) << 62);
  p.u8(dw::DW_CFA_offset_extended_sf); p.uleb(3); p.sleb(int64_t(1) << 62);
  std::string eh = makeEhFrame(false, &p.b);
  CfiTable t({eh, kEhVaddr, true}, {}, {});
  auto row = t.rowFor(kFuncStart + 1);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->cfaReg, 7);
  EXPECT_EQ(row->cfaOffset, 0);
  EXPECT_EQ(row->regs[3].offset, 0);
}

TEST(Cfi, SignalFrameAugmentationIsReported) {
  std::string plain = makeEhFrame(false), sig = makeEhFrame(true);
  CfiTable a({plain, kEhVaddr, true}, {}, {}), b({sig, kEhVaddr, true}, {}, {});
  auto ra = a.rowFor(kFuncStart + 2), rb = b.rowFor(kFuncStart + 2);
  ASSERT_TRUE(ra && rb);
  EXPECT_FALSE(ra->signalFrame);
  EXPECT_TRUE(rb->signalFrame);
  EXPECT_EQ(rb->cfaOffset, 16);  // the rest of the CIE still parses
}

TEST(Cfi, EhFrameHdrBinarySearchFindsTheFde) {
  std::string eh = makeEhFrame();
  // The FDE follows the 24-byte CIE (length word included).
  uint64_t hdrVaddr = 0x3000;
  std::string hdr = makeHdr(hdrVaddr, 24);
  CfiTable t({eh, kEhVaddr, true}, {hdr, hdrVaddr, true}, {});
  auto r = t.rowFor(kFuncStart + 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->cfaOffset, 16);
  EXPECT_EQ(t.indexedFdes(), 0u) << "the hdr table must make a linear index unnecessary";
}

TEST(Cfi, GarbageNeverCrashesAndYieldsNoBogusRows) {
  std::string good = makeEhFrame();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string eh = good;
    int flips = 1 + rng() % 8;
    for (int i = 0; i < flips; ++i) eh[rng() % eh.size()] = char(rng());
    if (iter % 5 == 0) eh.resize(rng() % eh.size());
    std::string hdr = makeHdr(0x3000, 24);
    if (iter % 3 == 0) hdr[rng() % hdr.size()] = char(rng());
    CfiTable t({eh, kEhVaddr, true}, {hdr, 0x3000, true}, {eh, 0, false});
    for (uint64_t pc = kFuncStart - 4; pc < kFuncStart + kFuncLen + 4; pc += 3) {
      auto r = t.rowFor(pc);
      if (r) {
        EXPECT_LT(r->cfaReg, 1 << 30);  // any row is fine; we check we got here
      }
    }
  }
  // Pure noise, including a length field claiming 4 GiB.
  std::string noise(4096, '\xff');
  CfiTable t({noise, 0, true}, {noise, 0, true}, {noise, 0, false});
  EXPECT_FALSE(t.rowFor(0x10));
}

static std::optional<uint64_t> regFromArray(void *c, int reg) {
  auto *regs = static_cast<uint64_t *>(c);
  if (reg < 0 || reg > 16) return std::nullopt;
  return regs[reg];
}
static std::optional<uint64_t> memIdentityPlus1(void *, uint64_t addr, unsigned) {
  return addr + 1;
}

TEST(DwarfExpr, PltStyleCfaExpression) {
  // The expression binutils emits for .plt: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0).
  uint64_t regs[17] = {};
  regs[7] = 0x7000;
  ByteWriter e;
  e.u8(dw::DW_OP_breg7); e.sleb(8);
  e.u8(dw::DW_OP_breg16); e.sleb(0);
  e.u8(dw::DW_OP_lit15); e.u8(dw::DW_OP_and);
  e.u8(dw::DW_OP_lit11); e.u8(dw::DW_OP_ge);
  e.u8(dw::DW_OP_lit3); e.u8(dw::DW_OP_shl);
  e.u8(dw::DW_OP_plus);
  ExprContext ec{regFromArray, memIdentityPlus1, regs};
  regs[16] = 0x1000 + 4;
  EXPECT_EQ(evalDwarfExpr(e.b, ec, std::nullopt), 0x7008u);
  regs[16] = 0x1000 + 12;
  EXPECT_EQ(evalDwarfExpr(e.b, ec, std::nullopt), 0x7010u);
}

TEST(DwarfExpr, DerefBranchesAndErrors) {
  uint64_t regs[17] = {};
  ExprContext ec{regFromArray, memIdentityPlus1, regs};
  ByteWriter e;
  e.u8(dw::DW_OP_constu); e.uleb(41);
  e.u8(dw::DW_OP_deref);
  EXPECT_EQ(evalDwarfExpr(e.b, ec, std::nullopt), 42u);
  // An initial value is pushed first (DW_CFA_expression pushes the CFA).
  ByteWriter p;
  p.u8(dw::DW_OP_plus_uconst); p.uleb(16);
  EXPECT_EQ(evalDwarfExpr(p.b, ec, 100), 116u);
  // Stack underflow, division by zero, unknown opcode, truncated operand: no value.
  EXPECT_FALSE(evalDwarfExpr(std::string(1, char(dw::DW_OP_plus)), ec, std::nullopt));
  ByteWriter d;
  d.u8(dw::DW_OP_lit1); d.u8(dw::DW_OP_lit0); d.u8(dw::DW_OP_div);
  EXPECT_FALSE(evalDwarfExpr(d.b, ec, std::nullopt));
  EXPECT_FALSE(evalDwarfExpr(std::string(1, char(0xfe)), ec, std::nullopt));
  EXPECT_FALSE(evalDwarfExpr(std::string(1, char(dw::DW_OP_const8u)), ec, std::nullopt));
  // An infinite loop (skip -3 back onto itself) is cut off.
  ByteWriter loop;
  loop.u8(dw::DW_OP_skip); loop.u8(0xfd); loop.u8(0xff);
  EXPECT_FALSE(evalDwarfExpr(loop.b, ec, std::nullopt));
}

extern "C" __attribute__((noinline)) int bt_cfi_test_probe(int x) { return x * 3 + 1; }

static int firstObjectBias(struct dl_phdr_info *info, size_t, void *out) {
  *static_cast<uint64_t *>(out) = info->dlpi_addr;  // the main program comes first
  return 1;
}

TEST(Cfi, OwnBinaryFunctionEntryHasCanonicalRow) {
  // At a function's first instruction every x86-64 compiler emits CFA = rsp+8, RA at CFA-8.
  auto self = ElfFile::open("/proc/self/exe");
  ASSERT_TRUE(bool(self)) << llvm::toString(self.takeError());
  const ElfSection *eh = (*self)->section(".eh_frame");
  const ElfSection *hdr = (*self)->section(".eh_frame_hdr");
  ASSERT_TRUE(eh && hdr);
  CfiTable t({eh->data, eh->address, true}, {hdr->data, hdr->address, true}, {});
  uint64_t bias = 0;
  dl_iterate_phdr(firstObjectBias, &bias);
  uint64_t probe = reinterpret_cast<uintptr_t>(&bt_cfi_test_probe) - bias;
  const ElfSymbol *sym = (*self)->symbolFor(probe);
  ASSERT_TRUE(sym);
  EXPECT_EQ(sym->name, "bt_cfi_test_probe");
  EXPECT_EQ(sym->address, probe);
  auto row = t.rowFor(probe);
  ASSERT_TRUE(row);
  EXPECT_FALSE(row->cfaIsExpr);
  EXPECT_EQ(row->cfaReg, 7);
  EXPECT_EQ(row->cfaOffset, 8);
  EXPECT_EQ(row->regs[16].kind, RegRule::Offset);
  EXPECT_EQ(row->regs[16].offset, -8);
  EXPECT_EQ(t.indexedFdes(), 0u) << "lookup must go through .eh_frame_hdr";
  EXPECT_EQ(bt_cfi_test_probe(1), 4);
}
