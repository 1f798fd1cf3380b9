// Rust values as rust-gdb shows them: the summaries of the gdb printers that ship with the Rust
// toolchain (lib/rustlib/etc/gdb_providers.py) for String, &str, slices, OsString, Vec,
// VecDeque, HashMap/HashSet (hashbrown), BTreeMap/BTreeSet, Rc/Arc, Cell, RefCell and NonZero
// ("Vec(size=2) = {1, 2}", "Arc(strong=1, weak=0) = {value = ..., strong = 1, weak = 0}"), and
// the active variant of a Rust enum (a struct with a DW_TAG_variant_part: tagged or
// niche-encoded layouts). The layouts are read through DWARF member names, so a layout this file
// does not know gives no summary (the value prints as a plain Rust struct), never a wrong one;
// every walk is bounded by the element limit and by the container's own counts.
#pragma once

#include "vars/value_printer.h"

#include <llvm/DebugInfo/DWARF/DWARFDie.h>

#include <optional>
#include <string>

namespace bt {

// `type` is a struct DIE of a Rust unit (typedefs stripped). nullopt: no printer for it.
std::optional<std::string> formatRustLibraryValue(const llvm::DWARFDie &type, llvm::StringRef bytes,
                                                  ValueFormatter &f);

// A Rust enum's active variant: the DW_TAG_member inside the matching DW_TAG_variant (its type
// is the variant's struct, "Some", "Rect"), for the enum's object bytes.
struct RustVariant {
  llvm::DWARFDie member;
  uint64_t offset = 0;  // of the variant's struct in the enum's object
};
// Whether `type` (a struct DIE) is a Rust enum: it has a DW_TAG_variant_part.
bool isRustEnum(const llvm::DWARFDie &type);
// The active variant; nullopt when the enum has no variants, or the discriminant matches none
// and there is no default variant (corrupt memory). `discriminant` receives the value read.
std::optional<RustVariant> rustActiveVariant(const llvm::DWARFDie &type, llvm::StringRef bytes,
                                             uint64_t *discriminant = nullptr);

}  // namespace bt
