// Breakpad's names for an ELF build, from its GNU build-id: the debug id (the build-id's first 16
// bytes, zero-padded, read as a GUID whose first three fields are little-endian, then the age,
// always 0 on Linux: "C0BCC3F19827FE653058404B2831D9E60") and the code id (the whole build-id,
// lowercase hex). Minidump modules, Breakpad .sym files (MODULE lines, NAME/DEBUGID/NAME.sym
// store paths) and local ELF files match each other through them.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <string>

namespace bt {

// "" when the build-id is empty or not hex.
std::string breakpadDebugId(llvm::StringRef buildIdHex);
std::string breakpadCodeId(llvm::StringRef buildIdHex);

}  // namespace bt
