// PC -> function, inline chain and file:line (symbols/symbolizer.h, ModuleSymbols), on the
// deep_c fixture (an inlined chain level_c -> [inl_c_outer -> inl_c_inner]) and on this binary's
// own engine code (large C++ compile units). No answer cache: every call does the work a first
// `bt` run does per batch (the compile unit is parsed into a short-lived DWARF context).
#include "bench_inputs.h"

#include "symbols/elf_file.h"
#include "symbols/symbolizer.h"

namespace {

using namespace btbench;

std::string chainText(const std::vector<bt::SourceLocation> &chain) {
  std::string s;
  for (const bt::SourceLocation &l : chain) s += (s.empty() ? "" : " <- ") + l.function;
  return s;
}

// A link-time pc of deep_c where inl_c_inner is inlined (through inl_c_outer) into level_c.
uint64_t inlinedPc(bt::ModuleSymbols &syms, std::string &why) {
  uint64_t start = syms.symbolAddress("level_c");
  const bt::ElfSymbol *fn = start ? syms.binary()->symbolFor(start) : nullptr;
  if (!fn) {
    why = "no level_c in the deep_c fixture";
    return 0;
  }
  for (uint64_t pc = start; pc < start + std::max<uint64_t>(fn->size, 1); ++pc) {
    auto chain = syms.symbolize(pc);
    if (chain.size() >= 3 && chain[0].function == "inl_c_inner" && chain[1].function == "inl_c_outer" &&
        chain[2].function == "level_c" && chain[0].line > 0)
      return pc;
  }
  why = "no pc of level_c symbolizes to inl_c_inner <- inl_c_outer <- level_c";
  return 0;
}

// One pc, warm module: the per-frame cost of a backtrace.
void BM_SymbolizeInlineChain(benchmark::State &state) {
  std::string why;
  std::string path = fixture(kInlineFixture, why);
  if (!require(state, !path.empty(), why)) return;
  bt::SymbolizerOptions opts;  // no debug dirs, no cache
  bt::ModuleSymbols syms(bt::ModuleInfo{path, path}, opts);
  if (!require(state, syms.hasDwarf(), path + " has no DWARF")) return;
  uint64_t pc = inlinedPc(syms, why);
  if (!require(state, pc != 0, why)) return;
  for (auto _ : state) {
    std::vector<bt::SourceLocation> chain = syms.symbolize(pc);
    benchmark::DoNotOptimize(chain.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(chainText(syms.symbolize(pc)));
}
BENCHMARK(BM_SymbolizeInlineChain);

// The same pc on a module seen for the first time: open the ELF, find and map its DWARF, build
// the address index, then answer.
void BM_SymbolizeFirstUseOfModule(benchmark::State &state) {
  std::string why;
  std::string path = fixture(kInlineFixture, why);
  if (!require(state, !path.empty(), why)) return;
  bt::SymbolizerOptions opts;
  uint64_t pc;
  {
    bt::ModuleSymbols syms(bt::ModuleInfo{path, path}, opts);
    pc = inlinedPc(syms, why);
  }
  if (!require(state, pc != 0, why)) return;
  for (auto _ : state) {
    bt::ModuleSymbols syms(bt::ModuleInfo{path, path}, opts);
    std::vector<bt::SourceLocation> chain = syms.symbolize(pc);
    benchmark::DoNotOptimize(chain.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SymbolizeFirstUseOfModule);

// A batch of pcs spread over this binary's engine functions (bt::...), as a backtrace of a big
// C++ program asks: one compile-unit batch after another. Items are pcs.
void BM_SymbolizeBatchEngineCode(benchmark::State &state) {
  std::string self = selfExe();
  std::vector<FunctionSymbol> engine;
  for (FunctionSymbol &f : functionSymbols(self))
    if (f.name.rfind("_ZN2bt", 0) == 0 && f.size >= 16) engine.push_back(std::move(f));
  size_t want = size_t(state.range(0));
  if (!require(state, engine.size() >= want, self + " has too few bt:: functions")) return;
  std::vector<bt::PcQuery> queries;
  for (size_t i = 0; i < want; ++i) {
    const FunctionSymbol &f = engine[i * engine.size() / want];
    queries.push_back({f.address + f.size / 2, 0, nullptr});
  }
  bt::SymbolizerOptions opts;
  bt::ModuleSymbols syms(bt::ModuleInfo{self, self}, opts);
  if (!require(state, syms.hasDwarf(), self + " has no DWARF (build type without -g?)")) return;
  size_t answered = 0;
  for (const bt::PcInfo &info : syms.symbolizeBatch(queries))
    answered += !info.chain.empty() && !info.chain.back().function.empty() && info.chain.back().line > 0;
  if (!require(state, answered * 10 >= queries.size() * 9,
               std::to_string(answered) + " of " + std::to_string(queries.size()) +
                   " engine pcs got a function and line"))
    return;
  for (auto _ : state) {
    std::vector<bt::PcInfo> infos = syms.symbolizeBatch(queries);
    benchmark::DoNotOptimize(infos.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations() * queries.size()));
}
BENCHMARK(BM_SymbolizeBatchEngineCode)->Arg(16)->Unit(benchmark::kMillisecond);

}  // namespace
