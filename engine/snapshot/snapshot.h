// Snapshot: the state of a failing process as btengine keeps it — process facts, threads with
// registers, symbolized frames with their variables, the memory slices that matter (stacks,
// pages around the fault, what crashing-frame pointers refer to), modules with build-ids, the
// memory map, signal, auxv, user attributes, classifier results and a crash fingerprint. It is
// self-contained: reading it needs no executable and no debug files. On disk it is one zstd
// frame behind a small header (docs/snapshot-format.md); writes are atomic (temp file + rename)
// and reads are bounded and validated, so a truncated or hostile file yields an error.
#pragma once

#include "analysis/analysis.h"
#include "snapshot/plugin_report.h"
#include "symbols/symbolizer.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/JSON.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bt {

constexpr uint32_t kSnapshotFormatVersion = 1;

struct MemorySlice {
  uint64_t address = 0;
  std::string bytes;
  uint64_t end() const { return address + bytes.size(); }
};

// How and where the snapshot was taken.
struct CaptureInfo {
  std::string source;        // kind of the captured target: "live", "core"
  uint64_t time = 0;         // capture time, seconds since the epoch
  double stoppedMs = -1;     // how long a live target was stopped (-1: not live)
  std::string host;          // host name of the capturing machine
  std::string kernel;        // "Linux 6.1.0-... #1 SMP ..." of the capturing machine
  std::string arch = "x86_64";
  std::string btVersion;
  bool variables = true;     // variables were captured
  std::string threads = "all";  // "all" or "crashed"
  bool environmentRedacted = true;
};

// (A new field also goes into SnapshotTarget::dataWithoutMemory.)
struct SnapshotData {
  ProcessFacts process;
  CaptureInfo capture;
  std::vector<ThreadInfo> threads;
  std::vector<MemoryRegion> regions;
  std::vector<ModuleInfo> modules;
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
  std::optional<SignalInfo> signal;
  std::optional<int> crashedTid;
  std::optional<uint64_t> xcr0;
  std::vector<ThreadBacktrace> backtraces;
  std::vector<Variable> globals;
  std::vector<MemorySlice> memory;  // sorted by address, disjoint
  // The parts of `memory` read from a live process after it was let go (Target::
  // releaseKeepingStacks): the running process's, not the frozen state. [start, end), sorted.
  std::vector<std::pair<uint64_t, uint64_t>> memoryReadAfterRelease;
  std::vector<std::pair<std::string, std::string>> attributes;  // user attributes, in order
  std::vector<Classification> classifications;  // the analysis' findings (engine/analysis)
  std::string fingerprint;            // stable hash of the crash (signal + top frames)
  std::vector<std::string> fingerprintFrames;  // what the fingerprint was computed from
  std::optional<PluginReport> plugins;  // what plugins added (docs/plugins.md); none: no plugin ran

  // The analysis the snapshot stored when it was taken (not recomputed).
  AnalysisResult storedAnalysis() const {
    AnalysisResult a;
    a.fingerprint = {fingerprint, fingerprintFrames};
    a.classifications = classifications;
    return a;
  }
};

// Writes `snap` to `path` atomically; the result is the file's size in bytes. With `replace`
// false an existing file at `path` is an error (and is left alone), even one created meanwhile.
llvm::Expected<uint64_t> writeSnapshot(const SnapshotData &snap, const std::string &path,
                                       bool replace = true);
// Reads and validates a snapshot file.
llvm::Expected<SnapshotData> readSnapshot(const std::string &path);
// The same from bytes already in memory (fuzzing, tests); `name` names them in messages.
llvm::Expected<SnapshotData> parseSnapshot(llvm::StringRef bytes, const std::string &name);

}  // namespace bt
