// ValuePrinter: renders a typed value the way gdb prints it ("{a = 1, b = 0x0}",
// "0x4006f4 \"text\"", "{0 <repeats 16 times>}", "(FA | FC)", "<optimized out>"), from the
// value's bytes and its DWARF type. Types are read straight from the DIEs (typedefs and
// cv-qualifiers resolved, structs/unions with base classes and bit-fields, enums incl. flag
// enums, arrays incl. multi-dimensional, pointers, references, function pointers). Output is
// bounded (elements, string length, nesting, total size), so a hostile or huge value cannot cost
// unbounded time or memory; memory reads go through a callback (the Target).
#pragma once

#include "vars/dwarf_types.h"
#include "vars/type_names.h"

#include <llvm/DebugInfo/DWARF/DWARFDie.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bt {

struct PrintLimits {
  unsigned elements = 200;      // gdb's "print elements"
  unsigned repeatThreshold = 10;  // gdb's "print repeats"
  unsigned maxDepth = 8;        // nesting of aggregates
  size_t maxOutput = 16384;     // characters for one value
  bool hex = false;             // integers, characters, bools and enums in hex (gdb's print /x)
};

struct PrintContext {
  // Reads target memory; returns bytes read.
  std::function<size_t(uint64_t addr, void *buf, size_t len)> read;
  // "<symbol>" or "<symbol+off>" for an address, "" if none (gdb's print symbol).
  std::function<std::string(uint64_t addr, bool function)> symbolize;
  PrintLimits limits;
  // Where a static data member (its declaration in the class) is defined, which may be another
  // module (gdb finds it by its symbol); empty or nullopt: shown as <optimized out>.
  std::function<std::optional<uint64_t>(const llvm::DWARFDie &member)> staticAddress;
  // The definition of a struct, class or union this unit only declares (clang's classes whose
  // key function is elsewhere), found by name in any module; empty or an invalid DIE: none, the
  // value is "<incomplete type>". The DIE must stay valid while the value is printed.
  std::function<llvm::DWARFDie(const llvm::DWARFDie &declaration)> completeType;
  // Bytes of the top-level value that have no location (DWARF pieces without one): the parts
  // made only of them print <optimized out>, as gdb's. Empty: every byte is known.
  std::vector<bool> missingBytes;
  // The recursion levels gdb counts above the value where it prints it: `bt full` prints
  // frame arguments at 2 and locals at 4, and cuts anything nested to its "print max-depth" 20
  // as "{...}" (Rust values nest the standard library's wrappers that deep). Used for Rust
  // values; C and C++ aggregates keep limits.maxDepth.
  unsigned nesting = 0;
  // A user's pretty-printer (Python plugins): asked about every value before the built-in
  // rendering, with the value's type as declared (typedefs kept); its text replaces the value's,
  // nullopt leaves it to the built-ins.
  std::function<std::optional<std::string>(const llvm::DWARFDie &type, llvm::StringRef bytes,
                                           std::optional<uint64_t> address)>
      custom;
};

// What the standard-library summaries need from the printer (see std_printers.h).
class ValueFormatter {
public:
  virtual ~ValueFormatter() = default;
  virtual std::string format(const llvm::DWARFDie &type, llvm::StringRef bytes,
                             std::optional<uint64_t> address) = 0;
  virtual size_t read(uint64_t addr, void *buf, size_t len) = 0;
  virtual std::string pointer(uint64_t value) = 0;  // "0x..." plus " <sym>" when known
  virtual std::string string(const std::vector<uint8_t> &chars, bool truncated) = 0;
  virtual const PrintLimits &limits() const = 0;
  // Joins a container's rendered elements as gdb prints a pretty-printer's children ("a, b, b,
  // c", "..." when `more`): one by one, without the repeat blocks of arrays.
  virtual std::string elements(const std::vector<std::string> &items, bool more) = 0;
  // Whether the value being summarized is nested as deep as gdb prints children (its
  // "print max-depth"): its children are then "{...}". Only the Rust summaries count depth
  // through a printer's children as gdb does.
  virtual bool childrenTooDeep() const { return false; }
};


// The size of an object of `type`, declared-only classes completed through ctx.completeType
// (arrays of them too); typeSize's answer when there is nothing to complete.
uint64_t completedTypeSize(const llvm::DWARFDie &type, const PrintContext &ctx);

// Renders `bytes` (the value's object representation) of `type`. `address` is where the value
// lives in memory, if it does (references and arrays of unknown bound need it).
std::string formatValue(const llvm::DWARFDie &type, llvm::StringRef bytes,
                        std::optional<uint64_t> address, const PrintContext &ctx);
// A pointer of value `value` to `pointee` (invalid DIE: void), for pointer types that exist only
// in a script (address-of, a cast to "T *"), not in the DWARF.
std::string formatPointerTo(const llvm::DWARFDie &pointee, uint64_t value, const PrintContext &ctx);
// Rendered elements joined like gdb ("a, b <repeats 12 times>, c", "..." when `more`).
std::string formatElements(const std::vector<std::string> &items, bool more, const PrintLimits &limits);

}  // namespace bt
