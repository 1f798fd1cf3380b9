// C and C++ type names spelled as gdb prints them ("const char *", "struct rec", "int [3]",
// "void (*)(int)") and as gdb's C++ symbol names carry them ("(char const*, int) const"), built
// from DWARF type DIEs with a depth bound (LLVM's DWARFTypePrinter recurses without one).
#pragma once

#include <llvm/DebugInfo/DWARF/DWARFDie.h>

#include <string>

namespace bt {

// Type name as written in C/C++ ("const char *", "struct rec", "int [3]").
std::string typeName(const llvm::DWARFDie &type);
// gdb's parameter part of a C++ function's symbol name: "(int, char**)", "(long) const";
// `canonical` spells types as the demangler does ("char const*"), else as gdb prints types.
std::string functionSignature(const llvm::DWARFDie &subprogram, bool canonical);
// True for compile units in C (struct/union/enum keywords in type names, no scoped names).
bool isCLanguage(const llvm::DWARFDie &d);

}  // namespace bt
