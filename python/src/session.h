// Session: one open target for the Python API — the Target (core, snapshot or live process),
// its Symbolizer, the backtraces with walkable values (computed on first use) and the
// ValueSession the values read through. Python objects hold a shared_ptr to it; close() releases
// a live process, drops the target and closes the ValueSession, after which every accessor
// raises instead of touching freed state.
#pragma once

#include "analysis/analysis.h"
#include "snapshot/open_target.h"
#include "snapshot/snapshot.h"
#include "support/error.h"
#include "symbols/symbolizer.h"
#include "target/target.h"
#include "unwind/backtrace.h"
#include "vars/frame_variables.h"
#include "vars/program_index.h"
#include "vars/value.h"

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bt::pyapi {

// An engine error on its way to Python (the binding's translator maps kind -> exception type).
struct EngineError : std::runtime_error {
  EngineError(ErrorReport r) : std::runtime_error(r.message), kind(r.kind), report(std::move(r)) {}
  ErrorKind kind;
  ErrorReport report;  // a MemoryError's address, size and mapped too
};
[[noreturn]] void raise(llvm::Error e);

class Session {
public:
  static std::shared_ptr<Session> open(const TargetRequest &request,
                                       const SymbolPaths &paths);
  static std::shared_ptr<Session> openFile(const std::string &path, const std::string &exe, bool allowMismatch,
                                           const SymbolPaths &paths);
  static std::shared_ptr<Session> attach(int pid, const SymbolPaths &paths);

  Target &target();  // raises if closed
  bool closed() const { return !target_; }
  void close();
  const std::string &kind() const { return kind_; }
  const std::string &path() const { return path_; }  // the file opened ("" for a process)
  const SnapshotData *snapshot() const { return snapshot_.get(); }
  // Backtraces of every thread with variables (walkable when the debug info is here).
  const std::vector<ThreadBacktrace> &backtraces();
  // The engine's analysis (fingerprint, classifications) of the backtraces; a snapshot's own,
  // stored one when the target is a snapshot.
  const AnalysisResult &analysis();
  // What the source and its files contradicted or lacked (see PipelineResult::warnings).
  const std::vector<std::string> &warnings();
  // Registers of frame `index` of thread `tid` as the unwinder recovered them (DWARF numbers).
  std::optional<FrameRegs> frameRegisters(int tid, size_t index);
  // Lookups over the whole program (globals, types, symbols) and Value rendering; made on
  // first use, sharing the ValueSession (and so the types) of the frames' variables.
  ProgramIndex &program();

private:
  void compute();
  bool interrupted();  // a Python signal handler raised (Ctrl-C): stop the engine's work
  std::unique_ptr<Symbolizer> makeSymbols(const SymbolPaths &paths);

  std::unique_ptr<Target> target_;
  std::unique_ptr<Symbolizer> symbols_;
  std::shared_ptr<ValueSession> values_;
  std::unique_ptr<FrameVariables> frameVars_;
  std::unique_ptr<ProgramIndex> program_;
  std::unique_ptr<SnapshotData> snapshot_;  // for snapshots: their stored frames and facts (no memory)
  std::string kind_;
  std::string path_;
  bool computed_ = false;
  bool interrupted_ = false;
  bool computing_ = false;  // compute() runs: the only time interrupted() polls
  std::vector<ThreadBacktrace> backtraces_;
  AnalysisResult analysis_;
  std::vector<std::string> warnings_;
  std::vector<std::pair<int, std::vector<PhysicalFrame>>> physical_;
};

}  // namespace bt::pyapi
