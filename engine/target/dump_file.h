// openDumpFile: a post-mortem file as a Target, by its contents: a minidump ("MDMP") or an ELF
// core file (CoreFile says what else it is not). Snapshots are opened by SnapshotTarget, one
// layer up.
#pragma once

#include "target/target.h"

#include <llvm/Support/Error.h>

#include <memory>

namespace bt {

llvm::Expected<std::unique_ptr<Target>> openDumpFile(const std::string &path,
                                                     const std::string &exeOverride = {});

}  // namespace bt
