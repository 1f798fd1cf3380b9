// Backtrace: the symbolized result of unwinding every thread of a Target — physical frames from
// the Unwinder expanded into their inline chains by the Symbolizer. This is the data the
// presentation layers (text, JSON, later snapshots) print; it holds no pointers into the Target.
#pragma once

#include "symbols/symbolizer.h"
#include "target/target.h"
#include "unwind/unwinder.h"

#include <optional>
#include <string>
#include <vector>

namespace bt {

class Symbolizer;

struct Frame {
  size_t index = 0;
  uint64_t pc = 0;
  std::string module;         // path of the module holding pc, "" if none
  uint64_t moduleOffset = 0;  // pc - module load bias
  std::string function;       // "" if unknown
  std::string file;           // "" if unknown
  uint32_t line = 0;
  uint32_t column = 0;
  bool inlined = false;
  FrameHow how = FrameHow::Context;
  bool suspect = false;
  bool signalTrampoline = false;
  // The module's file here is another build than the process ran (ModuleInfo::mismatch): its
  // names are missing, or, when the mismatch was allowed, may be wrong.
  bool buildIdMismatch = false;
  std::vector<Variable> variables;  // parameters first, then locals (only when asked for)
  bool variablesRead = false;       // variables were asked for and the frame has DWARF scope
  bool variablesRequested = false;  // variables were asked for (read or not)
};

struct ThreadBacktrace {
  int tid = 0;
  std::string name;
  bool crashed = false;
  std::optional<SignalInfo> signal;
  std::vector<Frame> frames;
  std::string stopReason;
};

// Unwinding reads target memory; symbolization does not. A live target can be released between
// the two (bt does), which keeps the pause short.
std::vector<UnwindResult> unwindAllThreads(Target &target, Symbolizer &symbols,
                                           const UnwindOptions &opts = {});
// A tail-call frame reconstructed above physical frame `index` (its callee): `chain` holds the
// return addresses of the whole chain, chain[0] the frame that jumped to the callee, the next one
// jumped to that, ...; this frame is chain[level].
struct TailCallPosition {
  std::vector<uint64_t> chain;
  size_t level = 0;
  uint64_t pc() const { return chain[level]; }
};
// Supplies, for frame `index` of an unwound thread (or a tail-call frame above it), a visitor
// that extracts variables while the frame's DWARF is parsed (the vars layer provides it; empty:
// no variables).
using ScopeVisitorFactory = std::function<ScopeVisitor(const UnwindResult &, size_t index,
                                                       std::optional<TailCallPosition> tail)>;

std::vector<ThreadBacktrace> symbolizeBacktraces(const Target &target, Symbolizer &symbols,
                                                 const std::vector<UnwindResult> &unwound,
                                                 const UnwindOptions &opts = {},
                                                 const ScopeVisitorFactory &variables = {});
// Both steps.
std::vector<ThreadBacktrace> buildBacktraces(Target &target, Symbolizer &symbols,
                                             const UnwindOptions &opts = {});

const char *signalName(int signo);  // "SIGSEGV"; "SIG<n>" for unknown numbers

}  // namespace bt
