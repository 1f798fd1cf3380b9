// The process's initial stack (argc, argv[], envp[], auxv[], then the strings at the top of the
// stack): finds the environment a core file does not list anywhere else, so snapshots can show
// and redact it. The auxv array is located by its contents (known from NT_AUXV), envp[] is the
// NULL-terminated pointer array right below it.
#pragma once

#include "target/module_discovery.h"
#include "target/target.h"

namespace bt {

// Fills facts.environment, envStart and envEnd when the initial stack can be found; leaves them
// untouched otherwise.
void readInitialEnvironment(const MemoryReader &read, const std::vector<MemoryRegion> &regions,
                            const std::vector<std::pair<uint64_t, uint64_t>> &auxv,
                            ProcessFacts &facts);

}  // namespace bt
