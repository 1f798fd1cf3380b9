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

// The member lookups and type names the summaries repeat for every element of a container (a
// map's node type, say) and for every value of the same type (the same std::map in each of a
// thousand threads' frames). Keyed by where a DIE's bytes are (its section's mapping and its
// offset), not by LLVM's objects: the symbolizer's DWARF context of one batch of pcs is gone
// after it, and the next batch reads the same bytes. Valid while the module files stay mapped:
// the variables of one capture (FrameVariables) share one.
class StdPrinterMemo {
public:
  StdPrinterMemo();
  ~StdPrinterMemo();
  StdPrinterMemo(const StdPrinterMemo &) = delete;
  StdPrinterMemo &operator=(const StdPrinterMemo &) = delete;
  struct Data;
  std::unique_ptr<Data> data;
};

// While one lives (on this thread), the summaries use a memo: the one given, or one of its own
// for the value being printed. Nested scopes use the outermost one.
class StdPrinterMemoScope {
public:
  StdPrinterMemoScope();
  explicit StdPrinterMemoScope(StdPrinterMemo &memo);
  ~StdPrinterMemoScope();
  StdPrinterMemoScope(const StdPrinterMemoScope &) = delete;
  StdPrinterMemoScope &operator=(const StdPrinterMemoScope &) = delete;

private:
  std::unique_ptr<StdPrinterMemo> own_;
  bool activated_ = false;
};

// `type` is the struct/class DIE (typedefs stripped). nullopt: not a type with a summary.
std::optional<std::string> formatStdLibraryValue(const llvm::DWARFDie &type,
                                                 llvm::StringRef bytes, ValueFormatter &f);

// "std::__cxx11::basic_string<...>" style qualified name of a struct/class DIE.
std::string qualifiedTypeName(const llvm::DWARFDie &type);

}  // namespace bt
