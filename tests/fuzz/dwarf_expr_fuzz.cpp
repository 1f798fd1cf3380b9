// Fuzz target for the DWARF expression evaluators: engine/unwind/dwarf_expr (variable
// locations: pieces, registers, implicit values and pointers, entry values, TLS) and the CFI
// evaluator of engine/unwind/cfi, on untrusted expression bytes with every input available.
// A failed evaluation must say why. Seeds: typical compiler output, built with tests/synth.
// Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "synth/cfi_builder.h"
#include "unwind/cfi.h"
#include "unwind/dwarf_expr.h"

namespace {

using bt::fuzz::invariantFailed;

std::optional<uint64_t> reg(int r) {
  if (r < 0 || r > 16) return std::nullopt;
  return 0x7ff000 + uint64_t(r) * 8;
}
std::optional<uint64_t> mem(uint64_t a, unsigned size) {
  if (a < 0x1000 || size > 8) return std::nullopt;
  return a ^ 0x5a5a;
}
std::optional<uint64_t> cfiReg(void *, int r) { return reg(r); }
std::optional<uint64_t> cfiMem(void *, uint64_t a, unsigned size) { return mem(a, size); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef expr(reinterpret_cast<const char *>(data), size);
  bt::ExprEnv env;
  env.reg = reg;
  env.mem = mem;
  env.frameBase = 0x7fe000;
  env.cfa = 0x7ff100;
  env.loadBias = 0x555555554000;
  env.addrx = [](uint64_t i) -> std::optional<uint64_t> {
    if (i > 1000) return std::nullopt;
    return 0x4000 + i * 8;
  };
  env.entryValue = [](llvm::StringRef) -> std::optional<uint64_t> { return 42; };
  env.tls = [](uint64_t off) -> std::optional<uint64_t> { return 0x9000 + off; };
  for (std::optional<uint64_t> initial : {std::optional<uint64_t>(), std::optional<uint64_t>(0x7ff100)}) {
    bt::ExprResult r = bt::evaluateDwarfExpr(expr, env, initial);
    if (!r.ok && r.error.empty()) invariantFailed("a failed evaluation without a reason");
    if (r.pieces.size() > size + 1) invariantFailed("more pieces than the expression has bytes");
    (void)r.scalar();
  }
  bt::ExprContext ec{cfiReg, cfiMem, nullptr};
  (void)bt::evalDwarfExpr(expr, ec, std::nullopt);
  (void)bt::evalDwarfExpr(expr, ec, 0x7ff100);
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  namespace dw = llvm::dwarf;
  std::vector<bt::fuzz::Bytes> seeds;
  auto add = [&](auto build) {
    bt::synth::ByteWriter e;
    build(e);
    seeds.push_back(e.b);
  };
  add([](auto &e) { e.u8(dw::DW_OP_breg7); e.sleb(8); });
  add([](auto &e) { e.u8(dw::DW_OP_fbreg); e.sleb(-20); });
  add([](auto &e) { e.u8(dw::DW_OP_call_frame_cfa); });
  add([](auto &e) { e.u8(dw::DW_OP_reg3); e.u8(dw::DW_OP_piece); e.uleb(4);
                    e.u8(dw::DW_OP_fbreg); e.sleb(-8); e.u8(dw::DW_OP_piece); e.uleb(4); });
  add([](auto &e) { e.u8(dw::DW_OP_breg5); e.sleb(0); e.u8(dw::DW_OP_lit1); e.u8(dw::DW_OP_plus);
                    e.u8(dw::DW_OP_stack_value); });
  add([](auto &e) { e.u8(dw::DW_OP_implicit_value); e.uleb(4); e.u32(0x12345678); });
  add([](auto &e) { e.u8(dw::DW_OP_entry_value); e.uleb(1); e.u8(dw::DW_OP_reg5);
                    e.u8(dw::DW_OP_stack_value); });
  add([](auto &e) { e.u8(dw::DW_OP_addr); for (int i = 0; i < 8; ++i) e.u8(i == 1 ? 0x40 : 0); });
  add([](auto &e) { e.u8(dw::DW_OP_addrx); e.uleb(3); });
  add([](auto &e) { e.u8(dw::DW_OP_const8u); for (int i = 0; i < 8; ++i) e.u8(0x10);
                    e.u8(dw::DW_OP_GNU_push_tls_address); });
  add([](auto &e) { e.u8(dw::DW_OP_breg7); e.sleb(8); e.u8(dw::DW_OP_breg16); e.sleb(0);
                    e.u8(dw::DW_OP_lit15); e.u8(dw::DW_OP_and); e.u8(dw::DW_OP_lit11);
                    e.u8(dw::DW_OP_ge); e.u8(dw::DW_OP_lit3); e.u8(dw::DW_OP_shl); e.u8(dw::DW_OP_plus); });
  add([](auto &e) { e.u8(dw::DW_OP_lit0); e.u8(dw::DW_OP_bra); e.u8(2); e.u8(0);
                    e.u8(dw::DW_OP_lit1); e.u8(dw::DW_OP_lit2); e.u8(dw::DW_OP_deref_size); e.u8(4); });
  add([](auto &e) { e.u8(dw::DW_OP_regx); e.uleb(17); e.u8(dw::DW_OP_bit_piece); e.uleb(3); e.uleb(5); });
  add([](auto &e) { e.u8(dw::DW_OP_implicit_pointer); e.u32(0x1234); e.sleb(8); });
  // INT64_MIN / -1: it trapped (SIGFPE) before the evaluator wrapped it.
  add([](auto &e) { e.u8(dw::DW_OP_const8s); for (int i = 0; i < 8; ++i) e.u8(i == 7 ? 0x80 : 0);
                    e.u8(dw::DW_OP_const1s); e.u8(0xff); e.u8(dw::DW_OP_div); });
  bt::fuzz::TargetInfo info;
  info.name = "dwarf_expr_fuzz";
  info.seeds = seeds;
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
