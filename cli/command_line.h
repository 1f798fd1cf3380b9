// What every `bt` command shares on its command line: the usage-error and error reports (and the
// exit statuses they carry) and number parsing.
#pragma once

#include "analysis/fingerprint.h"
#include "support/error.h"
#include "symbols/symbolizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bt {

// The result was printed (or the snapshot written), but the source is incomplete: a truncated
// core, a missing or mismatched executable (Target::partial; the warnings say what is missing).
constexpr int kPartialExitStatus = 9;
// The exit status of a command that printed its result for `target`: 0, or partial.
inline int resultStatus(bool partial) { return partial ? kPartialExitStatus : 0; }

// "bt CMD: MSG / Try 'bt CMD --help'" (cmd "" for bt itself); returns the usage exit status.
int usageError(const std::string &cmd, const std::string &msg);
// "bt: error: MSG"; returns the error's exit status.
int fail(ErrorReport r);
// Runs another command's entry point with these arguments (argv[0] first): `bt FILE.btsnap`
// is `bt show FILE.btsnap`, `bt show CORE` is `bt CORE`.
int runCommand(int (*entry)(int, char **), std::vector<std::string> args);
// `--dedup-rules FILE`: the fingerprint rules in FILE (on top of the built-in ones) into `out`;
// 0, or the usage exit status after saying what is wrong with the file (line and rule).
int loadDedupRules(const std::string &cmd, const char *path,
                   std::shared_ptr<const FingerprintRules> &out);
// `--debug-dir DIR` (also `--debug-dir=DIR`), `--symbols PATH` (a Breakpad symbol store or
// .sym file) and `--offline` (no debuginfod): 0 if argv[i] was one (i advanced past its value), -1 if not, or the usage exit
// status.
int parseSymbolPathOption(const std::string &cmd, int argc, char **argv, int &i, SymbolPaths &paths);
// A whole string as a number (base 0: decimal, 0x hex, 0 octal); false if it is not one.
bool parseNumber(const char *s, uint64_t &out, int base = 0);
// The current UTC time in strftime's `format` (logs: "%Y-%m-%dT%H:%M:%SZ"; file names).
std::string utcNow(const char *format);

}  // namespace bt
