// The options `bt snapshot` and `bt coredump` share (what to capture, where to write it, where
// debug files are), and what both do with a finished capture: name the file, write it, report.
#pragma once

#include "snapshot/capture.h"
#include "snapshot/snapshot.h"
#include "symbols/symbolizer.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include <optional>
#include <string>
#include <vector>

namespace bt {

// Options shared by `bt snapshot` and `bt coredump`.
struct CaptureCli {
  CaptureOptions capture;
  std::string output, exe;
  std::vector<std::string> debugDirs;
  bool noCache = false, quiet = false, allowMismatch = false;
  std::optional<bool> security;  // --security / --no-security; unset: the command's default
  int tid = 0;
  uint64_t siginfo = 0, ucontext = 0;
};

// Returns 0 if argv[i] was consumed (i advanced past its value), -1 if it is not a capture
// option, or a usage exit status.
int parseCaptureOption(const char *cmd, int argc, char **argv, int &i, CaptureCli &c);

bool isDirectory(const std::string &p);
// FILE as given, or DIR/<program>.<pid>.<time>.btsnap (never an existing file's name).
std::string outputPath(const std::string &out, const ProcessFacts &p);
Symbolizer makeSymbolizer(const CaptureCli &c);
// The first ten warnings (of collectWarnings or a pipeline result), as "bt: warning:" lines.
void printWarnings(const std::vector<std::string> &warnings, llvm::raw_ostream &os);
// Writes the snapshot; the result is a one-line summary ("snapshot: PATH (N bytes...)").
llvm::Expected<std::string> writeAndReport(const SnapshotData &snap, const std::string &out);

}  // namespace bt
