// Breakpad STACK CFI rules evaluated: the postfix expressions of a .sym file's CFI records
// (symbols/breakpad_symbols.h: register name → expression, accumulated to a pc) computing the
// caller's registers from the callee's, as Breakpad's and rust-minidump's walkers do. Tokens:
// numbers (decimal, or hex with 0x), registers and the variables .cfa/.ra, the binary operators
// + - * / % and @ (align down), and ^ (read 8 bytes of memory). .cfa is computed first from the
// callee's registers; every other rule may use it; the caller's $rsp is the CFA and its $rip the
// .ra rule. Any malformed expression, division by zero or unreadable memory is an error, never a
// guessed value.
#pragma once

#include "target/module_discovery.h"  // MemoryReader

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <map>
#include <string>

namespace bt {

// One postfix expression over `vars` (register or variable name → value).
llvm::Expected<uint64_t> evalBreakpadPostfix(llvm::StringRef expr, const std::map<std::string, uint64_t> &vars,
                                             const MemoryReader &read);

// The caller's registers ("$rip", "$rsp", and those the rules recover, e.g. "$rbx") from the
// callee's, by `rules` (which must hold .cfa and .ra).
llvm::Expected<std::map<std::string, uint64_t>> applyBreakpadCfi(
    const std::map<std::string, std::string> &rules, const std::map<std::string, uint64_t> &callee,
    const MemoryReader &read);

}  // namespace bt
