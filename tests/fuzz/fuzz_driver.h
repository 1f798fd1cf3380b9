// The mutation driver every fuzz target shares (the snapshot reader, the core reader, the
// minidump reader, CFI, DWARF expressions, the RSP server). A target defines
// LLVMFuzzerTestOneInput, so it also builds for libFuzzer (clang, -DBT_LIBFUZZER), and, for the
// built-in driver (any compiler; CI runs it in the ASan+UBSan build for a bounded time), a main
// that calls runDriver with its name, its own mutator (optional: byte mutations otherwise) and
// built-in seeds (optional: seed files may be given too):
//     TARGET [--seconds N] [--seed S] [--artifact PATH] [SEED_FILE...]
// runs every seed unmodified, then mutates them for N seconds. The input being run is kept in
// the artifact file (default TARGET.crash), so when the process dies (ASan, UBSan with
// halt_on_error, a signal, a violated invariant) it is left there; a clean run removes it. Run
// the target with --seconds 0 on that file to reproduce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace bt::fuzz {

using Bytes = std::string;

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint64_t next() { return g(); }
  size_t below(size_t n) { return n ? size_t(g() % n) : 0; }
  bool chance(unsigned oneIn) { return below(oneIn) == 0; }
};

// Boundary values for sizes, counts and addresses.
uint64_t interesting64(Rng &r);
// One byte-level mutation of any buffer (bit flips, byte sets, truncation, insertion, removal,
// interesting u64s, duplicated ranges); never grows it past maxSize.
void mutateBytes(Bytes &b, Rng &r, size_t maxSize);

// A target's mutator: a new input from a seed; it may keep some outputs in `pool` for stacking.
using Mutator = std::function<Bytes(const Bytes &seed, Rng &r, std::vector<Bytes> &pool)>;

struct TargetInfo {
  const char *name;
  Mutator mutate;                  // empty: stacked byte mutations
  std::vector<Bytes> seeds;        // built-in seeds (synthetic inputs)
  std::function<bool(const Bytes &)> accepts;  // optional: is a (mutated) input still valid?
};

int runDriver(int argc, char **argv, const TargetInfo &target);

// Reports a broken promise of the code under test and aborts (the driver saves the input).
[[noreturn]] void invariantFailed(const char *what);

}  // namespace bt::fuzz
