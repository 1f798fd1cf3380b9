#include "cli/plugin_runner.h"

#include "cli/command_line.h"

#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char **environ;

#ifndef BT_PYTHON_EXECUTABLE
#define BT_PYTHON_EXECUTABLE "python3"
#endif
#ifndef BT_PYTHON_PACKAGE_DIR
#define BT_PYTHON_PACKAGE_DIR ""
#endif
#ifndef BT_PYTHON_SITE_DIRS
#define BT_PYTHON_SITE_DIRS ""
#endif

namespace bt {

static const char kPluginOptionsHelp[] =
    R"(  --plugin PATH          run the Python plugin PATH (a file, or a directory of them) on the
                         capture; repeatable (docs/plugins.md). Plugins in BTENGINE_PLUGIN_PATH,
                         ~/.config/btengine/plugins and installed btengine.plugins entry points
                         run too; without any, bt does not start Python at all
  --no-plugins           run no plugin, not even the configured ones
  --plugin-timeout S     time limit of each plugin function (default 5 s)
)";

namespace {

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

bool endsWith(const std::string &s, const char *suffix) {
  size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

template <typename Fn> void eachEntry(const std::string &dir, Fn fn) {
  DIR *d = opendir(dir.c_str());
  if (!d) return;
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.' && fn(std::string(e->d_name))) break;
  closedir(d);
}

// A directory with a plugin in it: a *.py not starting with "_" (what btengine.plugins.load takes).
bool hasPluginFile(const std::string &dir) {
  bool found = false;
  eachEntry(dir, [&](const std::string &name) {
    return found = name[0] != '_' && endsWith(name, ".py");
  });
  return found;
}

std::vector<std::string> defaultPluginDirs() {
  std::vector<std::string> dirs;
  if (const char *p = getenv("BTENGINE_PLUGIN_PATH")) dirs = split(p, ':');
  if (const char *x = getenv("XDG_CONFIG_HOME"); x && *x) dirs.push_back(std::string(x) + "/btengine/plugins");
  else if (const char *h = getenv("HOME")) dirs.push_back(std::string(h) + "/.config/btengine/plugins");
  return dirs;
}

// The directories Python would find installed packages in: the interpreter's own (known when bt
// was built), PYTHONPATH's, and an active virtualenv's.
std::vector<std::string> sitePackageDirs() {
  std::vector<std::string> dirs = split(BT_PYTHON_SITE_DIRS, ':');
  if (const char *p = getenv("PYTHONPATH")) for (const std::string &d : split(p, ':')) dirs.push_back(d);
  if (const char *v = getenv("VIRTUAL_ENV"); v && *v) {
    std::string lib = std::string(v) + "/lib";
    eachEntry(lib, [&](const std::string &name) {
      if (name.rfind("python3", 0) == 0) dirs.push_back(lib + "/" + name + "/site-packages");
      return false;
    });
  }
  return dirs;
}

// An installed distribution that declares a `btengine.plugins` entry point (its
// *.dist-info/entry_points.txt has the section with an entry in it).
bool hasEntryPoint(const std::string &siteDir) {
  bool found = false;
  eachEntry(siteDir, [&](const std::string &name) {
    if (!endsWith(name, ".dist-info") && !endsWith(name, ".egg-info")) return false;
    std::ifstream in(siteDir + "/" + name + "/entry_points.txt");
    std::string line;
    bool inSection = false;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line[0] == '[') inSection = line == "[btengine.plugins]";
      else if (inSection && line.find('=') != std::string::npos) return found = true;
    }
    return false;
  });
  return found;
}

PluginReport runnerError(const std::string &message, double ms) {
  PluginReport r;
  r.errors.push_back({"", "", "runner", message});
  r.ms = ms;
  return r;
}

}  // namespace

std::string withPluginOptions(const char *usage) {
  std::string s = usage;
  if (size_t at = s.find("%PLUGINS%"); at != std::string::npos) s.replace(at, 9, kPluginOptionsHelp);
  return s;
}

int parsePluginOption(const char *cmd, int argc, char **argv, int &i, PluginOptions &o) {
  std::string a = argv[i];
  if (a == "--no-plugins") {
    o.none = true;
    return 0;
  }
  if (a == "--plugin" || a.rfind("--plugin=", 0) == 0) {
    const char *v = a == "--plugin" ? (i + 1 < argc ? argv[++i] : nullptr) : argv[i] + 9;
    if (!v || !*v) return usageError(cmd, "--plugin needs a path");
    struct stat st;
    if (stat(v, &st) != 0) return usageError(cmd, std::string("--plugin ") + v + ": no such file or directory");
    o.paths.push_back(v);
    return 0;
  }
  if (a == "--plugin-timeout") {
    const char *v = i + 1 < argc ? argv[++i] : nullptr;
    char *end = nullptr;
    double s = v ? strtod(v, &end) : 0;
    if (!v || *end || !(s > 0) || s > 3600) return usageError(cmd, "--plugin-timeout needs seconds (0 < S <= 3600)");
    o.timeout = s;
    return 0;
  }
  return -1;
}

void appendPluginArgs(const PluginOptions &o, std::vector<std::string> &args) {
  for (const std::string &p : o.paths) args.insert(args.end(), {"--plugin", p});
  if (o.none) args.push_back("--no-plugins");
  char t[32];
  snprintf(t, sizeof t, "%g", o.timeout);
  args.insert(args.end(), {"--plugin-timeout", t});
}

bool pluginsConfigured(const PluginOptions &o) {
  if (o.none) return false;
  if (!o.paths.empty()) return true;
  for (const std::string &d : defaultPluginDirs())
    if (hasPluginFile(d)) return true;
  for (const std::string &d : sitePackageDirs())
    if (hasEntryPoint(d)) return true;
  return false;
}

PluginReport runPlugins(const PluginOptions &o, const std::string &file, const std::string &exe,
                        const SymbolPaths &symbolPaths) {
  auto started = std::chrono::steady_clock::now();
  auto elapsedMs = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  };
  const char *pythonEnv = getenv("BTENGINE_PYTHON");
  std::string python = pythonEnv && *pythonEnv ? pythonEnv : BT_PYTHON_EXECUTABLE;
  char timeout[32];
  snprintf(timeout, sizeof timeout, "%g", o.timeout);
  std::vector<std::string> args = {python, "-m", "btengine.plugins", file, "--timeout", timeout};
  if (!exe.empty()) args.insert(args.end(), {"--exe", exe});
  for (const std::string &d : symbolPaths.debugDirs) args.insert(args.end(), {"--debug-dir", d});
  for (const std::string &d : symbolPaths.symbolStores) args.insert(args.end(), {"--symbols", d});
  if (symbolPaths.offline) args.push_back("--offline");
  for (const std::string &p : o.paths) args.insert(args.end(), {"--plugin", p});
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The btengine package bt was built with comes first on the child's path.
  std::vector<std::string> env;
  std::string pythonPath = BT_PYTHON_PACKAGE_DIR;
  for (char **e = environ; *e; ++e) {
    if (strncmp(*e, "PYTHONPATH=", 11) == 0) {
      if (**e && (*e)[11]) pythonPath += (pythonPath.empty() ? "" : ":") + std::string(*e + 11);
      continue;
    }
    env.push_back(*e);
  }
  if (!pythonPath.empty()) env.push_back("PYTHONPATH=" + pythonPath);
  std::vector<char *> envp;
  for (std::string &e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return runnerError(std::string("pipe: ") + strerror(errno), elapsedMs());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: killed as a whole
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, python.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return runnerError("cannot run " + python + ": " + strerror(rc) +
                       " (BTENGINE_PYTHON names the Python that has the btengine package)", elapsedMs());
  }
  // The runner limits each plugin function itself; this bounds the whole run (a plugin that
  // blocks Python's own threads, a stuck import).
  double deadlineMs = 30000 + 10000 * o.timeout;
  std::string output;
  bool timedOut = false;
  char buf[65536];
  for (;;) {
    double left = deadlineMs - elapsedMs();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    int n = poll(&p, 1, int(std::min(left, 1000.0)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = read(out[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (output.size() < (256u << 20)) output.append(buf, size_t(got));
  }
  close(out[0]);
  if (timedOut) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  double ms = elapsedMs();
  if (timedOut)
    return runnerError("the plugins did not finish within " + std::to_string(int(deadlineMs / 1000)) +
                       " s and were stopped", ms);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    return runnerError("python -m btengine.plugins " + how + " (its messages are above)", ms);
  }
  llvm::Expected<llvm::json::Value> doc = llvm::json::parse(output);
  if (!doc) return runnerError("unreadable plugin results: " + llvm::toString(doc.takeError()), ms);
  llvm::Expected<PluginReport> report = pluginReportFromJson(*doc);
  if (!report) return runnerError(llvm::toString(report.takeError()), ms);
  report->ms = ms;  // bt's view: Python's start-up and loading included
  return std::move(*report);
}

}  // namespace bt
