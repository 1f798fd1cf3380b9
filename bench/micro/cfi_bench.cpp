// CFI row lookup (unwind/cfi.h, CfiTable::rowFor): find the FDE covering a pc and run its CIE
// and FDE programs up to the pc. Three ways the unwinder finds the FDE:
//  - .eh_frame through .eh_frame_hdr's binary-search table (every normal binary),
//  - .eh_frame without a usable .eh_frame_hdr: a sorted index built on first use,
//  - .debug_frame (always indexed): a copy of deep_c built with -fno-asynchronous-unwind-tables
//    at build time (BT_DEBUG_FRAME_PROBE), as no fixture has one.
// The .eh_frame inputs are this binary's own (the engine and LLVM: tens of thousands of FDEs);
// pcs are the middles of its functions, spread over the whole text, visited in a fixed
// shuffled order so the measurement is not of one hot FDE.
#include "bench_inputs.h"

#include "symbols/elf_file.h"
#include "unwind/cfi.h"

#include <algorithm>
#include <random>

namespace {

using namespace btbench;

struct CfiInput {
  std::unique_ptr<bt::ElfFile> elf;
  bt::CfiSection eh, hdr, debug;
  std::vector<uint64_t> pcs;  // power-of-two count
  std::string error;
};

CfiInput loadCfi(const std::string &path, size_t maxPcs) {
  CfiInput in;
  auto elf = bt::ElfFile::open(path);
  if (!elf) {
    in.error = path + ": " + llvm::toString(elf.takeError());
    return in;
  }
  in.elf = std::move(*elf);
  if (const bt::ElfSection *s = in.elf->section(".eh_frame"); s && s->present)
    in.eh = {s->data, s->address, true};
  if (const bt::ElfSection *s = in.elf->section(".eh_frame_hdr"); s && s->present)
    in.hdr = {s->data, s->address, true};
  if (const bt::ElfSection *s = in.elf->section(".debug_frame"); s && s->present && !s->compressed)
    in.debug = {s->data, 0, false};
  std::vector<FunctionSymbol> fns = functionSymbols(path);
  std::vector<uint64_t> pcs;
  for (const FunctionSymbol &f : fns)
    if (f.size >= 8) pcs.push_back(f.address + f.size / 2);
  std::mt19937_64 rng(20240601);
  std::shuffle(pcs.begin(), pcs.end(), rng);
  size_t n = 1;
  while (n * 2 <= std::min(pcs.size(), maxPcs)) n *= 2;
  if (pcs.empty()) n = 0;
  pcs.resize(n);
  in.pcs = std::move(pcs);
  if (in.pcs.empty()) in.error = path + " has no sized function symbols";
  return in;
}

// Checks the table once: nearly every pc has a row (a few functions may lack CFI).
bool checkRows(benchmark::State &state, bt::CfiTable &t, const std::vector<uint64_t> &pcs,
               size_t minPercent) {
  size_t rows = 0;
  for (uint64_t pc : pcs) rows += t.rowFor(pc).has_value();
  return require(state, rows * 100 >= pcs.size() * minPercent,
                 "only " + std::to_string(rows) + " of " + std::to_string(pcs.size()) + " pcs have a CFI row");
}

void runLookups(benchmark::State &state, bt::CfiTable &t, const std::vector<uint64_t> &pcs) {
  size_t mask = pcs.size() - 1, i = 0;
  for (auto _ : state) {
    std::optional<bt::CfiRow> row = t.rowFor(pcs[i++ & mask]);
    benchmark::DoNotOptimize(row);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CfiRowForEhFrameHdr(benchmark::State &state) {
  CfiInput in = loadCfi(selfExe(), 4096);
  if (!require(state, in.error.empty(), in.error)) return;
  if (!require(state, !in.eh.data.empty() && !in.hdr.data.empty(), "no .eh_frame/.eh_frame_hdr")) return;
  bt::CfiTable t(in.eh, in.hdr, {});
  if (!checkRows(state, t, in.pcs, 95)) return;
  if (!require(state, t.indexedFdes() == 0, "lookups did not go through .eh_frame_hdr")) return;
  runLookups(state, t, in.pcs);
  state.SetLabel(std::to_string(in.pcs.size()) + " pcs");
}
BENCHMARK(BM_CfiRowForEhFrameHdr);

void BM_CfiRowForEhFrameIndex(benchmark::State &state) {
  CfiInput in = loadCfi(selfExe(), 4096);
  if (!require(state, in.error.empty(), in.error)) return;
  bt::CfiTable t(in.eh, {}, {});  // no header: the index is built by the check below
  if (!checkRows(state, t, in.pcs, 95)) return;
  runLookups(state, t, in.pcs);
  state.SetLabel(std::to_string(t.indexedFdes()) + " FDEs indexed");
}
BENCHMARK(BM_CfiRowForEhFrameIndex);

// Building that index (one pass over every FDE of .eh_frame) plus one lookup: what the first
// step through a module without .eh_frame_hdr costs.
void BM_CfiEhFrameIndexBuild(benchmark::State &state) {
  CfiInput in = loadCfi(selfExe(), 1);
  if (!require(state, in.error.empty(), in.error)) return;
  size_t fdes = 0;
  for (auto _ : state) {
    bt::CfiTable t(in.eh, {}, {});
    std::optional<bt::CfiRow> row = t.rowFor(in.pcs[0]);
    benchmark::DoNotOptimize(row);
    fdes = t.indexedFdes();
  }
  if (!require(state, fdes > 1000, "the index holds only " + std::to_string(fdes) + " FDEs")) return;
  state.SetItemsProcessed(int64_t(state.iterations() * fdes));  // FDEs indexed per second
  state.SetLabel(std::to_string(fdes) + " FDEs");
}
BENCHMARK(BM_CfiEhFrameIndexBuild)->Unit(benchmark::kMillisecond);

void BM_CfiRowForDebugFrame(benchmark::State &state) {
#ifdef BT_DEBUG_FRAME_PROBE
  CfiInput in = loadCfi(BT_DEBUG_FRAME_PROBE, 4096);
  if (!require(state, in.error.empty(), in.error)) return;
  if (!require(state, !in.debug.data.empty(), std::string(BT_DEBUG_FRAME_PROBE) + " has no .debug_frame"))
    return;
  // The program's own functions are only in .debug_frame (crt's are in .eh_frame: left out).
  std::vector<uint64_t> pcs;
  for (const char *fn : {"main", "level_a", "level_b", "level_c"})
    if (uint64_t a = in.elf->addressOf(fn)) pcs.push_back(in.elf->symbolFor(a)->address + in.elf->symbolFor(a)->size / 2);
  if (!require(state, pcs.size() == 4, "the probe lacks deep_c's functions")) return;
  bt::CfiTable t({}, {}, in.debug);
  if (!checkRows(state, t, pcs, 100)) return;
  runLookups(state, t, pcs);
  state.SetLabel(std::to_string(t.indexedFdes()) + " FDEs indexed");
#else
  require(state, false, "built without the .debug_frame probe");
#endif
}
BENCHMARK(BM_CfiRowForDebugFrame);

}  // namespace
