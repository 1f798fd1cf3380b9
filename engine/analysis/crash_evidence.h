// CrashEvidence: what the analysis needs from a crashed process's memory, read in one short step
// while a live target is still frozen (the pipeline calls readCrashEvidence() just before it lets
// the process go): the bytes of the crashing instruction, the words around the stack pointer,
// glibc's abort message (an assertion, a heap check, a stack-protector or fortify failure all
// leave one) and the C++ exception being thrown. The rules (fault_rules.h) run later on this and
// the Target's plain data, so the analysis adds nothing to the time a live target is stopped, and
// a snapshot (which records every byte read here) replays it without the process.
#pragma once

#include "analysis/glibc_heap.h"
#include "analysis/rust_panic.h"
#include "symbols/symbolizer.h"
#include "target/target.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bt {

// A C++ exception object found in flight on the crashed thread's stack (libstdc++ or libc++abi).
struct ThrownException {
  uint64_t object = 0;   // the thrown object's address
  std::string type;      // demangled, e.g. "std::runtime_error"
  // Its what() for the std::logic_error / std::runtime_error families (the message is stored in
  // the object); "" when the type keeps its message elsewhere or cannot be read.
  std::string what;
};

struct CrashEvidence {
  Registers regs{};
  std::vector<uint8_t> code;  // bytes at the pc: up to 15 (the longest x86-64 instruction)
  // The word just below the stack pointer: after a `ret` to a bad address it is that address.
  std::optional<uint64_t> wordBelowSp;
  std::optional<uint64_t> wordAtSp;  // after a `call` to a bad address: the return address
  // The 7 bytes before wordAtSp when it points into executable memory: a call instruction
  // ending there proves the word is a return address (the pc came from a call, not a ret).
  std::vector<uint8_t> beforeWordAtSp;
  std::string abortMessage;          // glibc's __abort_msg text, "" if none
  std::optional<ThrownException> exception;
  // A Rust panic's PanicHookInfo on the crashed thread's stack (SIGABRT, SIGILL, SIGTRAP: how
  // the panic runtimes end a process), its location and, when validated, its message.
  std::optional<RustPanic> rustPanic;
  // glibc's heap as the crash left it (SIGSEGV, SIGBUS, SIGABRT), or why it could not be read.
  std::optional<GlibcHeap> heap;
  std::string heapUnavailable;
};

// Nullopt when no thread crashed. `symbols` finds glibc's __abort_msg (only looked up for
// SIGABRT, as the exception scan is).
std::optional<CrashEvidence> readCrashEvidence(Target &target, Symbolizer *symbols);

// The exception whose _Unwind_Exception header is at `header` (the magic checked), or nullopt.
std::optional<ThrownException> readThrownException(Target &target, uint64_t header);

}  // namespace bt
