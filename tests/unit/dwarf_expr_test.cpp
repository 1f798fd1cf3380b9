// Unit tests of the DWARF expression evaluator of variable locations (engine/unwind/dwarf_expr)
// on expressions built byte by byte (tests/synth): the location kinds (memory, register, value,
// implicit value and pointer, pieces and bit pieces), the inputs it asks for (frame base, CFA,
// .debug_addr, entry values, TLS) and the reason it gives when one is missing or the
// expression is bad.
#include "synth/cfi_builder.h"
#include "unwind/dwarf_expr.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

using namespace bt;
using bt::synth::ByteWriter;
namespace dw = llvm::dwarf;

namespace {

ExprEnv testEnv() {
  ExprEnv env;
  env.reg = [](int r) -> std::optional<uint64_t> {
    if (r == 6) return 0x7ffe0000;  // rbp
    if (r == 7) return 0x7ffd0000;  // rsp
    if (r == 3) return 42;          // rbx
    return std::nullopt;
  };
  env.mem = [](uint64_t a, unsigned size) -> std::optional<uint64_t> {
    if (a == 0x7ffe0010) return 0x1122334455667788ull & (size == 8 ? ~0ull : (1ull << (size * 8)) - 1);
    return std::nullopt;
  };
  env.frameBase = 0x7ffe0000;
  env.cfa = 0x7ffe0010;
  env.loadBias = 0x555555554000;
  env.addrx = [](uint64_t i) -> std::optional<uint64_t> {
    if (i == 2) return 0x4000;
    return std::nullopt;
  };
  env.tls = [](uint64_t off) -> std::optional<uint64_t> { return 0x7f0000001000 + off; };
  return env;
}

ExprResult eval(const ByteWriter &e, const ExprEnv &env = testEnv()) {
  return evaluateDwarfExpr(e.b, env);
}

}  // namespace

TEST(DwarfExprEval, AddressesFromRegistersFrameBaseCfaAndAddr) {
  ByteWriter breg;
  breg.u8(dw::DW_OP_breg6); breg.sleb(-24);
  ExprResult r = eval(breg);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::Memory);
  EXPECT_EQ(r.pieces[0].address, 0x7ffe0000u - 24);

  ByteWriter fb;
  fb.u8(dw::DW_OP_fbreg); fb.sleb(16);
  EXPECT_EQ(eval(fb).scalar(), 0x7ffe0010u);
  ByteWriter cfa;
  cfa.u8(dw::DW_OP_call_frame_cfa);
  EXPECT_EQ(eval(cfa).scalar(), 0x7ffe0010u);
  ByteWriter addr;  // DW_OP_addr is link-time: the load bias is added
  addr.u8(dw::DW_OP_addr);
  for (int i = 0; i < 8; ++i) addr.u8(i == 1 ? 0x20 : 0);
  EXPECT_EQ(eval(addr).scalar(), 0x555555554000u + 0x2000);
  ByteWriter addrx;
  addrx.u8(dw::DW_OP_addrx); addrx.uleb(2);
  EXPECT_EQ(eval(addrx).scalar(), 0x555555554000u + 0x4000);
}

TEST(DwarfExprEval, RegisterValueAndImplicitLocations) {
  ByteWriter reg;
  reg.u8(dw::DW_OP_reg3);
  ExprResult r = eval(reg);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::Register);
  EXPECT_EQ(r.pieces[0].reg, 3);

  ByteWriter value;  // rbx + 1 as a value, not an address
  value.u8(dw::DW_OP_breg3); value.sleb(1); value.u8(dw::DW_OP_stack_value);
  r = eval(value);
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::Value);
  EXPECT_EQ(r.pieces[0].value, 43u);

  ByteWriter implicit;
  implicit.u8(dw::DW_OP_implicit_value); implicit.uleb(3); implicit.u8('a'); implicit.u8('b'); implicit.u8('c');
  r = eval(implicit);
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::ImplicitValue);
  EXPECT_EQ(r.pieces[0].bytes, "abc");

  ByteWriter pointer;
  pointer.u8(dw::DW_OP_implicit_pointer); pointer.u32(0x1234); pointer.sleb(8);
  r = eval(pointer);
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::ImplicitPointer);
  EXPECT_EQ(r.pieces[0].dieOffset, 0x1234u);
  EXPECT_EQ(r.pieces[0].pointerOffset, 8);
}

TEST(DwarfExprEval, PiecesDescribeAVariableSplitAcrossLocations) {
  ByteWriter e;  // 4 bytes in rbx, 4 bytes at fb-8, 2 bytes optimized out, 3 bits of rsp at bit 5
  e.u8(dw::DW_OP_reg3); e.u8(dw::DW_OP_piece); e.uleb(4);
  e.u8(dw::DW_OP_fbreg); e.sleb(-8); e.u8(dw::DW_OP_piece); e.uleb(4);
  e.u8(dw::DW_OP_piece); e.uleb(2);
  e.u8(dw::DW_OP_reg7); e.u8(dw::DW_OP_bit_piece); e.uleb(3); e.uleb(5);
  ExprResult r = eval(e);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.pieces.size(), 4u);
  EXPECT_EQ(r.pieces[0].kind, ExprPiece::Register);
  EXPECT_EQ(r.pieces[0].sizeBits, 32u);
  EXPECT_EQ(r.pieces[1].kind, ExprPiece::Memory);
  EXPECT_EQ(r.pieces[1].address, 0x7ffe0000u - 8);
  EXPECT_EQ(r.pieces[2].kind, ExprPiece::Undefined);
  EXPECT_EQ(r.pieces[2].sizeBits, 16u);
  EXPECT_EQ(r.pieces[3].kind, ExprPiece::Register);
  EXPECT_EQ(r.pieces[3].reg, 7);
  EXPECT_EQ(r.pieces[3].sizeBits, 3u);
  EXPECT_EQ(r.pieces[3].bitOffset, 5u);
  EXPECT_FALSE(r.scalar());  // not a single location
}

TEST(DwarfExprEval, DerefArithmeticEntryValuesAndTls) {
  ByteWriter deref;
  deref.u8(dw::DW_OP_fbreg); deref.sleb(16); deref.u8(dw::DW_OP_deref_size); deref.u8(2);
  deref.u8(dw::DW_OP_stack_value);
  ExprResult r = eval(deref);
  ASSERT_EQ(r.pieces.size(), 1u);
  EXPECT_EQ(r.pieces[0].value, 0x7788u);

  ExprEnv env = testEnv();
  env.entryValue = [](llvm::StringRef sub) -> std::optional<uint64_t> {
    if (sub.size() == 1 && uint8_t(sub[0]) == dw::DW_OP_reg5) return 7;  // rdi at entry
    return std::nullopt;
  };
  ByteWriter entry;
  entry.u8(dw::DW_OP_entry_value); entry.uleb(1); entry.u8(dw::DW_OP_reg5);
  entry.u8(dw::DW_OP_lit3); entry.u8(dw::DW_OP_mul); entry.u8(dw::DW_OP_stack_value);
  r = eval(entry, env);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pieces[0].value, 21u);

  ByteWriter tls;
  tls.u8(dw::DW_OP_const1u); tls.u8(0x10); tls.u8(dw::DW_OP_form_tls_address);
  EXPECT_EQ(eval(tls).scalar(), 0x7f0000001010u);
}

TEST(DwarfExprEval, MissingInputsAndBadExpressionsSayWhy) {
  auto why = [](const ByteWriter &e, const ExprEnv &env = testEnv()) {
    ExprResult r = evaluateDwarfExpr(e.b, env);
    EXPECT_FALSE(r.ok);
    return r.error;
  };
  ByteWriter noReg;
  noReg.u8(dw::DW_OP_breg1); noReg.sleb(0);
  EXPECT_EQ(why(noReg), "register 1 is not available");
  ExprEnv bare;
  ByteWriter fb;
  fb.u8(dw::DW_OP_fbreg); fb.sleb(0);
  EXPECT_EQ(why(fb, bare), "frame base not available");
  ByteWriter entry;
  entry.u8(dw::DW_OP_entry_value); entry.uleb(1); entry.u8(dw::DW_OP_reg5);
  EXPECT_EQ(why(entry, bare), "entry value not available");
  ByteWriter underflow;
  underflow.u8(dw::DW_OP_plus);
  EXPECT_EQ(why(underflow), "stack underflow");
  ByteWriter div0;
  div0.u8(dw::DW_OP_lit1); div0.u8(dw::DW_OP_lit0); div0.u8(dw::DW_OP_div);
  EXPECT_EQ(why(div0), "division by zero");
  ByteWriter loop;  // skip -3: onto itself
  loop.u8(dw::DW_OP_skip); loop.u8(0xfd); loop.u8(0xff);
  EXPECT_EQ(why(loop), "expression too long (loop?)");
  ByteWriter truncated;
  truncated.u8(dw::DW_OP_const8u); truncated.u8(1);
  EXPECT_EQ(why(truncated), "truncated expression");
  EXPECT_EQ(why(ByteWriter{std::string(1, char(0xfe))}), "unsupported DWARF operation 0xfe");
}

TEST(DwarfExprEval, SignedDivisionOverflowWrapsInsteadOfTrapping) {
  // INT64_MIN / -1 traps on x86-64 (SIGFPE): found by dwarf_expr_fuzz.
  ByteWriter e;
  e.u8(dw::DW_OP_const8s);
  uint64_t min = uint64_t(std::numeric_limits<int64_t>::min());
  for (int i = 0; i < 8; ++i) e.u8(uint8_t(min >> (8 * i)));
  e.u8(dw::DW_OP_const1s); e.u8(0xff);
  e.u8(dw::DW_OP_div); e.u8(dw::DW_OP_stack_value);
  ExprResult r = eval(e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pieces[0].value, min);
  ByteWriter small;  // ordinary signed division still truncates toward zero
  small.u8(dw::DW_OP_const1s); small.u8(uint8_t(-7)); small.u8(dw::DW_OP_lit2); small.u8(dw::DW_OP_div);
  small.u8(dw::DW_OP_stack_value);
  EXPECT_EQ(int64_t(eval(small).pieces[0].value), -3);
}

TEST(DwarfExprEval, TenByteSlebOperandsSignExtendWithoutOverflow) {
  // DW_OP_consts with the most negative value (and a bit pattern that sets bit 63 from the
  // ninth byte): the LEB128 reader negated INT64_MIN (UB, found by dwarf_expr_fuzz + UBSan).
  ByteWriter e;
  e.u8(dw::DW_OP_consts);
  e.sleb(std::numeric_limits<int64_t>::min());
  e.u8(dw::DW_OP_stack_value);
  ExprResult r = eval(e);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pieces[0].value, uint64_t(std::numeric_limits<int64_t>::min()));
  ByteWriter minus1;
  minus1.u8(dw::DW_OP_consts);
  minus1.sleb(-1);
  minus1.u8(dw::DW_OP_stack_value);
  EXPECT_EQ(int64_t(eval(minus1).pieces[0].value), -1);
  ByteWriter nine;  // nine bytes: 0x40 lands on bit 62, the shift ends at 63, sign-extended
  nine.u8(dw::DW_OP_consts);
  for (int i = 0; i < 8; ++i) nine.u8(0x80);
  nine.u8(0x40);
  nine.u8(dw::DW_OP_stack_value);
  EXPECT_EQ(int64_t(eval(nine).pieces[0].value), -(int64_t(1) << 62));
}

