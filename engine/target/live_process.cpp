#include "target/live_process.h"

#include "target/siginfo.h"

#include "support/address_ranges.h"
#include "support/error.h"
#include "target/module_discovery.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace bt {

namespace {

std::string readSmallFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int> listTasks(int pid) {
  std::vector<int> tids;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      tids.push_back(atoi(e->d_name));
    }
    closedir(d);
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

// Waits for the ptrace-stop of `tid` that PTRACE_INTERRUPT causes, with a deadline so a thread
// stuck in the kernel cannot hang bt forever.
bool waitForStop(int tid, std::chrono::milliseconds budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  while (true) {
    int status = 0;
    pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
    if (r == tid) {
      if (WIFSTOPPED(status)) return true;
      if (WIFEXITED(status) || WIFSIGNALED(status)) return false;
    } else if (r < 0 && errno != EINTR) {
      return false;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

std::string threadName(const std::string &proc, int tid) {
  std::string name = readSmallFile(proc + "/task/" + std::to_string(tid) + "/comm");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

int tracerPid(int pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("TracerPid:", 0) == 0) return atoi(line.c_str() + 10);
  return 0;
}

}  // namespace

LiveProcess::LiveProcess(int pid) : pid_(pid) { facts_.pid = pid; }

LiveProcess::~LiveProcess() {
  release();
  if (memFd_ >= 0) close(memFd_);
}

llvm::Expected<std::unique_ptr<LiveProcess>> LiveProcess::open(int pid) {
  if (pid <= 0) return makeError(ErrorKind::Usage, "invalid pid {0}", pid);
  std::string proc = "/proc/" + std::to_string(pid);
  if (access(proc.c_str(), F_OK) != 0 || kill(pid, 0) != 0) {
    if (errno == EPERM)
      return makeError(ErrorKind::PermissionDenied, "permission denied for process {0}", pid);
    return makeError(ErrorKind::NoSuchProcess, "no such process: {0}", pid);
  }
  if (pid == getpid())
    return makeError(ErrorKind::Usage, "cannot backtrace bt's own process ({0})", pid);
  std::unique_ptr<LiveProcess> lp(new LiveProcess(pid));
  if (auto err = lp->freeze()) return std::move(err);
  if (auto err = lp->loadMaps()) return std::move(err);
  return std::move(lp);
}

llvm::Error LiveProcess::freeze() {
  std::string proc = "/proc/" + std::to_string(pid_);
  facts_.executable.resize(4096);
  ssize_t n = readlink((proc + "/exe").c_str(), facts_.executable.data(), 4095);
  facts_.executable.resize(n > 0 ? n : 0);
  std::string cmd = readSmallFile(proc + "/cmdline");
  for (size_t i = 0; i < cmd.size();) {
    size_t z = cmd.find('\0', i);
    if (z == std::string::npos) z = cmd.size();
    facts_.commandLine.push_back(cmd.substr(i, z - i));
    i = z + 1;
  }

  readProcessFacts(proc);
  // Thread names before the threads stop: they seldom change, and with 1,000 threads reading
  // them was a fifth of the pause.
  std::map<int, std::string> names;
  for (int tid : listTasks(pid_)) names[tid] = threadName(proc, tid);

  stopStart_ = std::chrono::steady_clock::now();
  // Threads may be created while we attach: repeat until a pass finds no new task.
  std::set<int> seized;
  for (int pass = 0; pass < 16; ++pass) {
    bool any = false;
    for (int tid : listTasks(pid_)) {
      if (seized.count(tid)) continue;
      any = true;
      if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        int e = errno;
        if (e == ESRCH) continue;  // thread exited meanwhile
        release();
        int tracer = tracerPid(pid_);
        if (e == EPERM && tracer > 0)
          return makeError(ErrorKind::PermissionDenied,
                           "process {0} is already traced by process {1} (a debugger?)", pid_,
                           tracer);
        if (e == EPERM)
          return makeError(ErrorKind::PermissionDenied,
                           "permission denied: cannot ptrace process {0} (thread {1}): {2}", pid_,
                           tid, strerror(e));
        return makeError(ErrorKind::Generic, "cannot ptrace thread {0} of process {1}: {2}", tid,
                         pid_, strerror(e));
      }
      seized.insert(tid);
      attached_.push_back(tid);
      if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) continue;
    }
    if (!any) break;
  }
  if (attached_.empty()) return makeError(ErrorKind::NoSuchProcess, "no such process: {0}", pid_);

  for (int tid : attached_) {
    if (!waitForStop(tid, std::chrono::milliseconds(2000))) continue;
    ThreadInfo t;
    t.tid = tid;
    iovec iov{&t.regs, sizeof t.regs};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) != 0) continue;
    FpRegisters fp;
    iovec fiov{&fp, sizeof fp};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_FPREGSET, &fiov) == 0) t.fpregs = fp;
    if (!xcr0_) {
      alignas(64) uint8_t xsave[4096];
      iovec xiov{xsave, sizeof xsave};
      if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &xiov) == 0 && xiov.iov_len >= 472) {
        uint64_t x;
        memcpy(&x, xsave + 464, 8);
        xcr0_ = x;
      }
    }
    auto known = names.find(tid);
    t.name = known != names.end() ? known->second : threadName(proc, tid);  // a new thread
    threads_.push_back(std::move(t));
  }
  std::sort(threads_.begin(), threads_.end(),
            [](const ThreadInfo &a, const ThreadInfo &b) { return a.tid < b.tid; });
  if (threads_.empty()) {
    release();
    return makeError(ErrorKind::Generic, "could not stop any thread of process {0}", pid_);
  }

  std::string aux = readSmallFile(proc + "/auxv");
  for (size_t off = 0; off + 16 <= aux.size(); off += 16) {
    uint64_t kv[2];
    memcpy(kv, aux.data() + off, 16);
    if (kv[0] == AT_NULL) break;
    auxv_.emplace_back(kv[0], kv[1]);
  }
  memFd_ = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  return llvm::Error::success();
}

// uid, start time and the environment (with where its block lies in memory, for redaction).
void LiveProcess::readProcessFacts(const std::string &proc) {
  std::string status = readSmallFile(proc + "/status");
  if (size_t u = status.find("\nUid:"); u != std::string::npos)
    facts_.uid = atoi(status.c_str() + u + 5);
  std::string env = readSmallFile(proc + "/environ");
  for (size_t i = 0; i < env.size();) {
    size_t z = env.find('\0', i);
    if (z == std::string::npos) z = env.size();
    if (z > i) facts_.environment.push_back(env.substr(i, z - i));
    i = z + 1;
  }
  // /proc/PID/stat: fields after the parenthesized command; 22 = starttime (clock ticks after
  // boot), 50/51 = env_start/env_end.
  std::string stat = readSmallFile(proc + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::vector<std::string> f;
  std::istringstream in(stat.substr(close + 2));
  for (std::string w; in >> w;) f.push_back(w);
  auto field = [&](size_t n) -> uint64_t {  // n: 1-based field number of /proc/PID/stat
    return n >= 3 && n - 3 < f.size() ? strtoull(f[n - 3].c_str(), nullptr, 10) : 0;
  };
  facts_.envStart = field(50);
  facts_.envEnd = field(51);
  std::string procStat = readSmallFile("/proc/stat");
  if (size_t b = procStat.find("\nbtime "); b != std::string::npos) {
    uint64_t btime = strtoull(procStat.c_str() + b + 7, nullptr, 10);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime && hz > 0) facts_.startTime = btime + field(22) / uint64_t(hz);
  }
}

// The kernel's x86-64 signal frame layouts (<sys/ucontext.h>): ucontext_t.uc_mcontext.gregs
// starts 40 bytes in, in the REG_R8..REG_CR2 order; fpregs is a pointer to the FXSAVE area.
namespace {
constexpr uint64_t kUcGregs = 40;
enum { gR8, gR9, gR10, gR11, gR12, gR13, gR14, gR15, gRDI, gRSI, gRBP, gRBX, gRDX, gRAX, gRCX,
       gRSP, gRIP, gEFL, gCSGSFS, gERR, gTRAPNO, gOLDMASK, gCR2, kNumGregs };
}  // namespace

llvm::Error LiveProcess::adoptSignalContext(int tid, uint64_t siginfoAddr, uint64_t ucontextAddr) {
  auto th = std::find_if(threads_.begin(), threads_.end(),
                         [&](const ThreadInfo &t) { return t.tid == tid; });
  if (th == threads_.end())
    return makeError(ErrorKind::Usage, "thread {0} is not a thread of process {1}", tid, pid_);
  if (siginfoAddr) {
    uint8_t si[128];
    if (readMemory(siginfoAddr, si, sizeof si) != sizeof si)
      return makeError(ErrorKind::BadInput, "cannot read the siginfo at {0:x} in process {1}",
                       siginfoAddr, pid_);
    SignalInfo s = decodeSiginfo(si);
    if (s.signo <= 0 || s.signo > 64)
      return makeError(ErrorKind::BadInput, "no siginfo at {0:x} in process {1} (signal {2})",
                       siginfoAddr, pid_, s.signo);
    th->signal = s;
    signal_ = s;
    crashedTid_ = tid;
  }
  if (ucontextAddr) {
    uint64_t g[kNumGregs + 1];  // + the fpregs pointer
    if (readMemory(ucontextAddr + kUcGregs, g, sizeof g) != sizeof g)
      return makeError(ErrorKind::BadInput, "cannot read the ucontext at {0:x} in process {1}",
                       ucontextAddr, pid_);
    Registers &r = th->regs;
    r.r8 = g[gR8]; r.r9 = g[gR9]; r.r10 = g[gR10]; r.r11 = g[gR11]; r.r12 = g[gR12];
    r.r13 = g[gR13]; r.r14 = g[gR14]; r.r15 = g[gR15]; r.rdi = g[gRDI]; r.rsi = g[gRSI];
    r.rbp = g[gRBP]; r.rbx = g[gRBX]; r.rdx = g[gRDX]; r.rax = g[gRAX]; r.rcx = g[gRCX];
    r.rsp = g[gRSP]; r.rip = g[gRIP]; r.eflags = g[gEFL];
    r.orig_rax = ~uint64_t(0);  // not in a system call at the fault
    FpRegisters fp;
    if (uint64_t fpAddr = g[kNumGregs]; fpAddr && readMemory(fpAddr, &fp, sizeof fp) == sizeof fp)
      th->fpregs = fp;
  }
  return llvm::Error::success();
}

llvm::Error LiveProcess::loadMaps() {
  std::ifstream maps("/proc/" + std::to_string(pid_) + "/maps");
  if (!maps)
    return makeError(ErrorKind::PermissionDenied, "cannot read /proc/{0}/maps", pid_);
  std::string line;
  while (std::getline(maps, line)) {
    MemoryRegion r;
    if (parseMapsLine(line, r)) regions_.push_back(std::move(r));
  }
  std::sort(regions_.begin(), regions_.end(),
            [](const MemoryRegion &a, const MemoryRegion &b) { return a.start < b.start; });
  MemoryReader rd = [this](uint64_t a, void *b, size_t n) { return readMemory(a, b, n); };
  modules_ = discoverModules(regions_, rd, auxvValue(AT_ENTRY).value_or(0), facts_.executable);
  applyLinkMap(modules_, rd);
  for (auto &m : modules_) m.hostPath = m.path;
  checkModuleFiles();
  return llvm::Error::success();
}

std::string LiveProcess::originalFile(const ModuleInfo &mod) const {
  // The kernel keeps the mapped file reachable here even when its path was replaced or deleted.
  const MemoryRegion *r = regionFor(mod.start);
  if (!r) return {};
  char name[64];
  snprintf(name, sizeof name, "%llx-%llx", (unsigned long long)r->start, (unsigned long long)r->end);
  return "/proc/" + std::to_string(pid_) + "/map_files/" + name;
}

size_t LiveProcess::readMemory(uint64_t addr, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    uint64_t at = addr + got;
    // The copied stack holding `at`, else the first one after it.
    auto it = std::upper_bound(frozen_.begin(), frozen_.end(), at,
                               [](uint64_t a, const FrozenStack &s) { return a < s.start; });
    if (it != frozen_.begin() && at < std::prev(it)->start + std::prev(it)->size) {
      const FrozenStack &f = *std::prev(it);
      size_t n = std::min<uint64_t>(len - got, f.start + f.size - at);
      memcpy((char *)buf + got, f.bytes + (at - f.start), n);
      got += n;
      continue;
    }
    size_t want = len - got;
    if (it != frozen_.end() && it->start - at < want) want = it->start - at;
    size_t n = readLive(at, (char *)buf + got, want);
    if (n && runningOn_) {
      const MemoryRegion *r = regionFor(at);
      if (!r || (r->perms & PermWrite)) {  // code and read-only data do not change
        ++readsAfterRelease_;
        if (afterRelease_.size() < (1u << 16)) afterRelease_.emplace_back(at, at + n);
      }
    }
    got += n;
    if (n < want) break;
  }
  return got;
}

void LiveProcess::releaseKeepingStacks(uint64_t stackBytes, uint64_t totalBytes) {
  if (released_) return;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const ThreadInfo &t : threads_)
    if (auto stack = stackRange(t, stackBytes)) ranges.push_back(*stack);
  ranges = mergeRanges(std::move(ranges));  // threads on one stack (a signal handler's): once
  uint64_t total = 0;
  std::vector<std::pair<uint64_t, uint64_t>> kept;
  for (auto [start, end] : ranges) {
    end = std::min(end, start + (totalBytes - total));
    if (end <= start) break;
    total += end - start;
    kept.emplace_back(start, end);
  }
  frozenBytes_.reset(new char[total]);  // not zeroed: the copy fills what it keeps
  // As few system calls as possible while the target is stopped: one process_vm_readv for up to
  // IOV_MAX stacks. It stops at the first unreadable page: that stack is finished alone (through
  // readLive's /proc/PID/mem fallback) and the next batch starts after it.
  char *at = frozenBytes_.get();
  size_t i = 0;
  while (i < kept.size()) {
    std::vector<iovec> local, remote;
    char *to = at;
    for (size_t j = i; j < kept.size() && local.size() < IOV_MAX; ++j) {
      uint64_t len = kept[j].second - kept[j].first;
      local.push_back({to, len});
      remote.push_back({(void *)kept[j].first, len});
      to += len;
    }
    ssize_t n = process_vm_readv(pid_, local.data(), local.size(), remote.data(), remote.size(), 0);
    uint64_t done = n > 0 ? uint64_t(n) : 0;
    for (size_t k = 0; k < local.size(); ++k) {
      uint64_t start = kept[i].first, len = kept[i].second - start;
      uint64_t got = std::min(done, len);
      done -= got;
      bool stopped = got < len;
      if (stopped) got += readLive(start + got, at + got, len - got);
      if (got) frozen_.push_back({start, got, at});
      at += len;
      ++i;
      if (stopped) break;  // the batch read nothing after this stack
    }
  }
  release();
  runningOn_ = true;
}

std::vector<std::pair<uint64_t, uint64_t>> LiveProcess::rangesReadAfterRelease() const {
  return mergeRanges(afterRelease_);
}

size_t LiveProcess::readLive(uint64_t addr, void *buf, size_t len) {
  if (len == 0) return 0;
  iovec local{buf, len};
  iovec remote{(void *)addr, len};
  ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
  if (n == (ssize_t)len) return len;
  size_t got = n > 0 ? (size_t)n : 0;
  // process_vm_readv stops at the first unreadable page and cannot read some mappings (e.g.
  // VM_IO); /proc/PID/mem can, and needs the ptrace attachment we hold.
  if (memFd_ >= 0) {
    while (got < len) {
      ssize_t r = pread(memFd_, (char *)buf + got, len - got, (off_t)(addr + got));
      if (r <= 0) break;
      got += r;
    }
  }
  return got;
}

void LiveProcess::release() {
  if (released_) return;
  released_ = true;
  for (int tid : attached_) {
    if (ptrace(PTRACE_DETACH, tid, nullptr, nullptr) == 0) continue;
    // Not in a ptrace-stop yet (the interrupt is still pending): wait briefly and retry, so the
    // thread is not left stopped while this process lives on (e.g. inside Python).
    if (waitForStop(tid, std::chrono::milliseconds(200)))
      ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
  }
  attached_.clear();
  stopEnd_ = std::chrono::steady_clock::now();
}

std::chrono::microseconds LiveProcess::stoppedFor() const {
  auto end = released_ ? stopEnd_ : std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::microseconds>(end - stopStart_);
}

}  // namespace bt
