// Highlighted variables: the crashed thread's variables the fault's classification points at —
// a pointer whose value is the fault address or the faulting access's base register, a pointer
// to the object the fault address is inside (NULL->field), the function pointer a call to a bad
// address went through. They are marked on the Variable (bt text `!`, JSON `highlighted`) with
// the reason, so a reader sees first which value to look at.
#pragma once

#include "analysis/classification.h"
#include "unwind/backtrace.h"

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace bt {

// The pointer a rendered value starts with ("0x5555... \"text\"" -> 0x5555...), or nullopt.
std::optional<uint64_t> pointerInText(llvm::StringRef rendered);

// Marks the variables of the crashed thread's faulting frame (the one the pc is in, with its
// inlined frames; the caller's for a call to a bad address).
void highlightVariables(std::vector<ThreadBacktrace> &backtraces, const Classification &fault);

struct HighlightedVariable {
  const Frame *frame;
  const Variable *variable;
};
// The marked variables of the crashed thread, in frame order (also of a snapshot's stored
// frames, which keep the marks).
std::vector<HighlightedVariable> highlightedVariables(const std::vector<ThreadBacktrace> &backtraces);

}  // namespace bt
