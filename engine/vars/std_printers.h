// Summaries of common C++ standard-library types, as gdb's libstdc++ pretty printers show them
// ("std::vector of length 3, capacity 4 = {1, 2, 3}", "std::unique_ptr<int> = {get() = 0x...}"),
// built in so that no Python printers are needed: strings and string_views, vector, list,
// forward_list, deque, (multi)map/set, unordered_*, unique/shared/weak_ptr, optional, variant,
// pair, tuple, bitset, atomic (list, forward_list, deque, optional, variant, pair, tuple, bitset,
// atomic and string_view for libstdc++ only so far). They read the libstdc++ (GCC) layouts and the
// libc++ (LLVM, std::__1) ones through the DWARF member names, so a layout change shows up as
// "no summary" (the raw struct is printed instead), never as a wrong value. libc++ values get the
// same text as libstdc++ ones.
#pragma once

#include "vars/value_printer.h"

#include <memory>
#include <optional>
#include <string>

namespace bt {

// While one lives (on this thread), the summaries remember the member lookups and type names
// they repeat for every element of a container (a map's node type, say). The DIEs it keys on
// must stay valid as long: the printer holds one while it prints one top-level value. Nested
// scopes use the outermost one.
class StdPrinterMemoScope {
public:
  StdPrinterMemoScope();
  ~StdPrinterMemoScope();
  StdPrinterMemoScope(const StdPrinterMemoScope &) = delete;
  StdPrinterMemoScope &operator=(const StdPrinterMemoScope &) = delete;
  struct Memo;

private:
  std::unique_ptr<Memo> memo_;
};

// `type` is the struct/class DIE (typedefs stripped). nullopt: not a type with a summary.
std::optional<std::string> formatStdLibraryValue(const llvm::DWARFDie &type,
                                                 llvm::StringRef bytes, ValueFormatter &f);

// "std::__cxx11::basic_string<...>" style qualified name of a struct/class DIE.
std::string qualifiedTypeName(const llvm::DWARFDie &type);

}  // namespace bt
