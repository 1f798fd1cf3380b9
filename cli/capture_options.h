// The options `bt snapshot` and `bt coredump` share (what to capture, where to write it, where
// debug files are), and what both do with a finished capture: name the file, write it, report.
#pragma once

#include "cli/crash_upload.h"
#include "cli/plugin_runner.h"
#include "snapshot/capture.h"
#include "snapshot/snapshot.h"
#include "symbols/symbolizer.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include <optional>
#include <string>
#include <vector>

namespace bt {

// The memory budget of a capture plugins will read (unless --max-memory-bytes says otherwise).
constexpr uint64_t kPluginMemoryBytes = 256u << 20;

// Options shared by `bt snapshot` and `bt coredump`.
struct CaptureCli {
  CaptureOptions capture;
  std::string output, exe;
  SymbolPaths symbolPaths;
  bool noCache = false, quiet = false, allowMismatch = false;
  std::optional<bool> security;  // --security / --no-security; unset: the command's default
  int tid = 0;
  uint64_t siginfo = 0, ucontext = 0;
  PluginOptions plugins;
  bool memoryBudgetGiven = false;  // --max-memory-bytes (else plugins widen the default)
  UploadOptions upload;            // --upload URL ...
  bool uploadBackground = false;   // --upload-background: a detached `bt upload` sends it
};

// A capture written to disk: where, and bt's one-line summary of it.
struct WrittenCapture {
  std::string path, summary;
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
// Before capturing: with plugins configured the snapshot keeps the process's writable memory
// (plugins read it), within a larger default budget.
void preparePluginCapture(CaptureCli &c);
// Writes the snapshot; with plugins configured, runs them on it and writes it again with their
// results. The summary is one line ("snapshot: PATH (N bytes...)").
llvm::Expected<WrittenCapture> writeAndReport(SnapshotData &snap, const CaptureCli &c);
// With --upload: sends the written capture and returns a line saying so ("uploaded to ...");
// with --upload-background, starts a detached `bt upload` (the crash handler's process need not
// wait for the network) and says that. On failure the file stays where it is, and the error
// says how to send it later.
llvm::Expected<std::string> uploadCapture(const WrittenCapture &w, const CaptureCli &c);

}  // namespace bt
