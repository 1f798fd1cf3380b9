#include "session.h"

#include "snapshot/snapshot_target.h"
#include "support/error.h"
#include "symbols/dwarf_sections.h"
#include "target/core_file.h"
#include "target/dump_file.h"
#include "target/live_process.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace bt::pyapi {

[[noreturn]] void raise(llvm::Error e) { throw EngineError(takeErrorReport(std::move(e))); }

static std::unique_ptr<Symbolizer> makeSymbols(const std::vector<std::string> &debugDirs) {
  SymbolizerOptions so;
  so.debugDirs = debugDirs;
  so.cacheDir = defaultDebugCacheDir();
  so.variables = true;
  return std::make_unique<Symbolizer>(so);
}

std::shared_ptr<Session> Session::openFile(const std::string &path, const std::string &exe,
                                           const std::vector<std::string> &debugDirs) {
  auto s = std::make_shared<Session>();
  char magic[8] = {};
  {
    std::ifstream f(path, std::ios::binary);
    f.read(magic, sizeof magic);
  }
  if (!memcmp(magic, "BTSNAP", 6)) {
    auto data = readSnapshot(path);
    if (!data) raise(data.takeError());
    // The stored frames and facts stay here after close(); the memory slices (up to the
    // capture's memory budget) only in the target, not copied twice.
    std::vector<MemorySlice> memory = std::move(data->memory);
    data->memory.clear();
    s->snapshot_ = std::make_unique<SnapshotData>(*data);
    data->memory = std::move(memory);
    s->target_ = std::make_unique<SnapshotTarget>(std::move(*data));
    s->kind_ = "snapshot";
  } else {
    auto t = openDumpFile(path, exe);
    if (!t) raise(t.takeError());
    s->target_ = std::move(*t);
    s->kind_ = s->target_->kind();
  }
  s->symbols_ = makeSymbols(debugDirs);
  return s;
}

std::shared_ptr<Session> Session::attach(int pid, const std::vector<std::string> &debugDirs) {
  auto s = std::make_shared<Session>();
  auto lp = LiveProcess::open(pid);
  if (!lp) raise(lp.takeError());
  s->target_ = std::move(*lp);
  s->kind_ = "live";
  s->symbols_ = makeSymbols(debugDirs);
  return s;
}

Target &Session::target() {
  if (!target_) throw EngineError({ErrorKind::Usage, "the target is closed"});
  return *target_;
}

void Session::close() {
  if (values_) values_->close();
  if (auto *lp = dynamic_cast<LiveProcess *>(target_.get())) lp->release();
  frameVars_.reset();
  target_.reset();
}

void Session::compute() {
  if (computed_) return;
  Target &t = target();
  values_ = std::make_shared<ValueSession>(&t);
  frameVars_ = std::make_unique<FrameVariables>(t, *symbols_);
  frameVars_->keepValues(values_);
  FrameVariables *fv = frameVars_.get();
  std::vector<UnwindResult> unwound = unwindAllThreads(t, *symbols_);
  std::vector<ThreadBacktrace> fresh =
      symbolizeBacktraces(t, *symbols_, unwound, {}, [fv](const UnwindResult &u, size_t i) {
        return fv->visitorFor(u, i);
      });
  for (size_t i = 0; i < unwound.size() && i < t.threads().size(); ++i)
    physical_.emplace_back(t.threads()[i].tid, unwound[i].frames);
  // A snapshot read where its binaries and debug files are missing: its own symbolized frames
  // (rendered values, nothing to walk) are better than what the engine can redo.
  if (snapshot_) {
    // What each side knows: names, source lines and variables (a split-debug build without its
    // debug files still names every function, from the symbol table).
    auto facts = [](const std::vector<ThreadBacktrace> &bts) {
      size_t n = 0;
      for (const ThreadBacktrace &b : bts)
        for (const Frame &f : b.frames) n += !f.function.empty() + !f.file.empty() + f.variables.size();
      return n;
    };
    if (facts(fresh) < facts(snapshot_->backtraces)) fresh = snapshot_->backtraces;
  }
  backtraces_ = std::move(fresh);
  computed_ = true;
}

const std::vector<ThreadBacktrace> &Session::backtraces() {
  compute();
  return backtraces_;
}

std::optional<FrameRegs> Session::frameRegisters(int tid, size_t index) {
  compute();
  for (const auto &[t, frames] : physical_)
    if (t == tid && index < frames.size()) return frames[index].regs;
  return std::nullopt;
}

}  // namespace bt::pyapi
