// `bt export --minidump INPUT -o FILE`: a core file, snapshot or minidump written as a
// Breakpad-style minidump (engine/snapshot/minidump_writer.h), for tools that read only those.
#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "snapshot/minidump_writer.h"
#include "snapshot/open_target.h"

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <sys/stat.h>

#include <string>
#include <vector>

namespace bt {

namespace {

const char kExportUsage[] = R"(usage: bt export --minidump INPUT -o FILE [--exe PATH] [OPTIONS]

Writes a minidump (Microsoft/Breakpad format, Linux x86-64) of INPUT, a core file, a btengine
snapshot or another minidump, for tools that read only minidumps (lldb -c FILE, Breakpad's
minidump_stackwalk, rust-minidump, crash servers); bt reads it back as well. It holds what
INPUT holds, as Breakpad's Linux writer lays it out: every thread's registers and stack, the
signal and fault address, the modules with their build-ids, the memory map, auxv, command line,
environment (a snapshot's is redacted unless it was taken with --no-redact-env) and INPUT's
memory, except code and read-only data that the same build of the module file on this machine
holds too (debuggers read those from the file, as for a core). Nothing is made up: what INPUT
does not know (the CPU, the kernel, the crash time) is left empty.

options:
  --minidump             write a minidump (the only format so far; required)
  -o, --output FILE      where to write (required): a temporary file next to it is renamed
                         to FILE when complete; never INPUT itself
  --exe PATH             the executable of a core file, if the recorded path has moved
  --max-stack-bytes N    stack bytes per thread from its SP (default 524288)
  --max-memory-bytes N   memory written in all, the stacks first (default 2147483648, at most
                         4026531840: the format's 32-bit offsets); a warning says what was
                         left out
  -q, --quiet            do not print warnings
  -h, --help             show this help

A live process is not exported directly: take a snapshot of it first (bt snapshot PID -o
X.btsnap; --no-redact-env keeps its environment), then export the snapshot.

exit status: as for bt; 9: the minidump was written, but from an incomplete source (a truncated
core, a missing or mismatched executable; the warnings say what is missing)
)";

bool exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

}  // namespace

int exportMain(int argc, char **argv) {
  std::string input, output, exe;
  bool minidump = false, quiet = false;
  MinidumpWriteOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      llvm::outs() << kExportUsage;
      return 0;
    } else if (a == "--minidump") {
      minidump = true;
    } else if (a == "-o" || a == "--output") {
      const char *v = value();
      if (!v || !*v) return usageError("export", a + " needs a file name");
      output = v;
    } else if (a == "--exe") {
      const char *v = value();
      if (!v || !*v) return usageError("export", "--exe needs a path");
      exe = v;
    } else if (a == "--max-stack-bytes" || a == "--max-memory-bytes") {
      uint64_t n = 0;
      if (!parseNumber(value(), n) || n == 0) return usageError("export", a + " needs a positive number");
      (a == "--max-stack-bytes" ? opts.maxStackBytes : opts.maxMemoryBytes) = n;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError("export", "unknown option '" + a + "'");
    } else if (input.empty()) {
      input = a;
    } else {
      return usageError("export", "unexpected argument '" + a + "'");
    }
  }
  if (!minidump) return usageError("export", "say which format to write: --minidump (the only one so far)");
  if (input.empty()) return usageError("export", "missing INPUT (a core file, snapshot or minidump)");
  if (output.empty()) return usageError("export", "missing -o FILE");
  if (opts.maxMemoryBytes > kMaxMinidumpMemoryBytes)
    return usageError("export", "--max-memory-bytes: a minidump holds at most " +
                                    std::to_string(kMaxMinidumpMemoryBytes) + " bytes of memory");

  if (!exists(input)) {
    if (isProcessId(input))
      return usageError("export", "no file '" + input + "': a live process is exported through a snapshot "
                                  "(bt snapshot " + input + " -o X.btsnap, then bt export --minidump X.btsnap)");
    return fail({ErrorKind::MissingFile, input + ": No such file or directory"});
  }
  TargetRequest request = TargetRequest::forFile(input, exe);
  struct stat st;
  if (sourceKindOf(request) == "unknown" && stat(input.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return fail({ErrorKind::BadInput, input + ": not a core file, btengine snapshot or minidump"});

  // The output: in an existing directory, not a directory itself, and never the input.
  if (llvm::sys::fs::is_directory(output))
    return fail({ErrorKind::Usage, output + " is a directory: -o names the minidump file"});
  std::string dir = llvm::sys::path::parent_path(output).str();
  if (!dir.empty() && !llvm::sys::fs::is_directory(dir))
    return fail({ErrorKind::MissingFile, "output directory does not exist: " + dir});
  bool same = false;
  if (exists(output) && !llvm::sys::fs::equivalent(input, output, same) && same)
    return fail({ErrorKind::Usage, "refusing to overwrite the input " + input + " with the minidump (-o " +
                                       output + ")"});

  auto target = openTarget(request);
  if (!target) return fail(takeErrorReport(target.takeError()));
  std::vector<std::string> warnings;
  llvm::Expected<MinidumpWriteStats> stats = writeMinidumpFile(**target, output, opts, warnings);
  if (!stats) return fail(takeErrorReport(stats.takeError()));
  llvm::outs() << "minidump: " << output << " (" << stats->threads << " thread" << (stats->threads == 1 ? "" : "s")
               << ", " << stats->modules << " module" << (stats->modules == 1 ? "" : "s") << ", "
               << stats->memoryBytes << " bytes of memory in " << stats->memoryRanges << " range"
               << (stats->memoryRanges == 1 ? "" : "s") << (stats->exception ? ", the signal" : ", no signal")
               << "; " << stats->fileBytes << " bytes)\n";
  llvm::outs().flush();
  if (!quiet) {
    const std::vector<std::string> &fromTarget = (*target)->warnings();
    for (size_t i = 0; i < fromTarget.size() && i < 10; ++i) llvm::errs() << "bt: warning: " << fromTarget[i] << "\n";
    for (const std::string &w : warnings) llvm::errs() << "bt: warning: " << w << "\n";
  }
  return resultStatus((*target)->partial());
}

}  // namespace bt
