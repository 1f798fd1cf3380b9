// checkUnitShape: walks one unit of .debug_info the way a DWARF reader must, before LLVM's reader
// does: the unit header, its abbreviation table, and every DIE's attributes skipped by form, each
// bounded by the unit's end. LLVM's reader trusts lengths it reads (a block length of 2^32 in a
// damaged executable made it fault, and the fault guard's recovery leaked what it had allocated),
// so a unit this check refuses is never given to it: its pcs get the symbol table instead.
// Linear in the unit's and the abbreviation table's sizes.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bt {

// What is wrong with the unit at `unitOffset` of `debugInfo`, or nullopt if its shape is sound.
std::optional<std::string> checkUnitShape(llvm::StringRef debugInfo, llvm::StringRef debugAbbrev,
                                          uint64_t unitOffset);

}  // namespace bt
