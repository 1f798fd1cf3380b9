// Breakpad symbol writer (what Breakpad's dump_syms does): one ELF file (x86-64 executable or
// shared library, with a GNU build-id) and its DWARF (its own, or a separate debug file found by
// build-id / .gnu_debuglink as the symbolizer finds it) written as a Breakpad text symbol file:
// MODULE and INFO CODE_ID (symbols/breakpad_ids), FILE, FUNC per contiguous range of every
// subprogram with code (the linkage name demangled with its parameter list, as dump_syms writes
// it; C functions by name) with its line records (the row gdb and the symbolizer pick where
// several rows share an address), INLINE_ORIGIN and INLINE in the new layout (with the call
// site's file), PUBLIC for the function symbols no FUNC covers, and STACK CFI INIT / STACK CFI
// translated from every FDE of .eh_frame and .debug_frame (CFA = register + offset, registers at
// or in .cfa/register + offset, same value, constants; a row Breakpad cannot express (a DWARF
// expression) ends the record there, never a guessed rule; an undefined return address, the
// outermost frame, is written `.ra: 0`, which walkers take as the end of the stack). Addresses
// are relative to the module's lowest PT_LOAD address, page aligned, which is how the reader
// (BreakpadSymbols, ModuleSymbols::breakpadBase) maps them. DWARF units pass the shape check
// before LLVM parses them and are read under the fault guard: a bad unit is skipped with a
// warning, a fault ends the DWARF part (what was read stays). Errors are returned, not thrown.
#pragma once

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bt {

struct BreakpadWriteOptions {
  std::vector<std::string> debugDirs;  // also searched for separate debug files (--debug-dir)
  bool cfi = true;                     // write STACK CFI records
  std::string cacheDir;                // inflation cache for compressed sections ("": in memory)
};

// Who the file is, in Breakpad's terms (the MODULE line and the store path).
struct BreakpadModuleIdentity {
  std::string name;     // the file's base name
  std::string debugId;  // 33 hex digits
  std::string codeId;   // the build-id
};

struct BreakpadWriteStats {
  BreakpadModuleIdentity module;
  std::string dwarfFile;  // where the DWARF came from ("" when there is none)
  size_t files = 0, functions = 0, lines = 0, inlines = 0, inlineOrigins = 0, publics = 0;
  size_t cfiInits = 0, cfiRecords = 0;  // STACK CFI INIT records; all STACK CFI lines
  uint64_t bytes = 0;
};

// The identity of `elfPath`; an error when it is not an x86-64 executable or shared library or
// has no build-id (no Breakpad debug id can be made for it).
llvm::Expected<BreakpadModuleIdentity> breakpadIdentity(const std::string &elfPath);

// Writes the symbol file of `elfPath` to `os`. Problems that leave parts out (no DWARF, corrupt
// units, CFI that cannot be read) go to `warnings`.
llvm::Expected<BreakpadWriteStats> writeBreakpadSymbols(const std::string &elfPath, llvm::raw_ostream &os,
                                                        const BreakpadWriteOptions &opts,
                                                        std::vector<std::string> &warnings);

// The same into `outPath`, atomically: a temporary file next to it renamed when complete.
llvm::Expected<BreakpadWriteStats> writeBreakpadSymbolFile(const std::string &elfPath,
                                                           const std::string &outPath,
                                                           const BreakpadWriteOptions &opts,
                                                           std::vector<std::string> &warnings);

}  // namespace bt
