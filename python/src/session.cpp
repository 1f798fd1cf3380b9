#include "session.h"

#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"
#include "snapshot/snapshot_target.h"
#include "support/error.h"

#include <pybind11/pybind11.h>

#include <stdexcept>

namespace bt::pyapi {

[[noreturn]] void raise(llvm::Error e) { throw EngineError(takeErrorReport(std::move(e))); }

bool Session::interrupted() {
  // Python runs signal handlers only between bytecodes: a long engine call polls for them (the
  // GIL is held), so Ctrl-C stops it. The handler's exception stays set until compute() throws;
  // outside compute() (a value's later lookups) nothing would throw it, so nothing polls.
  if (!computing_) return false;
  if (!interrupted_ && PyErr_CheckSignals() != 0) interrupted_ = true;
  return interrupted_;
}

std::unique_ptr<Symbolizer> Session::makeSymbols(const SymbolPaths &paths) {
  PipelineOptions needs;
  needs.variables = true;
  SymbolizerOptions so = symbolizerOptionsFor(needs, paths, /*useCache=*/true);
  so.interrupted = [this] { return interrupted(); };
  return std::make_unique<Symbolizer>(std::move(so));
}

std::shared_ptr<Session> Session::open(const TargetRequest &request,
                                       const SymbolPaths &paths) {
  auto s = std::make_shared<Session>();
  auto t = openTarget(request);
  if (!t) raise(t.takeError());
  s->target_ = std::move(*t);
  s->kind_ = s->target_->kind();
  // A snapshot's stored frames and facts stay here after close(); its memory slices (up to the
  // capture's memory budget) only in the target, not copied twice.
  if (auto *snap = dynamic_cast<SnapshotTarget *>(s->target_.get()))
    s->snapshot_ = std::make_unique<SnapshotData>(snap->dataWithoutMemory());
  s->symbols_ = s->makeSymbols(paths);
  s->values_ = std::make_shared<ValueSession>(s->target_.get());
  return s;
}

std::shared_ptr<Session> Session::openFile(const std::string &path, const std::string &exe,
                                           bool allowMismatch,
                                           const SymbolPaths &paths) {
  TargetRequest request = TargetRequest::forFile(path, exe);
  request.allowMismatch = allowMismatch;
  std::shared_ptr<Session> s = open(request, paths);
  s->path_ = path;
  return s;
}

std::shared_ptr<Session> Session::attach(int pid, const SymbolPaths &paths) {
  return open(TargetRequest::forPid(pid), paths);
}

Target &Session::target() {
  if (!target_) throw EngineError({ErrorKind::Closed, "the target is closed"});
  return *target_;
}

ProgramIndex &Session::program() {
  Target &t = target();
  if (!program_) program_ = std::make_unique<ProgramIndex>(t, *symbols_, values_);
  return *program_;
}

void Session::close() {
  if (values_) values_->close();
  if (target_) target_->release();
  program_.reset();
  frameVars_.reset();
  target_.reset();
}

void Session::compute() {
  if (computed_) return;
  Target &t = target();
  PipelineOptions opts;
  opts.variables = true;
  opts.keepValues = values_;
  opts.releaseWhenDone = false;  // values walk the live process until close()
  opts.unwind.interrupted = [this] { return interrupted(); };
  computing_ = true;
  PipelineResult r = runPipeline(t, *symbols_, opts);
  computing_ = false;
  if (r.interrupted) {
    // Nothing is kept: the next access computes again from the start.
    interrupted_ = false;
    throw pybind11::error_already_set();
  }
  frameVars_ = std::move(r.variables);
  for (size_t i = 0; i < r.unwound.size() && i < t.threads().size(); ++i)
    physical_.emplace_back(t.threads()[i].tid, std::move(r.unwound[i].frames));
  std::vector<ThreadBacktrace> fresh = std::move(r.backtraces);
  analysis_ = std::move(r.analysis);
  warnings_ = std::move(r.warnings);
  if (snapshot_) {
    // The stored fingerprint and classifications; the instruction is decoded again from the
    // code bytes the snapshot keeps.
    std::optional<DecodedInstruction> instruction = std::move(analysis_.instruction);
    analysis_ = snapshot_->storedAnalysis();
    analysis_.instruction = std::move(instruction);
    if (storedFramesWin(t, snapshot_->backtraces, fresh)) fresh = snapshot_->backtraces;
  }
  backtraces_ = std::move(fresh);
  computed_ = true;
}

const std::vector<std::string> &Session::warnings() {
  compute();
  return warnings_;
}

const AnalysisResult &Session::analysis() {
  compute();
  return analysis_;
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
