#include "server.h"

#include "amd64_registers.h"

#include "target/module_discovery.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cinttypes>
#include <csignal>
#include <cstring>
#include <fstream>

namespace bt::rsp {

namespace {

std::string hexNum(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%" PRIx64, v);
  return b;
}

bool parseHex(const std::string &s, uint64_t &out) {
  if (s.empty() || s.size() > 16) return false;
  char *end = nullptr;
  errno = 0;
  out = strtoull(s.c_str(), &end, 16);
  return *end == 0 && errno == 0;
}

std::string xmlEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string errorReply() { return "E01"; }

}  // namespace

RemoteServer::RemoteServer(Target &target, ServerOptions opts)
    : target_(target), opts_(opts), layout_(target.xcr0()) {
  if (const ThreadInfo *t = stopThread()) gThread_ = cThread_ = t->tid;
}

const ThreadInfo *RemoteServer::thread(int tid) const {
  for (const ThreadInfo &t : target_.threads())
    if (t.tid == tid) return &t;
  return nullptr;
}

const ThreadInfo *RemoteServer::stopThread() const {
  if (target_.crashedTid())
    if (const ThreadInfo *t = thread(*target_.crashedTid())) return t;
  return target_.threads().empty() ? nullptr : &target_.threads().front();
}

std::string RemoteServer::threadId(int tid) const {
  return "p" + hexNum(uint64_t(target_.process().pid)) + "." + hexNum(uint64_t(tid));
}

// "p<pid>.<tid>", "<tid>", "-1" (all), "0" (any), in hex.
std::optional<int> RemoteServer::parseThreadId(const std::string &s) const {
  std::string t = s;
  if (!t.empty() && t[0] == 'p') {
    size_t dot = t.find('.');
    if (dot == std::string::npos) return std::nullopt;
    t = t.substr(dot + 1);
  }
  if (t == "-1") return -1;
  uint64_t v;
  if (!parseHex(t, v) || v > INT32_MAX) return std::nullopt;
  return int(v);
}

// gdb's signal numbers (gdb/signals.def) differ from Linux's for some signals.
int RemoteServer::gdbSignal(int s) const {
  static const int kLinuxToGdb[32] = {0,  1,  2,  3,  4,  5,  6,  10, 8,  9,  30,
                                      11, 31, 13, 14, 15, 0,  20, 19, 17, 18, 21,
                                      22, 16, 24, 25, 26, 27, 28, 23, 32, 12};
  if (s > 0 && s < 32) return kLinuxToGdb[s];
  return s;
}

std::string RemoteServer::stopReply(const ThreadInfo &t) {
  bool crashed = target_.crashedTid() && *target_.crashedTid() == t.tid;
  int sig = t.signal ? t.signal->signo : 0;
  if (!sig && target_.signal() && crashed) sig = target_.signal()->signo;
  // A core gives every thread the fatal signal; lldb asks each thread why it stopped
  // (qThreadStopInfo): only the crashed one did.
  if (lldb_ && target_.crashedTid() && !crashed) {
    std::string out = "T00thread:" + hexNum(uint64_t(t.tid)) + ";";
    if (!t.name.empty()) out += "hexname:" + toHex(t.name.data(), t.name.size()) + ";";
    return out;
  }
  // SIGTRAP would make gdb's `next` loop forever on a target that never moves: SIGINT instead.
  int g = gdbSignal(sig);
  if (g == 0 || g == 5) g = 2;
  char head[8];
  snprintf(head, sizeof head, "T%02x", g & 0xff);
  std::string out = head;
  out += "thread:" + (lldb_ ? hexNum(uint64_t(t.tid)) : threadId(t.tid)) + ";";
  if (lldb_ || listThreadsInStop_) {
    out += "threads:";
    bool first = true;
    for (const ThreadInfo &o : target_.threads()) {
      out += (first ? "" : ",") + hexNum(uint64_t(o.tid));
      first = false;
    }
    out += ";";
  }
  // The registers a client needs first (rbp, rsp, rip), saving round trips.
  for (int r : {kRegRbp, kRegRsp, kRegRip}) {
    char num[8];
    snprintf(num, sizeof num, "%02x:", r);
    out += num + *encodeRegister(t, layout_, r) + ";";
  }
  if (lldb_) {
    if (!t.name.empty()) out += "hexname:" + toHex(t.name.data(), t.name.size()) + ";";
    if (sig) {
      out += "reason:signal;";
      // lldb's own wording for a fault's si_code, as it prints for a core.
      const SignalInfo *si = t.signal ? &*t.signal : target_.signal() ? &*target_.signal() : nullptr;
      const char *why = nullptr;
      if (si && si->signo == SIGSEGV)
        why = si->code == 1 ? "address not mapped to object" : si->code == 2 ? "invalid permissions for mapped object" : nullptr;
      else if (si && si->signo == SIGBUS)
        why = si->code == 1 ? "illegal alignment" : si->code == 2 ? "illegal address" : si->code == 3 ? "hardware error" : nullptr;
      if (why) {
        std::string d = std::string("signal ") + (sig == SIGSEGV ? "SIGSEGV" : "SIGBUS") + ": " + why;
        out += "description:" + toHex(d.data(), d.size()) + ";";
      }
    }
  }
  return out;
}

// lldb's Linux loader asks qShlibInfoAddr for the place that holds the r_debug pointer (as
// lldb-server answers: DT_DEBUG's value in the executable's dynamic section) and wants r_map != 0
// and r_state == RT_CONSISTENT. Cores and snapshots normally hold the loader's own structures
// (snapshots keep them); otherwise lldb gets a small pointer + r_debug of our own, placed in an
// unmapped page.
uint64_t RemoteServer::syntheticRDebug() {
  if (rdebug_) return rdebug_;
  MemoryReader rd = [this](uint64_t a, void *b, size_t n) { return target_.readMemory(a, b, n); };
  LoaderState ls = readLoaderState(rd, target_.modules());
  uint64_t probe;
  if (ls.rDebugSlot && !ls.linkMaps.empty() && rd(ls.rDebug, &probe, 8) == 8) {
    realRDebug_ = ls.rDebugSlot;  // the loader's own, readable: lldb walks the real link maps
    return realRDebug_;
  }
  uint64_t candidate = 0x10000;
  for (const MemoryRegion &r : target_.regions())
    if (r.start <= candidate + 0x1000 && r.end > candidate) candidate = (r.end + 0xfff) & ~uint64_t(0xfff);
  rdebug_ = candidate;
  // [0]: the pointer to r_debug; at +64: r_version, r_map, r_brk, r_state, r_ldbase.
  uint64_t words[13] = {rdebug_ + 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  for (const ModuleInfo &m : target_.modules()) {
    if (!m.isMainExecutable && m.linkMap && !words[9]) words[9] = m.linkMap;
    if (m.path.find("/ld-linux") != std::string::npos) words[12] = m.start;
  }
  if (!words[9]) words[9] = rdebug_ + 128;
  rdebugBytes_.assign(reinterpret_cast<const char *>(words), sizeof words);
  rdebugBytes_.resize(4096, '\0');  // a whole page: lldb reads 512-byte chunks
  return rdebug_;
}

size_t RemoteServer::readTargetMemory(uint64_t addr, char *buf, size_t len) {
  size_t n = target_.readMemory(addr, buf, len);
  if (n == 0 && rdebug_ && addr >= rdebug_ && addr < rdebug_ + rdebugBytes_.size()) {
    n = std::min<uint64_t>(len, rdebug_ + rdebugBytes_.size() - addr);
    memcpy(buf, rdebugBytes_.data() + (addr - rdebug_), n);
  }
  return n;
}

std::string RemoteServer::readMemory(const std::string &args) {
  size_t comma = args.find(',');
  uint64_t addr, len;
  if (comma == std::string::npos || !parseHex(args.substr(0, comma), addr) ||
      !parseHex(args.substr(comma + 1), len))
    return errorReply();
  len = std::min<uint64_t>(len, (kMaxPacket - 16) / 2);
  std::string buf(len, '\0');
  size_t n = len ? readTargetMemory(addr, buf.data(), len) : 0;
  if (len && n == 0) return errorReply();  // gdb: "Cannot access memory at address ..."
  return toHex(buf.data(), n);
}

std::string RemoteServer::threadsXml() {
  std::string x = "<?xml version=\"1.0\"?>\n<threads>\n";
  for (const ThreadInfo &t : target_.threads()) {
    x += "<thread id=\"" + threadId(t.tid) + "\" core=\"0\"";
    if (!t.name.empty()) x += " name=\"" + xmlEscape(t.name) + "\"";
    x += "/>\n";
  }
  return x + "</threads>\n";
}

// The svr4 library list gdb uses to load every shared library at its address. The main
// executable is not listed (gdb knows it from exec-file and auxv).
std::string RemoteServer::librariesXml() {
  MemoryReader rd = [this](uint64_t a, void *b, size_t n) { return target_.readMemory(a, b, n); };
  std::string x = "<library-list-svr4 version=\"1.0\">";
  // The loader's order and names when the link map was read (gdb lists them so), then the rest.
  std::vector<const ModuleInfo *> mods;
  for (const ModuleInfo &m : target_.modules())
    if (!m.isMainExecutable && !m.path.empty() && m.path[0] == '/') mods.push_back(&m);
  std::stable_sort(mods.begin(), mods.end(), [](const ModuleInfo *a, const ModuleInfo *b) {
    return unsigned(a->linkMapOrder) < unsigned(b->linkMapOrder);
  });
  for (const ModuleInfo *m : mods) {
    uint64_t ld = dynamicAddress(rd, *m);
    // A unique link_map address when the real one is unknown (gdb only uses it as a key).
    uint64_t lm = m->linkMap ? m->linkMap : m->start;
    const std::string &name = m->linkMapName.empty() ? m->path : m->linkMapName;
    x += "<library name=\"" + xmlEscape(name) + "\" lm=\"0x" + hexNum(lm) + "\" l_addr=\"0x" +
         hexNum(m->loadBias) + "\" l_ld=\"0x" + hexNum(ld) + "\" lmid=\"0x0\"/>";
  }
  return x + "</library-list-svr4>";
}

std::string RemoteServer::xferData(const std::string &object, const std::string &annex, bool &ok) {
  ok = true;
  if (object == "features" && annex == "target.xml") return layout_.xml();
  if (object == "threads") return threadsXml();
  if (object == "libraries-svr4") return librariesXml();
  if (object == "exec-file") return target_.process().executable;
  if (object == "siginfo") {
    // The current thread's siginfo_t (128 bytes, Linux x86-64 layout) for gdb's $_siginfo.
    const ThreadInfo *t = thread(gThread_);
    if (!t) t = stopThread();
    const SignalInfo *si = t && t->signal ? &*t->signal : nullptr;
    if (!si && t && target_.crashedTid() && *target_.crashedTid() == t->tid && target_.signal())
      si = &*target_.signal();
    if (!si) {
      ok = false;
      return {};
    }
    std::string out(128, '\0');
    int32_t head[3] = {si->signo, si->err, si->code};
    memcpy(out.data(), head, sizeof head);
    if (si->hasAddress) memcpy(out.data() + 16, &si->address, 8);
    else if (si->senderPid) memcpy(out.data() + 16, &si->senderPid, 4);
    return out;
  }
  if (object == "auxv") {
    std::string out;
    for (auto [k, v] : target_.auxv()) {
      // Without AT_SYSINFO_EHDR gdb does not look for the vDSO through the target's /proc;
      // lldb reads it from memory (the vDSO's pages are in cores and snapshots keep what bt read).
      if (k == AT_SYSINFO_EHDR && !lldb_) continue;
      uint64_t kv[2] = {k, v};
      out.append(reinterpret_cast<const char *>(kv), sizeof kv);
    }
    uint64_t end[2] = {AT_NULL, 0};
    out.append(reinterpret_cast<const char *>(end), sizeof end);
    return out;
  }
  ok = false;
  return {};
}

// qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH
std::string RemoteServer::xfer(const std::string &args) {
  size_t c1 = args.find(':'), c2 = c1 == std::string::npos ? c1 : args.find(':', c1 + 1);
  size_t c3 = c2 == std::string::npos ? c2 : args.find(':', c2 + 1);
  if (c3 == std::string::npos) return errorReply();
  std::string object = args.substr(0, c1), op = args.substr(c1 + 1, c2 - c1 - 1);
  std::string annex = args.substr(c2 + 1, c3 - c2 - 1), range = args.substr(c3 + 1);
  if (op != "read") return "E00";
  size_t comma = range.find(',');
  uint64_t off, len;
  if (comma == std::string::npos || !parseHex(range.substr(0, comma), off) ||
      !parseHex(range.substr(comma + 1), len))
    return errorReply();
  bool ok;
  std::string data = xferData(object, annex, ok);
  if (!ok) return object == "siginfo" ? "E01" : "";  // unknown object: not supported
  if (off >= data.size()) return "l";
  len = std::min<uint64_t>(len, kMaxPacket / 2);
  std::string chunk = data.substr(off, len);
  return (off + chunk.size() >= data.size() ? "l" : "m") + escapeBinary(chunk);
}

bool localFilesMatch(const Target &target) {
  for (const ModuleInfo &m : target.modules()) {
    if (m.path.empty() || m.path[0] != '/') continue;  // [vdso]: in memory, no file
    const std::string &file = m.hostPath.empty() ? m.path : m.hostPath;
    if (m.buildId.empty() ? access(file.c_str(), R_OK) != 0 : !buildIdsMatch(m.buildId, m.fileBuildId))
      return false;
  }
  return true;
}

// vFile: only the files of modules the target lists, read-only.
std::string RemoteServer::vFile(const std::string &args) {
  // No file transfer (an empty reply): the debugger reads this machine's files itself.
  if (!opts_.serveFiles) return {};
  auto fail = [](int err) { return "F-1," + hexNum(uint64_t(err)); };
  if (args.rfind("setfs:", 0) == 0) return "F0";
  if (args.rfind("open:", 0) == 0) {
    std::string rest = args.substr(5);
    size_t comma = rest.find(',');
    std::optional<std::string> path = fromHex(rest.substr(0, comma));
    if (!path) return fail(EINVAL);
    uint64_t flags = 0;
    size_t c2 = comma == std::string::npos ? comma : rest.find(',', comma + 1);
    if (comma != std::string::npos) parseHex(rest.substr(comma + 1, c2 - comma - 1), flags);
    if ((flags & 3) != 0) return fail(EACCES);  // read-only
    std::string host;
    const ModuleInfo *mod = nullptr;
    char real[PATH_MAX];
    std::string wanted = realpath(path->c_str(), real) ? std::string(real) : *path;
    for (const ModuleInfo &m : target_.modules()) {
      std::string h = m.hostPath.empty() ? m.path : m.hostPath;
      char hr[PATH_MAX];
      if (m.path == *path || m.linkMapName == *path ||
          (realpath(h.c_str(), hr) && wanted == hr)) {
        host = h;
        mod = &m;
        break;
      }
    }
    if (*path == target_.process().executable && host.empty()) {
      for (const ModuleInfo &m : target_.modules())
        if (m.isMainExecutable) host = m.hostPath.empty() ? m.path : m.hostPath;
    }
    // A module's separate debug file by its build-id, when this machine has it.
    const std::string kBuildIdDir = "/usr/lib/debug/.build-id/";
    if (host.empty() && path->rfind(kBuildIdDir, 0) == 0 && path->size() > kBuildIdDir.size() + 9 &&
        path->compare(path->size() - 6, 6, ".debug") == 0) {
      std::string id = path->substr(kBuildIdDir.size(), path->size() - kBuildIdDir.size() - 6);
      if (id.size() > 3 && id[2] == '/') id.erase(2, 1);
      for (const ModuleInfo &m : target_.modules())
        if (!m.buildId.empty() && m.buildId == id) host = *path;
    }
    if (host.empty()) return fail(ENOENT);  // not a module of the target: never served
    // The snapshot names a build; a different file at that path would be wrong symbols.
    if (mod && !mod->buildId.empty() && readBuildIdFromFile(host) != mod->buildId)
      return fail(ENOENT);
    if (access(host.c_str(), R_OK) != 0) return fail(ENOENT);
    if (openFiles_.size() >= 64) return fail(EMFILE);
    int fd = nextFd_++;
    openFiles_[fd] = host;
    return "F" + hexNum(uint64_t(fd));
  }
  if (args.rfind("close:", 0) == 0) {
    uint64_t fd;
    if (!parseHex(args.substr(6), fd) || !openFiles_.erase(int(fd))) return fail(EBADF);
    return "F0";
  }
  if (args.rfind("pread:", 0) == 0) {
    std::string rest = args.substr(6);
    size_t c1 = rest.find(','), c2 = c1 == std::string::npos ? c1 : rest.find(',', c1 + 1);
    uint64_t fd, count, off;
    if (c2 == std::string::npos || !parseHex(rest.substr(0, c1), fd) ||
        !parseHex(rest.substr(c1 + 1, c2 - c1 - 1), count) || !parseHex(rest.substr(c2 + 1), off))
      return fail(EINVAL);
    auto it = openFiles_.find(int(fd));
    if (it == openFiles_.end()) return fail(EBADF);
    count = std::min<uint64_t>(count, kMaxPacket / 2 - 32);
    std::string buf(count, '\0');
    int f = ::open(it->second.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) return fail(errno);
    struct stat fst;
    if (fstat(f, &fst) != 0 || !S_ISREG(fst.st_mode)) {
      ::close(f);
      return fail(EACCES);  // only regular files are served
    }
    ssize_t n = ::pread(f, buf.data(), count, off_t(off));
    ::close(f);
    if (n < 0) return fail(EIO);
    buf.resize(size_t(n));
    return "F" + hexNum(uint64_t(n)) + ";" + escapeBinary(buf);
  }
  if (args.rfind("fstat:", 0) == 0) {
    uint64_t fd;
    if (!parseHex(args.substr(6), fd)) return fail(EINVAL);
    auto it = openFiles_.find(int(fd));
    if (it == openFiles_.end()) return fail(EBADF);
    struct stat st;
    if (::stat(it->second.c_str(), &st) != 0) return fail(errno);
    // gdb's fio_stat: big-endian fields (dev, ino, mode, nlink, uid, gid, rdev, size, blksize,
    // blocks, atime, mtime, ctime).
    std::string out;
    auto be = [&](uint64_t v, int n) {
      for (int i = n - 1; i >= 0; --i) out += char((v >> (8 * i)) & 0xff);
    };
    be(st.st_dev, 4); be(st.st_ino, 4); be(st.st_mode, 4); be(st.st_nlink, 4);
    be(st.st_uid, 4); be(st.st_gid, 4); be(st.st_rdev, 4); be(uint64_t(st.st_size), 8);
    be(uint64_t(st.st_blksize), 8); be(uint64_t(st.st_blocks), 8);
    be(uint64_t(st.st_atime), 4); be(uint64_t(st.st_mtime), 4); be(uint64_t(st.st_ctime), 4);
    return "F" + hexNum(out.size()) + ";" + escapeBinary(out);
  }
  return "";  // unlink, readlink, pwrite...: not supported
}

std::optional<std::string> RemoteServer::handle(const std::string &p) {
  if (p.empty()) return std::string();
  auto startsWith = [&](const char *s) { return p.rfind(s, 0) == 0; };
  switch (p[0]) {
    case '?': return stopReply();
    case 'g': {
      const ThreadInfo *t = thread(gThread_);
      if (!t) t = stopThread();
      return t ? encodeAllRegisters(*t) : errorReply();
    }
    case 'p': {
      // p<regno>[;thread:<tid>;] (lldb adds the thread suffix only if we offered it).
      std::string n = p.substr(1, p.find(';') - 1);
      uint64_t regno;
      const ThreadInfo *t = thread(gThread_);
      if (!t) t = stopThread();
      if (!t || !parseHex(n, regno) || regno > 1000) return errorReply();
      std::optional<std::string> v = encodeRegister(*t, layout_, int(regno));
      return v ? *v : errorReply();
    }
    case 'm': return readMemory(p.substr(1));
    case 'H': {
      if (p.size() < 2) return errorReply();
      std::optional<int> tid = parseThreadId(p.substr(2));
      if (!tid) return errorReply();
      if (*tid > 0 && !thread(*tid)) return errorReply();
      int chosen = *tid > 0 ? *tid : (stopThread() ? stopThread()->tid : 0);
      if (p[1] == 'g') gThread_ = chosen;
      else cThread_ = chosen;
      return std::string("OK");
    }
    case 'T': {
      std::optional<int> tid = parseThreadId(p.substr(1));
      return tid && thread(*tid) ? std::string("OK") : errorReply();
    }
    case 'c': case 'C': case 's': case 'S':
      return stopReply();  // post-mortem: nothing runs; the same stop again
    case 'M': case 'X': case 'G': case 'P': case 'Z': case 'z': case 'I': case 'A': case 'R':
      return errorReply();  // read-only
    case 'D':
      finished_ = true;
      return std::string("OK");
    case 'k':
      finished_ = true;
      return std::nullopt;
    default: break;
  }
  if (startsWith("qSupported")) {
    // lldb announces xmlRegisters= and none of gdb's own features (gdb 13 sends xmlRegisters=i386
    // too, with qRelocInsn+ and swbreak+).
    lldb_ = p.find("xmlRegisters=") != std::string::npos && p.find("qRelocInsn") == std::string::npos &&
            p.find("swbreak") == std::string::npos;
    return "PacketSize=" + hexNum(kMaxPacket) +
           ";QStartNoAckMode+;multiprocess+;qXfer:features:read+;qXfer:threads:read+;"
           "qXfer:auxv:read+;qXfer:exec-file:read+;qXfer:libraries-svr4:read+;qXfer:siginfo:read+;"
           "vContSupported+";
  }
  if (p == "QStartNoAckMode") return std::string("OK");  // serve() switches after replying
  if (startsWith("qXfer:")) return xfer(p.substr(6));
  if (p == "qfThreadInfo") {
    std::string out = "m";
    bool first = true;
    for (const ThreadInfo &t : target_.threads()) {
      out += (first ? "" : ",") + (lldb_ ? hexNum(uint64_t(t.tid)) : threadId(t.tid));
      first = false;
    }
    return out;
  }
  if (p == "qsThreadInfo") return std::string("l");
  if (p == "qC") {
    const ThreadInfo *t = stopThread();
    return t ? "QC" + (lldb_ ? hexNum(uint64_t(t->tid)) : threadId(t->tid)) : std::string("QC0");
  }
  if (p == "qAttached" || startsWith("qAttached:")) return std::string("1");
  if (p == "qOffsets") return std::string();
  if (startsWith("qSymbol")) return std::string("OK");
  if (p == "vCont?") return std::string("vCont;c;C;s;S");
  if (startsWith("vCont")) return stopReply();
  if (p == "vKill" || startsWith("vKill;")) {
    finished_ = true;
    return std::string("OK");
  }
  if (startsWith("vFile:")) return vFile(p.substr(6));
  if (p == "QListThreadsInStopReply") {
    listThreadsInStop_ = true;
    return std::string("OK");
  }
  if (startsWith("qThreadStopInfo")) {
    uint64_t tid;
    if (!parseHex(p.substr(15), tid) || !thread(int(tid))) return errorReply();
    return stopReply(*thread(int(tid)));
  }
  if (p == "qShlibInfoAddr") {
    if (!lldb_) return std::string();
    return hexNum(realRDebug_ ? realRDebug_ : syntheticRDebug());
  }
  if (startsWith("qMemoryRegionInfo:")) {
    // lldb: the mapping holding an address (its unwinder checks return addresses are code).
    uint64_t a;
    if (!parseHex(p.substr(18), a)) return errorReply();
    if (const MemoryRegion *r = target_.regionFor(a)) {
      std::string perms = std::string(r->perms & PermRead ? "r" : "") + (r->perms & PermWrite ? "w" : "") +
                          (r->perms & PermExec ? "x" : "");
      std::string out = "start:" + hexNum(r->start) + ";size:" + hexNum(r->end - r->start) +
                        ";permissions:" + perms + ";";
      if (!r->path.empty()) out += "name:" + toHex(r->path.data(), r->path.size()) + ";";
      return out;
    }
    uint64_t next = UINT64_MAX;
    for (const MemoryRegion &r : target_.regions())
      if (r.start > a) next = std::min(next, r.start);
    return "start:" + hexNum(a) + ";size:" + hexNum(next - a) + ";";
  }
  if (p == "qHostInfo" || p == "qProcessInfo") {
    lldb_ = true;  // only lldb asks these
    std::string triple = "x86_64-pc-linux-gnu";
    std::string out = p == "qProcessInfo" ? "pid:" + hexNum(uint64_t(target_.process().pid)) + ";" : "";
    return out + "triple:" + toHex(triple.data(), triple.size()) +
           ";ostype:linux;endian:little;ptrsize:8;";
  }
  return std::string();  // unknown: "not supported", as the protocol says
}

int RemoteServer::serve(Transport &t) {
  PacketReader reader;
  char buf[16384];
  // One log line per packet: control characters and binary bytes escaped.
  auto logLine = [&](const char *dir, const std::string &payload) {
    std::string shown;
    for (unsigned char c : payload.substr(0, 512)) {
      if (c >= 0x20 && c < 0x7f && c != '\\') shown += char(c);
      else {
        char b[8];
        snprintf(b, sizeof b, "\\x%02x", c);
        shown += b;
      }
    }
    *opts_.log << dir << shown << (payload.size() > 512 ? "..." : "") << "\n";
  };
  auto send = [&](const std::string &payload) {
    if (opts_.log) logLine("-> ", payload);
    return t.write(encodePacket(payload));
  };
  std::string last;  // for a nack: resend
  while (!finished_) {
    std::optional<Event> ev = reader.next();
    if (!ev) {
      ssize_t n = t.read(buf, sizeof buf);
      if (n <= 0) return n < 0 ? 1 : 0;  // EOF: the debugger went away
      reader.feed(buf, size_t(n));
      continue;
    }
    switch (ev->kind) {
      case Event::Ack: break;
      case Event::Interrupt: if (!send(stopReply())) return 1; break;
      case Event::Nack: if (!last.empty() && !t.write(last)) return 1; break;
      case Event::BadChecksum:
      case Event::TooLong:
        if (opts_.log) *opts_.log << "<- (bad packet)\n";
        if (!noAck_ && !t.write("-")) return 1;
        break;
      case Event::Packet: {
        if (opts_.log) logLine("<- ", ev->payload);
        if (!noAck_ && !t.write("+")) return 1;
        std::optional<std::string> reply = handle(ev->payload);
        if (reply) {
          last = encodePacket(*reply);
          if (!send(*reply)) return 1;
        }
        if (ev->payload == "QStartNoAckMode") noAck_ = true;
        break;
      }
    }
    if (opts_.log) opts_.log->flush();
  }
  return 0;
}

}  // namespace bt::rsp
