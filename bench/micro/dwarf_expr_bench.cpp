// DWARF location expressions and location lists (unwind/dwarf_expr.h, evaluateDwarfExpr), on
// every variable location and frame base the vars_c fixture's DWARF holds (gcc -O2: registers,
// fbreg, pieces, DW_OP_entry_value, stack values, ...). The frame they are evaluated in is
// fixed and complete (every register, memory, frame base, CFA, .debug_addr and entry values
// answer), so an expression fails only if the evaluator rejects it.
#include "bench_inputs.h"

#include "unwind/cfi.h"  // evalDwarfExpr, the CFI flavour
#include "unwind/dwarf_expr.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFLocationExpression.h>

#include <set>

namespace {

using namespace btbench;
namespace dw = llvm::dwarf;

bt::ExprEnv frameEnv() {
  bt::ExprEnv env;
  env.reg = [](int r) -> std::optional<uint64_t> { return 0x7ffd0000 + uint64_t(r) * 0x100; };
  env.mem = [](uint64_t a, unsigned size) -> std::optional<uint64_t> {
    uint64_t v = a * 0x9e3779b97f4a7c15ull;
    return size >= 8 ? v : v & ((uint64_t(1) << (size * 8)) - 1);
  };
  env.frameBase = 0x7ffe0000;
  env.cfa = 0x7ffe0010;
  env.loadBias = 0x555555554000;
  env.addrx = [](uint64_t i) -> std::optional<uint64_t> { return 0x4000 + i * 8; };
  env.entryValue = [](llvm::StringRef) -> std::optional<uint64_t> { return 42; };
  env.tls = [](uint64_t off) -> std::optional<uint64_t> { return 0x7f0000001000 + off; };
  return env;
}

bool isVariable(const llvm::DWARFDie &d) {
  return d.getTag() == dw::DW_TAG_variable || d.getTag() == dw::DW_TAG_formal_parameter;
}

// A variable with a location list and a pc inside one of its bounded entries.
struct ListedVariable {
  llvm::DWARFDie die;
  uint64_t pc;
};

struct Locations {
  std::unique_ptr<DwarfFile> file;
  std::vector<std::string> exprs;  // distinct expressions, lists' entries included
  std::vector<ListedVariable> listed;
  std::string error;
};

const Locations &locations() {
  static const Locations locs = [] {
    Locations l;
    std::string path = fixture(kVarsFixture, l.error);
    if (path.empty()) return l;
    l.file = openDwarf(path, l.error);
    if (!l.file) return l;
    std::set<std::string> seen;
    for (const auto &cu : l.file->ctx->compile_units())
      for (const llvm::DWARFDebugInfoEntry &e : cu->dies()) {
        llvm::DWARFDie d(cu.get(), &e);
        dw::Attribute attr = isVariable(d) ? dw::DW_AT_location
                             : d.getTag() == dw::DW_TAG_subprogram ? dw::DW_AT_frame_base
                                                                   : dw::Attribute(0);
        if (!attr || !d.find(attr)) continue;
        auto list = d.getLocations(attr);
        if (!list) {
          llvm::consumeError(list.takeError());
          continue;
        }
        std::optional<uint64_t> pc;
        for (const llvm::DWARFLocationExpression &x : *list) {
          std::string bytes(x.Expr.begin(), x.Expr.end());
          if (!bytes.empty() && seen.insert(bytes).second) l.exprs.push_back(bytes);
          if (x.Range && !pc && x.Range->HighPC > x.Range->LowPC && !x.Expr.empty())
            pc = x.Range->LowPC + (x.Range->HighPC - x.Range->LowPC) / 2;
        }
        if (pc && isVariable(d)) l.listed.push_back({d, *pc});
      }
    if (l.exprs.empty()) l.error = path + ": no location expressions found";
    return l;
  }();
  return locs;
}

// Every distinct expression, evaluated. Items are expressions.
void BM_DwarfExprEvaluate(benchmark::State &state) {
  const Locations &l = locations();
  if (!require(state, l.error.empty(), l.error)) return;
  bt::ExprEnv env = frameEnv();
  size_t ok = 0;
  for (const std::string &e : l.exprs) ok += bt::evaluateDwarfExpr(e, env).ok;
  if (!require(state, ok * 10 >= l.exprs.size() * 9,
               "only " + std::to_string(ok) + " of " + std::to_string(l.exprs.size()) + " expressions evaluate"))
    return;
  for (auto _ : state)
    for (const std::string &e : l.exprs) {
      bt::ExprResult r = bt::evaluateDwarfExpr(e, env);
      benchmark::DoNotOptimize(r.pieces.data());
    }
  state.SetItemsProcessed(int64_t(state.iterations() * l.exprs.size()));
  state.SetLabel(std::to_string(l.exprs.size()) + " exprs, " + std::to_string(ok) + " ok");
}
BENCHMARK(BM_DwarfExprEvaluate);

// A variable's location at a pc, as the frame-variable reader finds it: decode the variable's
// location list, take the entry covering the pc, evaluate it. Items are variables.
void BM_DwarfLocationListAtPc(benchmark::State &state) {
  const Locations &l = locations();
  if (!require(state, l.error.empty(), l.error)) return;
  if (!require(state, l.listed.size() >= 8, "too few variables with location lists")) return;
  bt::ExprEnv env = frameEnv();
  auto locate = [&](const ListedVariable &v) -> bt::ExprResult {
    auto list = v.die.getLocations(dw::DW_AT_location);
    if (!list) {
      llvm::consumeError(list.takeError());
      return {};
    }
    for (const llvm::DWARFLocationExpression &x : *list)
      if (!x.Range || (v.pc >= x.Range->LowPC && v.pc < x.Range->HighPC))
        return bt::evaluateDwarfExpr(llvm::StringRef(reinterpret_cast<const char *>(x.Expr.data()), x.Expr.size()), env);
    return {};
  };
  size_t ok = 0;
  for (const ListedVariable &v : l.listed) ok += locate(v).ok;
  if (!require(state, ok * 10 >= l.listed.size() * 9,
               "only " + std::to_string(ok) + " of " + std::to_string(l.listed.size()) + " listed variables located"))
    return;
  for (auto _ : state)
    for (const ListedVariable &v : l.listed) {
      bt::ExprResult r = locate(v);
      benchmark::DoNotOptimize(r.pieces.data());
    }
  state.SetItemsProcessed(int64_t(state.iterations() * l.listed.size()));
  state.SetLabel(std::to_string(l.listed.size()) + " variables");
}
BENCHMARK(BM_DwarfLocationListAtPc);

// The CFI flavour (unwind/cfi.h, evalDwarfExpr): the .plt CFA expression binutils emits,
// rsp + 8 + ((rip & 15) >= 11 ? 8 : 0), from tests/unit/cfi_test.cpp, for both halves of a stub.
void BM_CfiExprPltCfa(benchmark::State &state) {
  const std::string expr = {char(dw::DW_OP_breg7), 8, char(dw::DW_OP_breg16), 0,
                            char(dw::DW_OP_lit15), char(dw::DW_OP_and), char(dw::DW_OP_lit11),
                            char(dw::DW_OP_ge), char(dw::DW_OP_lit3), char(dw::DW_OP_shl),
                            char(dw::DW_OP_plus)};
  uint64_t regs[17] = {};
  regs[7] = 0x7000;
  bt::ExprContext ec{[](void *c, int r) -> std::optional<uint64_t> {
                       if (r < 0 || r > 16) return std::nullopt;
                       return static_cast<uint64_t *>(c)[r];
                     },
                     [](void *, uint64_t, unsigned) -> std::optional<uint64_t> { return std::nullopt; },
                     regs};
  regs[16] = 0x1000 + 12;
  if (!require(state, bt::evalDwarfExpr(expr, ec, std::nullopt) == std::optional<uint64_t>(0x7010),
               "the .plt CFA expression gives a wrong CFA"))
    return;
  uint64_t i = 0;
  for (auto _ : state) {
    regs[16] = 0x1000 + (i++ & 15);
    benchmark::DoNotOptimize(bt::evalDwarfExpr(expr, ec, std::nullopt));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CfiExprPltCfa);

}  // namespace
