// Unwinding (unwind/unwinder.h) on a captured register set: the vars_c fixture parked in pause()
// and captured live (bench_inputs.cpp), read back as a SnapshotTarget, so every step reads the
// captured stack and the modules' own files (CFI of libc and of the fixture), with no process
// behind it. The Unwinder lives across iterations, as it does across a backtrace's threads: its
// CFI tables are loaded by the first (unmeasured) unwind.
#include "bench_inputs.h"

#include "snapshot/snapshot_target.h"
#include "symbols/symbolizer.h"
#include "unwind/unwinder.h"

namespace {

using namespace btbench;

// The thread parked in vc_inner (the main thread: vars_c has one) of the capture replayed as
// `target`; null, the benchmark skipped with the reason, when the capture failed or has none.
const bt::ThreadInfo *parkedThread(benchmark::State &state, const Capture &cap,
                                   const bt::Target &target) {
  if (!require(state, cap.error.empty(), cap.error)) return nullptr;
  const bt::ThreadInfo *t = target.threads().empty() ? nullptr : &target.threads().front();
  return require(state, t != nullptr, "the capture has no thread") ? t : nullptr;
}

// One step: frame 0 (in libc's pause) to its caller, through libc's CFI. maxFrames = 1 makes
// unwind() run exactly one step (the caller is computed, then the depth limit stops it).
void BM_UnwindOneFrame(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  bt::SnapshotTarget target(cap.snap);
  const bt::ThreadInfo *thread = parkedThread(state, cap, target);
  if (!thread) return;
  bt::Symbolizer symbols(bt::SymbolizerOptions{});
  {
    bt::UnwindOptions two;
    two.maxFrames = 2;
    bt::Unwinder check(target, symbols, two);
    bt::UnwindResult r = check.unwind(thread->regs);
    if (!require(state, r.frames.size() == 2 && r.frames[1].how == bt::FrameHow::Cfi,
                 "the first step is not a CFI step: " + r.stopReason))
      return;
  }
  bt::UnwindOptions one;
  one.maxFrames = 1;
  bt::Unwinder u(target, symbols, one);
  benchmark::DoNotOptimize(u.unwind(thread->regs));  // loads the CFI tables
  for (auto _ : state) {
    bt::UnwindResult r = u.unwind(thread->regs);
    benchmark::DoNotOptimize(r.frames.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UnwindOneFrame);

// The whole thread (pause <- fixture_park <- vc_inner <- vc_middle <- vc_outer <- main, the C
// runtime below main included: the unwinder walks to the outermost frame). Items are frames.
void BM_UnwindThread(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  bt::SnapshotTarget target(cap.snap);
  const bt::ThreadInfo *thread = parkedThread(state, cap, target);
  if (!thread) return;
  bt::Symbolizer symbols(bt::SymbolizerOptions{});
  bt::Unwinder u(target, symbols);
  bt::UnwindResult first = u.unwind(thread->regs);
  size_t cfi = 0;
  for (const bt::PhysicalFrame &f : first.frames) cfi += f.how == bt::FrameHow::Cfi;
  if (!require(state, first.frames.size() >= 6 && cfi + 1 == first.frames.size(),
               std::to_string(first.frames.size()) + " frames, " + std::to_string(cfi) +
                   " by CFI, stopped: " + first.stopReason))
    return;
  for (auto _ : state) {
    bt::UnwindResult r = u.unwind(thread->regs);
    benchmark::DoNotOptimize(r.frames.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations() * first.frames.size()));
  state.SetLabel(std::to_string(first.frames.size()) + " frames (" + first.stopReason + ")");
}
BENCHMARK(BM_UnwindThread);

}  // namespace
