#include "cli/command_line.h"

#include <sys/stat.h>

#include <llvm/Support/raw_ostream.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace bt {

int usageError(const std::string &cmd, const std::string &msg) {
  std::string bt = cmd.empty() ? "bt" : "bt " + cmd;
  llvm::errs() << bt << ": " << msg << "\nTry '" << bt << " --help' for more information.\n";
  return static_cast<int>(ErrorKind::Usage);
}

int loadDedupRules(const std::string &cmd, const char *path,
                   std::shared_ptr<const FingerprintRules> &out) {
  if (!path) return usageError(cmd, "--dedup-rules needs a rule file");
  llvm::Expected<FingerprintRules> rules = FingerprintRules::load(path);
  if (!rules) return usageError(cmd, llvm::toString(rules.takeError()));
  out = std::make_shared<const FingerprintRules>(std::move(*rules));
  return 0;
}

int fail(ErrorReport r) {
  llvm::errs() << "bt: error: " << r.message << "\n";
  return static_cast<int>(r.kind);
}

int runCommand(int (*entry)(int, char **), std::vector<std::string> args) {
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return entry(int(args.size()), argv.data());
}

std::string utcNow(const char *format) {
  char stamp[64];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  return strftime(stamp, sizeof stamp, format, &tm) ? stamp : "";
}

bool parseNumber(const char *s, uint64_t &out, int base) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  out = strtoull(s, &end, base);
  return !*end && errno == 0;
}

int parseSymbolPathOption(const std::string &cmd, int argc, char **argv, int &i, SymbolPaths &paths) {
  std::string a = argv[i];
  if (a == "--offline") {
    paths.offline = true;
    return 0;
  }
  for (auto [opt, into] : {std::pair{std::string("--debug-dir"), &paths.debugDirs},
                           std::pair{std::string("--symbols"), &paths.symbolStores}}) {
    if (a != opt && a.rfind(opt + "=", 0) != 0) continue;
    const char *v = a == opt ? (i + 1 < argc ? argv[++i] : nullptr) : argv[i] + opt.size() + 1;
    if (!v || !*v)
      return usageError(cmd, opt + (opt == "--symbols" ? " needs a symbol store directory or a .sym file"
                                                        : " needs a directory"));
    struct stat st;
    if (stat(v, &st) != 0) return usageError(cmd, opt + " " + v + ": no such file or directory");
    into->push_back(v);
    return 0;
  }
  return -1;
}

}  // namespace bt
