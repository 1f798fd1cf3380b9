// gdb's naming rules for functions, so frames read as gdb prints them: demangled names without
// their parameter lists, closures and unnamed types in GNU spelling ({lambda(int)#1}), and names
// of DWARF function DIEs qualified by their enclosing namespaces and classes.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>

#include <string>

namespace bt {

// Demangles and strips the parameter list the way gdb names frames ("ns::Foo<int>::bar"); Rust
// symbols of either mangling as rustSymbolName.
std::string displayFunctionName(llvm::StringRef linkageOrName);
// A Rust symbol's name without its hash, or "" if `symbol` is not Rust-mangled: v0 ("_R...",
// LLVM's Rust demangler: "<str>::trim_start_matches::<&str>") and legacy
// ("_ZN...17h<16 hex>E", escapes decoded as libiberty does: "Channel<T>::recv::{{closure}}").
// A ".llvm.NNN" (or other ".") suffix is dropped.
std::string rustSymbolName(llvm::StringRef symbol);
// Whether `die`'s compile unit is Rust (DW_LANG_Rust).
bool isRustUnit(llvm::DWARFDie die);
// A Breakpad .sym file's function name (already demangled, with its parameter list, maybe
// " [clone .isra.0]" suffixes) the way gdb names the frame: "ns::Foo::bar(int) const" -> "ns::Foo::bar".
std::string breakpadFunctionName(llvm::StringRef name);
// LLVM's demangled closure names in GNU spelling: "'lambda'(int)" -> "{lambda(int)#1}".
std::string gnuClosureNames(std::string demangled);
// gdb's name for a function DIE without parameters: the demangled linkage name, else the DWARF
// name qualified by enclosing namespaces and classes. In a Rust unit always the qualified DWARF
// name ("core::panic::unwind_safe::{impl#23}::call_once<(), ...>", generics as rustc writes them
// in DW_AT_name), as gdb names Rust functions.
std::string functionNameForDie(llvm::DWARFDie die);
// The DIE that declares `die`: DW_AT_abstract_origin / DW_AT_specification followed (bounded),
// where the scope (namespaces, classes) and the name live.
llvm::DWARFDie declarationOf(llvm::DWARFDie die);

}  // namespace bt
