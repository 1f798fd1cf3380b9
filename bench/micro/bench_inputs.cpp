#include "bench_inputs.h"

#include "snapshot/capture.h"
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"

#include <llvm/Object/ELFObjectFile.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace btbench {

std::string fixture(const std::string &name, std::string &why) {
#ifdef BT_FIXTURE_BIN_DIR
  std::string path = std::string(BT_FIXTURE_BIN_DIR) + "/" + name;
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return path;
  why = "fixture " + path + " is missing (build the bt_fixtures target)";
#else
  why = "fixture " + name + " unavailable: configured with -DBT_BUILD_FIXTURES=OFF";
#endif
  return {};
}

std::string selfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string("/proc/self/exe");
}

std::vector<FunctionSymbol> functionSymbols(const std::string &path) {
  std::vector<FunctionSymbol> out;
  auto obj = llvm::object::ObjectFile::createObjectFile(path);
  if (!obj) {
    llvm::consumeError(obj.takeError());
    return out;
  }
  auto *elf = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(obj->getBinary());
  if (!elf) return out;
  for (const llvm::object::ELFSymbolRef &sym : elf->symbols()) {
    auto type = sym.getType();
    auto addr = sym.getAddress();
    auto name = sym.getName();
    if (!type || !addr || !name) {
      if (!type) llvm::consumeError(type.takeError());
      if (!addr) llvm::consumeError(addr.takeError());
      if (!name) llvm::consumeError(name.takeError());
      continue;
    }
    if (*type != llvm::object::SymbolRef::ST_Function || !*addr || !sym.getSize()) continue;
    out.push_back({*addr, sym.getSize(), name->str()});
  }
  std::sort(out.begin(), out.end(),
            [](const FunctionSymbol &a, const FunctionSymbol &b) { return a.address < b.address; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const FunctionSymbol &a, const FunctionSymbol &b) { return a.address == b.address; }),
            out.end());
  return out;
}

std::unique_ptr<DwarfFile> openDwarf(const std::string &path, std::string &why) {
  auto obj = llvm::object::ObjectFile::createObjectFile(path);
  if (!obj) {
    why = path + ": " + llvm::toString(obj.takeError());
    return nullptr;
  }
  auto f = std::make_unique<DwarfFile>();
  f->binary = std::move(*obj);
  f->ctx = llvm::DWARFContext::create(*f->binary.getBinary());
  if (!f->ctx || f->ctx->getNumCompileUnits() == 0) {
    why = path + " has no DWARF";
    return nullptr;
  }
  return f;
}

namespace {

// Runs `exe pause`, waits for its "READY <pid>" line and for it to sleep in pause(); the pid or
// -1 with `why` set. `out` gets the read end of its stdout.
pid_t startPaused(const std::string &exe, std::string &why) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    why = std::string("pipe: ") + strerror(errno);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execl(exe.c_str(), exe.c_str(), "pause", static_cast<char *>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    why = std::string("fork: ") + strerror(errno);
    close(fds[0]);
    return -1;
  }
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[64];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, size_t(n));
  }
  close(fds[0]);
  if (line.rfind("READY ", 0) != 0) {
    why = exe + " pause did not print READY";
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  // READY comes just before pause(): wait until the process sleeps in it.
  for (int i = 0; i < 200; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t close = s.rfind(')');
    if (close != std::string::npos && close + 2 < s.size() && s[close + 2] == 'S') break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pid;
}

Capture capture() {
  Capture c;
  c.exe = fixture(kVarsFixture, c.error);
  if (c.exe.empty()) return c;
  pid_t pid = startPaused(c.exe, c.error);
  if (pid < 0) return c;
  {
    auto target = bt::openTarget(bt::TargetRequest::forPid(pid));
    if (!target) {
      c.error = "cannot capture " + c.exe + " (needs ptrace): " + llvm::toString(target.takeError());
    } else {
      bt::PipelineOptions needs;
      needs.variables = true;
      bt::Symbolizer symbols(bt::symbolizerOptionsFor(needs, {}, /*useCache=*/false));
      bt::CaptureOptions opts;  // as `bt snapshot PID`: every thread, variables, stacks
      c.snap = bt::captureSnapshot(**target, symbols, opts);
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  if (!c.error.empty()) return c;
  bool sawInner = false;
  for (const bt::ThreadBacktrace &t : c.snap.backtraces)
    for (const bt::Frame &f : t.frames) sawInner |= f.function == "vc_inner";
  if (c.snap.threads.empty() || !sawInner)
    c.error = "the capture of " + c.exe + " has no vc_inner frame";
  return c;
}

}  // namespace

const Capture &capturedFixture() {
  static const Capture c = capture();
  return c;
}

bool require(benchmark::State &state, bool ok, const std::string &message) {
  if (!ok) state.SkipWithError(message.c_str());
  return ok;
}

}  // namespace btbench
