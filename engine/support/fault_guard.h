// FaultGuard: runs a piece of code that parses untrusted data with a third-party parser (LLVM's
// DWARF reader is not hardened against hostile input: corrupt line-table forms or abbreviations
// make it dereference null), and turns a SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT raised inside it into an
// error instead of a crash. The handlers are installed for the duration of the call only (with
// an alternate stack, so a runaway recursion is caught too) and the previous ones restored when
// no guarded call is left on any thread, so a host process (e.g. Python) keeps its own. After a
// fault, the objects the code was working on must be abandoned, not used or destroyed: their
// state is unknown.
#pragma once

#include <llvm/ADT/STLFunctionalExtras.h>

#include <string>

namespace bt {

// Returns true if fn ran to completion; false (and the signal's name in *fault) if it faulted.
bool runGuarded(llvm::function_ref<void()> fn, std::string *fault = nullptr);

}  // namespace bt
