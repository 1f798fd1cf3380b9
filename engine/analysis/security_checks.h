// Security checks (`--security`, on in the crash handlers): signs that a process was tampered
// with or is being exploited, independent of how it crashed — writable and executable mappings,
// code pages of a live process that differ from their file, GOT entries that point outside every
// module, threads executing outside every module. They read the target's memory, so the
// pipeline runs them while the target is frozen; each finding is a Classification
// ("security-..." kinds) after the fault's.
#pragma once

#include "analysis/classification.h"
#include "symbols/symbolizer.h"
#include "target/target.h"

#include <vector>

namespace bt {

struct SecurityOptions {
  // Code compared with the files, at most (the largest libraries are hundreds of MiB).
  uint64_t maxCodeBytes = 256ull << 20;
};

std::vector<Classification> runSecurityChecks(Target &target, Symbolizer &symbols,
                                              const SecurityOptions &opts = {});

}  // namespace bt
