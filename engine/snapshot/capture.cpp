#include "snapshot/capture.h"

#include "target/module_discovery.h"
#include "vars/frame_variables.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

namespace bt {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRedZone = 128;
constexpr uint64_t kPointeeBytes = 256;  // captured behind each pointer of a crashing frame
constexpr size_t kMaxPointees = 512;

// A Target that forwards to another and remembers every range read through it, so the snapshot
// holds all the memory its own analysis looked at (and a reader can look at it again).
class RecordingTarget : public Target {
public:
  RecordingTarget(Target &inner, const std::vector<ThreadInfo> &threads) : inner_(inner) {
    facts_ = inner.process();
    threads_ = threads;
    regions_ = inner.regions();
    modules_ = inner.modules();
    auxv_ = inner.auxv();
    signal_ = inner.signal();
    crashedTid_ = inner.crashedTid();
  }
  const char *kind() const override { return inner_.kind(); }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override {
    size_t n = inner_.readMemory(addr, buf, len);
    if (n && reads_.size() < 1u << 20) reads_.emplace_back(addr, addr + n);
    return n;
  }
  const std::vector<std::pair<uint64_t, uint64_t>> &reads() const { return reads_; }

private:
  Target &inner_;
  std::vector<std::pair<uint64_t, uint64_t>> reads_;
};

// Merges [start, end) ranges: sorted, disjoint, adjacent ones joined.
std::vector<std::pair<uint64_t, uint64_t>> mergeRanges(std::vector<std::pair<uint64_t, uint64_t>> r) {
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto [s, e] : r) {
    if (e <= s) continue;
    if (!out.empty() && s <= out.back().second) out.back().second = std::max(out.back().second, e);
    else out.emplace_back(s, e);
  }
  return out;
}

// Reads [start, end) page by page so that one unreadable page does not lose the rest.
void readSlices(Target &t, uint64_t start, uint64_t end, std::vector<MemorySlice> &out) {
  uint64_t at = start;
  while (at < end) {
    uint64_t chunkEnd = std::min(end, (at & ~(kPage - 1)) + kPage);
    std::string buf(chunkEnd - at, '\0');
    size_t n = t.readMemory(at, buf.data(), buf.size());
    if (n) {
      buf.resize(n);
      if (!out.empty() && out.back().end() == at) out.back().bytes += buf;
      else out.push_back({at, std::move(buf)});
    }
    at = chunkEnd;
  }
}

// "0x7ffd1234" tokens of a rendered value: the pointers a crashing frame holds.
void pointerTokens(const std::string &value, std::vector<uint64_t> &out) {
  for (size_t i = value.find("0x"); i != std::string::npos; i = value.find("0x", i + 2)) {
    if (i > 0 && (isalnum((unsigned char)value[i - 1]) || value[i - 1] == '_')) continue;
    size_t j = i + 2;
    while (j < value.size() && isxdigit((unsigned char)value[j])) ++j;
    if (j - i < 7 || j - i > 18) continue;  // small numbers are not pointers worth keeping
    out.push_back(strtoull(value.substr(i + 2, j - i - 2).c_str(), nullptr, 16));
  }
}

std::string hostName() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string kernelDescription() {
  struct utsname u;
  if (uname(&u) != 0) return {};
  return std::string(u.sysname) + " " + u.release + " " + u.version;
}

// The crash fingerprint: signal and the top frames of the crashed thread by module and function
// (module offsets where there is no function), so the same bug in another run or on another host
// gets the same fingerprint.
void fingerprint(SnapshotData &s) {
  const ThreadBacktrace *t = nullptr;
  for (const ThreadBacktrace &b : s.backtraces)
    if (b.crashed) t = &b;
  if (!t && !s.backtraces.empty()) t = &s.backtraces.front();
  std::string key = s.signal ? signalName(s.signal->signo) : "no-signal";
  if (t)
    for (const Frame &f : t->frames) {
      if (s.fingerprintFrames.size() == 5) break;
      if (f.signalTrampoline) continue;
      std::string mod = f.module.substr(f.module.rfind('/') + 1);
      char off[24];
      snprintf(off, sizeof off, "+0x%llx", (unsigned long long)f.moduleOffset);
      std::string frame = mod + "!" + (f.function.empty() ? std::string(off) : f.function);
      s.fingerprintFrames.push_back(frame);
    }
  for (const std::string &f : s.fingerprintFrames) key += "\n" + f;
  std::array<uint8_t, 32> h = llvm::SHA256::hash(llvm::arrayRefFromStringRef(key));
  s.fingerprint = llvm::toHex(llvm::ArrayRef(h).take_front(8), /*LowerCase=*/true);
}

// Whether an environment variable's name says it holds a secret (API_KEY, DB_PASSWORD, ...).
bool secretName(llvm::StringRef name) {
  std::string up = name.upper();
  for (const char *w : {"KEY", "TOKEN", "SECRET", "PASS", "PWD", "AUTH", "CRED", "COOKIE", "SESSION",
                        "PRIVATE", "CERT"})
    if (up.find(w) != std::string::npos && up != "PWD" && up != "OLDPWD") return true;
  return false;
}

// Environment values are secrets more often than not: keep the names, replace the values by a
// hash (equal values still compare equal) and blank them in the captured environment block.
// Values of variables whose names say they are secrets are also scrubbed from rendered
// variable values (all values would also hit "true", "/usr/bin" and the like).
void redactEnvironment(SnapshotData &s, uint64_t envStart, uint64_t envEnd) {
  std::vector<std::string> secrets;
  for (std::string &e : s.process.environment) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) continue;
    std::string value = e.substr(eq + 1);
    if (value.size() >= 6 && secretName(llvm::StringRef(e).substr(0, eq))) secrets.push_back(value);
    e = e.substr(0, eq + 1) + redactedValue(value);
  }
  if (envEnd > envStart)
    for (MemorySlice &m : s.memory) {
      uint64_t from = std::max(m.address, envStart), to = std::min(m.end(), envEnd);
      bool inValue = false;
      // Walk the NUL-separated "KEY=VALUE" strings; a slice may begin mid-string: then the
      // state is unknown and the safe choice is to blank until the next NUL.
      if (from > envStart) inValue = true;
      for (uint64_t a = from; a < to; ++a) {
        char &c = m.bytes[a - m.address];
        if (c == '\0') inValue = false;
        else if (!inValue && c == '=') inValue = true;
        else if (inValue) c = '*';
      }
    }
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string &a, const std::string &b) { return a.size() > b.size(); });
  auto scrub = [&](std::string &text) {
    for (const std::string &v : secrets)
      for (size_t p = text.find(v); p != std::string::npos; p = text.find(v, p + 10))
        text.replace(p, v.size(), "<redacted>");
  };
  for (ThreadBacktrace &t : s.backtraces)
    for (Frame &f : t.frames)
      for (Variable &v : f.variables) {
        scrub(v.value);
        scrub(v.entryValue);
      }
  for (Variable &v : s.globals) scrub(v.value);
}

}  // namespace

std::string redactedValue(llvm::StringRef value) {
  std::array<uint8_t, 32> h = llvm::SHA256::hash(llvm::arrayRefFromStringRef(value));
  return "sha256:" + llvm::toHex(llvm::ArrayRef(h).take_front(8), /*LowerCase=*/true);
}

SnapshotData captureSnapshot(Target &target, Symbolizer &symbols, const CaptureOptions &opts,
                             const std::function<void()> &release,
                             const std::function<double()> &stoppedMs) {
  SnapshotData s;
  // Which threads: all, or the crashed one (else the first, for a process that did not crash).
  std::vector<ThreadInfo> threads;
  for (const ThreadInfo &t : target.threads())
    if (opts.allThreads || (target.crashedTid() ? t.tid == *target.crashedTid()
                                                : threads.empty()))
      threads.push_back(t);
  RecordingTarget rec(target, threads);

  std::unique_ptr<FrameVariables> fv;
  ScopeVisitorFactory visitors;
  if (opts.variables) {
    fv = std::make_unique<FrameVariables>(rec, symbols);
    FrameVariables *p = fv.get();
    visitors = [p](const UnwindResult &ur, size_t i) { return p->visitorFor(ur, i); };
  }
  std::vector<UnwindResult> unwound = unwindAllThreads(rec, symbols, opts.unwind);
  // Without variables nothing below needs the target's memory but the slices: symbolize after.
  std::vector<std::pair<uint64_t, uint64_t>> want;
  // Ranges are widened to 512-byte boundaries (within their mapping): lldb reads memory in
  // aligned 512-byte chunks and drops a chunk that is only partly readable.
  auto addRange = [&](uint64_t start, uint64_t end) {
    if (end <= start) return;
    const MemoryRegion *r = target.regionFor(start);
    uint64_t lo = start & ~uint64_t(511), hi = (end + 511) & ~uint64_t(511);
    if (r) {
      lo = std::max(lo, r->start);
      hi = std::min(hi, std::max(end, r->end));
    }
    want.emplace_back(lo, std::max(hi, end));
  };
  for (const ThreadInfo &t : threads) {
    uint64_t sp = t.regs.rsp;
    const MemoryRegion *r = target.regionFor(sp);
    if (!r) r = target.regionFor(sp - kRedZone);
    if (!r) continue;
    uint64_t start = std::max(r->start, sp - kRedZone);
    addRange(start, std::min(r->end, start + opts.maxStackBytes));
  }
  // The dynamic loader's structures (r_debug, link maps, their names): debuggers such as lldb
  // find the shared libraries through them.
  {
    MemoryReader rd = [&](uint64_t a, void *b, size_t n) { return target.readMemory(a, b, n); };
    LoaderState ls = readLoaderState(rd, target.modules());
    addRange(ls.dynamic, ls.dynamic + ls.dynamicSize);
    if (ls.rDebug) addRange(ls.rDebug, ls.rDebug + 40);
    for (uint64_t lm : ls.linkMaps) addRange(lm, lm + 40);
    for (uint64_t n : ls.names) addRange(n, n + 256);
  }
  if (target.signal() && target.signal()->hasAddress) {
    uint64_t page = target.signal()->address & ~(kPage - 1);
    for (uint64_t p = page >= kPage ? page - kPage : page; p <= page + kPage; p += kPage)
      if (const MemoryRegion *r = target.regionFor(p); r && (r->perms & PermRead)) addRange(p, p + kPage);
  }
  // Reads the wanted ranges and all the engine read so far from the frozen target, in address
  // order until the budget is spent.
  uint64_t budget = opts.maxMemoryBytes;
  auto readWanted = [&] {
    for (auto [a, b] : rec.reads()) addRange(a, b);
    for (auto [a, b] : mergeRanges(want)) {
      if (!budget) break;
      uint64_t end = std::min(b, a + budget);
      size_t before = s.memory.size();
      readSlices(target, a, end, s.memory);
      for (size_t i = before; i < s.memory.size(); ++i)
        budget -= std::min<uint64_t>(budget, s.memory[i].bytes.size());
    }
    want.clear();
  };
  bool needTarget = opts.variables || !opts.globals.empty();
  if (!needTarget) {
    // Symbolizing without variables reads no target memory: let the target go first.
    readWanted();
    release();
  }
  s.backtraces = symbolizeBacktraces(rec, symbols, unwound, opts.unwind, visitors);
  if (fv)
    for (const std::string &name : opts.globals)
      if (std::optional<Variable> v = fv->readGlobal(name)) s.globals.push_back(std::move(*v));
  if (needTarget) {
    // What the crashing thread's variables point to.
    std::vector<uint64_t> pointers;
    for (const ThreadBacktrace &t : s.backtraces)
      if (t.crashed || s.backtraces.size() == 1)
        for (const Frame &f : t.frames)
          for (const Variable &v : f.variables) pointerTokens(v.value, pointers);
    std::sort(pointers.begin(), pointers.end());
    pointers.erase(std::unique(pointers.begin(), pointers.end()), pointers.end());
    if (pointers.size() > kMaxPointees) pointers.resize(kMaxPointees);
    for (uint64_t p : pointers)
      if (const MemoryRegion *r = target.regionFor(p); r && (r->perms & PermRead))
        addRange(p, std::min(r->end, p + kPointeeBytes));
    readWanted();
    release();
  }
  std::vector<MemorySlice> joined;
  std::sort(s.memory.begin(), s.memory.end(),
            [](const MemorySlice &x, const MemorySlice &y) { return x.address < y.address; });
  for (MemorySlice &m : s.memory) {
    if (!joined.empty() && joined.back().end() > m.address) {
      // Two reads overlapped (the second pass re-read a range): keep the first copy.
      if (m.end() > joined.back().end())
        joined.back().bytes += m.bytes.substr(joined.back().end() - m.address);
    } else if (!joined.empty() && joined.back().end() == m.address) {
      joined.back().bytes += m.bytes;
    } else {
      joined.push_back(std::move(m));
    }
  }
  s.memory = std::move(joined);

  s.capture.stoppedMs = stoppedMs ? stoppedMs() : -1;

  s.process = target.process();
  s.capture.source = target.kind();
  s.capture.time = uint64_t(time(nullptr));
  s.capture.host = hostName();
  s.capture.kernel = kernelDescription();
  s.capture.btVersion = "0.1.0";
  s.capture.variables = opts.variables;
  s.capture.threads = opts.allThreads ? "all" : "crashed";
  s.capture.environmentRedacted = opts.redactEnvironment;
  s.threads = threads;
  s.regions = target.regions();
  s.modules = target.modules();
  for (ModuleInfo &m : s.modules) m.hostPath.clear();
  s.auxv = target.auxv();
  s.signal = target.signal();
  s.crashedTid = target.crashedTid();
  s.xcr0 = target.xcr0();
  s.attributes = opts.attributes;
  if (opts.redactEnvironment) redactEnvironment(s, s.process.envStart, s.process.envEnd);
  fingerprint(s);
  return s;
}

}  // namespace bt
