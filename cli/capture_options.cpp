#include "cli/capture_options.h"

#include "cli/command_line.h"
#include "snapshot/pipeline.h"

#include <llvm/Support/Path.h>

#include <llvm/Support/FileSystem.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

extern char **environ;

namespace bt {

int parseCaptureOption(const char *cmd, int argc, char **argv, int &i, CaptureCli &c) {
  std::string a = argv[i];
  auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
  uint64_t n = 0;
  if (a == "-o" || a == "--output") {
    const char *v = value();
    if (!v) return usageError(cmd, a + " needs a file or directory");
    c.output = v;
  } else if (a == "--exe") {
    const char *v = value();
    if (!v) return usageError(cmd, "--exe needs a path");
    c.exe = v;
  } else if (a == "--allow-mismatch") {
    c.allowMismatch = true;
  } else if (a == "--security" || a == "--no-security") {
    c.security = a == "--security";
  } else if (a == "--dedup-rules") {
    if (int st = loadDedupRules(cmd, value(), c.capture.fingerprintRules)) return st;
  } else if (a == "--threads") {
    const char *v = value();
    if (!v || (strcmp(v, "all") && strcmp(v, "crashed")))
      return usageError(cmd, "--threads needs 'all' or 'crashed'");
    c.capture.allThreads = !strcmp(v, "all");
  } else if (a == "--no-vars") {
    c.capture.variables = false;
  } else if (a == "--max-stack-bytes" || a == "--max-memory-bytes") {
    if (!parseNumber(value(), n) || n == 0) return usageError(cmd, a + " needs a positive number");
    (a == "--max-stack-bytes" ? c.capture.maxStackBytes : c.capture.maxMemoryBytes) = n;
    if (a == "--max-memory-bytes") c.memoryBudgetGiven = true;
  } else if (a == "--redact-env") {
    c.capture.redactEnvironment = true;
  } else if (a == "--no-redact-env") {
    c.capture.redactEnvironment = false;
  } else if (a == "--attr") {
    const char *v = value();
    const char *eq = v ? strchr(v, '=') : nullptr;
    if (!eq || eq == v) return usageError(cmd, "--attr needs KEY=VALUE");
    c.capture.attributes.emplace_back(std::string(v, eq), std::string(eq + 1));
  } else if (a == "--global") {
    const char *v = value();
    if (!v) return usageError(cmd, "--global needs a variable name");
    c.capture.globals.push_back(v);
  } else if (a == "--tid") {
    if (!parseNumber(value(), n, 10) || n == 0 || n > INT32_MAX)
      return usageError(cmd, "--tid needs a thread id");
    c.tid = int(n);
  } else if (a == "--siginfo" || a == "--ucontext") {
    if (!parseNumber(value(), n) || n == 0) return usageError(cmd, a + " needs an address");
    (a == "--siginfo" ? c.siginfo : c.ucontext) = n;
  } else if (int r = parseSymbolPathOption(cmd, argc, argv, i, c.symbolPaths); r >= 0) {
    return r;
  } else if (a == "--max-frames") {
    if (!parseNumber(value(), n, 10) || n == 0) return usageError(cmd, "--max-frames needs a positive number");
    c.capture.unwind.maxFrames = size_t(n);
  } else if (a == "--past-main") {
    c.capture.unwind.pastMain = true;
  } else if (a == "--keep-stopped") {
    c.capture.keepStopped = true;
  } else if (a == "--no-cache") {
    c.noCache = true;
  } else if (a == "-q" || a == "--quiet") {
    c.quiet = true;
  } else if (a == "--upload-background") {
    c.uploadBackground = true;
  } else if (int r = parseUploadOption(cmd, argc, argv, i, c.upload); r >= 0) {
    return r;
  } else {
    return parsePluginOption(cmd, argc, argv, i, c.plugins);
  }
  return 0;
}

bool isDirectory(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string outputPath(const std::string &out, const ProcessFacts &p) {
  std::string dir = out.empty() ? "." : out;
  if (!out.empty() && !isDirectory(out) && out.back() != '/') return out;
  std::string prog = llvm::sys::path::filename(p.executable).str();
  if (prog.empty() && !p.commandLine.empty()) prog = llvm::sys::path::filename(p.commandLine[0]).str();
  if (prog.empty()) prog = "process";
  std::string base = prog + "." + std::to_string(p.pid) + "." + utcNow("%Y%m%dT%H%M%SZ");
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string path = dir + "/" + base + ".btsnap";
  for (int n = 2; access(path.c_str(), F_OK) == 0 && n < 1000; ++n)
    path = dir + "/" + base + "-" + std::to_string(n) + ".btsnap";
  return path;
}

Symbolizer makeSymbolizer(const CaptureCli &c) {
  PipelineOptions needs;
  needs.variables = c.capture.variables;
  needs.globals = c.capture.globals;
  return Symbolizer(symbolizerOptionsFor(needs, c.symbolPaths, !c.noCache));
}

void printWarnings(const std::vector<std::string> &warnings, llvm::raw_ostream &os) {
  for (size_t i = 0; i < warnings.size() && i < 10; ++i) os << "bt: warning: " << warnings[i] << "\n";
}

void preparePluginCapture(CaptureCli &c) {
  if (!pluginsConfigured(c.plugins)) return;
  c.capture.writableMemory = true;
  if (!c.memoryBudgetGiven) c.capture.maxMemoryBytes = kPluginMemoryBytes;
}

llvm::Expected<WrittenCapture> writeAndReport(SnapshotData &snap, const CaptureCli &c) {
  // A name of our own choosing (in a directory) never replaces a file: when another capture
  // takes it between the choice and the write, choose again.
  const std::string &out = c.output;
  bool named = !out.empty() && !isDirectory(out) && out.back() != '/';
  std::string path = outputPath(out, snap.process);
  llvm::Expected<uint64_t> size = writeSnapshot(snap, path, /*replace=*/named);
  for (int tries = 0; !named && !size && tries < 100 && access(path.c_str(), F_OK) == 0; ++tries) {
    llvm::consumeError(size.takeError());
    path = outputPath(out, snap.process);
    size = writeSnapshot(snap, path, /*replace=*/false);
  }
  if (!size) return size.takeError();
  std::string pluginNote;
  if (pluginsConfigured(c.plugins)) {
    // The plugins read the snapshot just written (the target is long let go), then their
    // results go into it.
    PluginReport report = runPlugins(c.plugins, path, "", c.symbolPaths);
    applyPluginReport(report, snap.backtraces);
    char ms[32];
    snprintf(ms, sizeof ms, "%.0f", report.ms);
    pluginNote = std::string(", plugins ") + ms + " ms";
    if (!report.errors.empty()) pluginNote += ", " + std::to_string(report.errors.size()) + " plugin error(s)";
    snap.plugins = std::move(report);
    size = writeSnapshot(snap, path, /*replace=*/true);
    if (!size) return size.takeError();
  }
  std::string summary = "snapshot: " + path + " (" + std::to_string(*size) + " bytes";
  if (snap.capture.stoppedMs >= 0) {
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", snap.capture.stoppedMs);
    summary += std::string(", target stopped ") + ms + " ms";
  }
  return WrittenCapture{path, summary + pluginNote + ")"};
}

llvm::Expected<std::string> uploadCapture(const WrittenCapture &w, const CaptureCli &c) {
  if (c.uploadBackground) {
    // `bt upload` in a new session: it outlives a crashing process that waits for bt, and a
    // handler's timeout that kills bt's process group. The token goes by environment, not argv.
    std::string self = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
    std::string timeout = std::to_string(c.upload.timeoutSeconds);
    // Its outcome goes to bt-upload.log next to the snapshot: its stdout may be a pipe nobody
    // reads once the crashing process is gone (libbtcrash's).
    llvm::SmallString<256> logPath(llvm::sys::path::parent_path(w.path));
    llvm::sys::path::append(logPath, "bt-upload.log");
    std::string log = logPath.str().str();
    std::vector<char *> argv = {self.data(), const_cast<char *>("upload"), const_cast<char *>("--upload-timeout"),
                                timeout.data(), const_cast<char *>("--log"), log.data(),
                                const_cast<char *>(c.upload.url.c_str()), const_cast<char *>(w.path.c_str()), nullptr};
    // A token from --upload-token-file replaces BT_UPLOAD_TOKEN's; without one, it is inherited.
    std::vector<std::string> env;
    bool fileToken = !c.upload.token.empty();
    for (char **e = environ; e && *e; ++e)
      if (!fileToken || strncmp(*e, "BT_UPLOAD_TOKEN=", 16) != 0) env.emplace_back(*e);
    if (fileToken) env.push_back("BT_UPLOAD_TOKEN=" + c.upload.token);
    std::vector<char *> envp;
    for (std::string &e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t io;
    posix_spawn_file_actions_init(&io);
    for (int fd = 0; fd <= 2; ++fd) posix_spawn_file_actions_addopen(&io, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, self.c_str(), &io, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&io);
    if (rc != 0)
      return makeError(ErrorKind::Generic, "cannot start bt upload: {0}; the snapshot stays in {1} (send it with: {2})",
                       strerror(rc), w.path, resendCommand(c.upload, w.path));
    return "uploading to " + c.upload.url + " in the background (bt upload, pid " + std::to_string(pid) +
           "; outcome in " + log + ")";
  }
  llvm::Expected<UploadResult> r = uploadFile(w.path, c.upload);
  if (!r)
    return makeError(ErrorKind::Generic, "{0}; the snapshot stays in {1} (send it later with: {2})",
                     llvm::toString(r.takeError()), w.path, resendCommand(c.upload, w.path));
  return describeUpload(*r, c.upload);
}

}  // namespace bt
