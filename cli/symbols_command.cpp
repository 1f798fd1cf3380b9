// `bt symbols EXE... -o DIR|FILE.sym`: Breakpad symbol files (.sym) of executables and shared
// libraries (engine/symbols/breakpad_writer.h), into a symbol store laid out as Breakpad's and
// Crashpad's servers keep them (DIR/NAME/DEBUGID/NAME.sym) or into one file.
#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "symbols/breakpad_symbol_store.h"
#include "symbols/breakpad_writer.h"
#include "symbols/dwarf_sections.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <string>
#include <vector>

namespace bt {

namespace {

const char kSymbolsUsage[] = R"(usage: bt symbols EXE [EXE...] -o DIR|FILE.sym [OPTIONS]

Writes the Breakpad symbol file (.sym: what Breakpad's dump_syms writes, symupload uploads and
crash servers keep) of each EXE, an x86-64 executable or shared library with a GNU build-id:
MODULE and INFO CODE_ID (the debug id and code id made from the build-id), FILE, FUNC records
with their line records and inlined calls (INLINE, INLINE_ORIGIN) from the DWARF, PUBLIC
records for the function symbols no FUNC covers, and STACK CFI records from .eh_frame and
.debug_frame. The DWARF is read from EXE itself or from its separate debug file (found by
build-id or .gnu_debuglink, in /usr/lib/debug and each --debug-dir); without DWARF the file
holds the PUBLIC and STACK CFI records only. bt reads these files back with --symbols; the
format is the one Breakpad's minidump_stackwalk and rust-minidump read.

options:
  -o, --output DIR|FILE.sym  where to write (required). A symbol store directory (created when
                     missing): each EXE goes to DIR/NAME/DEBUGID/NAME.sym. A path ending in
                     .sym that is not a directory: that file (one EXE only). Files are written
                     to a temporary name and renamed when complete
  --debug-dir DIR    also look for separate debug files in DIR (DIR/.build-id/xx/rest.debug
                     and debuglink names); repeatable. /usr/lib/debug is always searched
  --no-cfi           leave the STACK CFI records out
  --no-cache         do not cache decompressed debug sections (BTENGINE_NO_CACHE=1 too)
  -q, --quiet        print neither the written files nor warnings (errors still)
  -h, --help         show this help

Prints one line per file written:
  symbols: PATH (F functions, L lines, I inlined calls, P public symbols, C CFI records)

exit status: 0 success; 2 usage error; 5 EXE is not an x86-64 ELF executable or shared
library, or has no build-id (no Breakpad debug id can be made without one); 7 EXE or the
output's directory does not exist; 1 or 4 the output could not be written. With several EXEs the others are still
written, and the status is the first failure's.
)";

}  // namespace

int symbolsMain(int argc, char **argv) {
  std::vector<std::string> inputs;
  std::string output;
  bool quiet = false, noCache = false;
  BreakpadWriteOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kSymbolsUsage;
      return 0;
    }
    if (a == "-o" || a == "--output") {
      if (i + 1 >= argc || !*argv[i + 1]) return usageError("symbols", a + " needs a directory or a .sym file");
      output = argv[++i];
    } else if (a == "--no-cfi") {
      opts.cfi = false;
    } else if (a == "--no-cache") {
      noCache = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--symbols" || a.rfind("--symbols=", 0) == 0) {
      return usageError("symbols", "unknown option '" + a + "' (bt symbols writes symbol files; --symbols reads them)");
    } else if (a == "--debug-dir" || a.rfind("--debug-dir=", 0) == 0) {
      SymbolPaths paths;
      if (int r = parseSymbolPathOption("symbols", argc, argv, i, paths); r != 0) return r;
      opts.debugDirs.insert(opts.debugDirs.end(), paths.debugDirs.begin(), paths.debugDirs.end());
    } else if (a.size() > 1 && a[0] == '-') {
      return usageError("symbols", "unknown option '" + a + "'");
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty()) return usageError("symbols", "missing EXE (an executable or shared library)");
  if (output.empty()) return usageError("symbols", "missing -o DIR (a symbol store) or -o FILE.sym");
  bool toFile = llvm::StringRef(output).ends_with(".sym") && !llvm::sys::fs::is_directory(output);
  if (toFile && inputs.size() != 1)
    return usageError("symbols", "-o " + output + " names one file, for one EXE; give a directory for " +
                                     std::to_string(inputs.size()) + " EXEs");
  if (toFile) {
    std::string dir = llvm::sys::path::parent_path(output).str();
    if (!dir.empty() && !llvm::sys::fs::is_directory(dir))
      return fail({ErrorKind::MissingFile, "output directory does not exist: " + dir});
  } else if (llvm::sys::fs::exists(output) && !llvm::sys::fs::is_directory(output)) {
    return fail({ErrorKind::Usage, output + " is a file: -o names a symbol store directory, or a file ending in .sym"});
  }
  if (!noCache) opts.cacheDir = defaultDebugCacheDir();

  int status = 0;
  for (const std::string &exe : inputs) {
    auto report = [&](ErrorReport r) {
      int s = fail(std::move(r));
      if (!status) status = s;
    };
    std::string path = output;
    if (!toFile) {
      llvm::Expected<BreakpadModuleIdentity> id = breakpadIdentity(exe);
      if (!id) {
        report(takeErrorReport(id.takeError()));
        continue;
      }
      path = BreakpadSymbolStore::pathIn(output, id->name, id->debugId);
      std::string dir = llvm::sys::path::parent_path(path).str();
      // Readable by all (umask permitting): stores are often served as they are.
      if (std::error_code ec = llvm::sys::fs::create_directories(dir, true, llvm::sys::fs::perms::all_all)) {
        report({ErrorKind::Generic, "cannot create " + dir + ": " + ec.message()});
        continue;
      }
    }
    std::vector<std::string> warnings;
    llvm::Expected<BreakpadWriteStats> st = writeBreakpadSymbolFile(exe, path, opts, warnings);
    if (!quiet)
      for (const std::string &w : warnings) llvm::errs() << "bt: warning: " << w << "\n";
    if (!st) {
      report(takeErrorReport(st.takeError()));
      continue;
    }
    if (!quiet) {
      llvm::outs() << "symbols: " << path << " (" << st->functions << " functions, " << st->lines << " lines, "
                   << st->inlines << " inlined calls, " << st->publics << " public symbols, " << st->cfiRecords
                   << " CFI records)\n";
      llvm::outs().flush();
    }
  }
  return status;
}

}  // namespace bt
