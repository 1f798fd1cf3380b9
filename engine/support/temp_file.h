// The first half of writing a file atomically: a new file of its own next to the destination
// (O_EXCL, so never through a link someone left there; in the same directory, so the final
// rename stays within one file system), which the writer fills, syncs and renames over the
// destination. Snapshots, minidump exports and Breakpad symbol files are written this way.
#pragma once

#include <llvm/Support/Error.h>

#include <string>
#include <sys/types.h>

namespace bt {

struct TempFile {
  int fd = -1;
  std::string path;
};

// A fresh file "<destination>.tmp.<pid>[.n]" with `mode`; the error names `destination` and
// carries the kind its errno means (a missing directory, no permission, ...).
llvm::Expected<TempFile> createTempFileNextTo(const std::string &destination, mode_t mode);

}  // namespace bt
