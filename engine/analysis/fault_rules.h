// Fault rules: what kind of fault a crash is and how dangerous, from facts only — the signal,
// the decoded instruction and its effective address, the memory map, the crashed thread's frames
// and the evidence read from memory (glibc's abort message, the exception in flight). Each rule
// has a stable id and one sentence of reason, and records the facts it used, so a person can check
// it; docs/analysis.md lists them all. Severity follows CERT's `exploitable` rules; the Breakpad
// rating reproduces Breakpad's Linux exploitability engine (HIGH / INTERESTING / NONE) for
// comparison with the ratings teams already have.
#pragma once

#include "analysis/classification.h"
#include "analysis/crash_evidence.h"
#include "analysis/instruction_decoder.h"
#include "target/target.h"
#include "unwind/backtrace.h"

#include <optional>
#include <vector>

namespace bt {

// Everything the rules look at, as plain data (the analysis fills it from a Target; tests by hand).
struct FaultFacts {
  std::optional<SignalInfo> signal;
  std::vector<MemoryRegion> regions;  // sorted by start
  std::vector<ModuleInfo> modules;    // sorted by start
  std::vector<Frame> frames;          // the crashed thread's, innermost first
  std::optional<CrashEvidence> evidence;
  std::optional<DecodedInstruction> instruction;
  // An address on the main thread's stack (AT_EXECFN from the auxiliary vector: cores do not
  // name the [stack] mapping) and whether the crashed thread is the main thread.
  std::optional<uint64_t> mainStackAddress;
  bool crashedIsMainThread = false;
  // The word at the stack pointer is a return address: a call instruction ends right before it.
  bool spHoldsReturnAddress = false;
};

constexpr uint64_t kNearNull = 64 * 1024;  // below this, a bad address is a NULL pointer's field

// The fault's classification (kind, severity, rule, reason, evidence, Breakpad rating); nullopt
// when there is no crash to classify (a live process that did not crash).
std::optional<Classification> classifyFault(const FaultFacts &facts);

// Breakpad's HIGH / INTERESTING / NONE, by its Linux engine's rules on these facts (plus the
// documented additions in docs/analysis.md); "" when there is no crash.
std::string breakpadRating(const FaultFacts &facts, const Classification *fault);

// Glibc heap rules, on top of the fault's classification `c` (when the evidence holds the heap):
// what the pointers involved are (the fault address, the faulting access's base register, the
// pointer given to free/realloc, the highlighted variables), and what the allocator state
// proves — a double free (the pointer is already in a free list), an invalid free (not the start
// of a chunk), a use after free (the object accessed is inside a freed chunk).
void applyHeapRules(Classification &c, const FaultFacts &f, const Target &target);

// The assertion in a glibc assert message ("prog: file.c:12: main: Assertion `x' failed."):
// expression, file, line, function; nullopt if the message is not one.
struct AssertionText {
  std::string expression, file, function;
  unsigned line = 0;
};
std::optional<AssertionText> parseAssertMessage(const std::string &message);

}  // namespace bt
