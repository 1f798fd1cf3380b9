// Inputs shared by the micro-benchmarks (bench/micro): real binaries and a real capture, never
// numbers made up for the benchmark. The fixture binaries come from tests/fixtures (built by the
// build, path in BT_FIXTURE_BIN_DIR); the capture is a vars_c fixture parked in pause() and
// captured once through the engine's own live capture (ptrace), then let go. A benchmark whose
// input is missing reports why through state.SkipWithError instead of measuring nothing.
#pragma once

#include "snapshot/snapshot.h"

#include <benchmark/benchmark.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/Object/ObjectFile.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace btbench {

// The fixture whose DWARF the variable benchmarks read and which is captured live: gcc -O2,
// DWARF 5, no frame pointers (so every step needs CFI and variables have location lists).
inline constexpr const char *kVarsFixture = "vars_c.gcc-O2-dwarf5-pie-nofp";
// The fixture with inlined frames (deep_c: level_c -> [inl_c_outer -> inl_c_inner]).
inline constexpr const char *kInlineFixture = "deep_c.gcc-O2-dwarf5-pie-nofp";

// Path of fixture binary `name`, or "" with `why` saying what is missing.
std::string fixture(const std::string &name, std::string &why);
// Absolute path of the running benchmark binary.
std::string selfExe();

struct FunctionSymbol {
  uint64_t address = 0, size = 0;
  std::string name;  // raw (mangled)
};
// The sized function symbols of an ELF file (.symtab), sorted by address, duplicates dropped.
std::vector<FunctionSymbol> functionSymbols(const std::string &path);

// An ELF file with its DWARF parsed by LLVM (as tests/unit/value_printer_test.cpp does).
struct DwarfFile {
  llvm::object::OwningBinary<llvm::object::ObjectFile> binary;
  std::unique_ptr<llvm::DWARFContext> ctx;
};
std::unique_ptr<DwarfFile> openDwarf(const std::string &path, std::string &why);

// The vars_c fixture captured live, once per run (the first benchmark that asks pays for it).
struct Capture {
  bt::SnapshotData snap;
  std::string error;  // non-empty: no capture (no fixtures, no ptrace, ...)
  std::string exe;
};
const Capture &capturedFixture();

// Skips the benchmark with `message` unless `ok`; returns `ok`.
bool require(benchmark::State &state, bool ok, const std::string &message);

}  // namespace btbench
