#include "snapshot/minidump_writer.h"

#include "support/address_ranges.h"
#include "support/error.h"
#include "support/temp_file.h"
#include "target/crashpad_annotations.h"
#include "target/minidump_format.h"
#include "target/module_discovery.h"

#include <llvm/BinaryFormat/Minidump.h>
#include <llvm/Support/FormatVariadic.h>

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

namespace bt {

namespace md = llvm::minidump;

namespace {

using namespace minidump_format;

// MDRawContextAMD64 (Breakpad's minidump_cpu_amd64.h, Windows' CONTEXT on x64).
constexpr uint32_t kContextAmd64 = 0x00100000, kContextControl = 1, kContextInteger = 2,
                   kContextSegments = 4, kContextFloatingPoint = 8;
struct ContextAmd64 {
  uint64_t homes[6];
  uint32_t contextFlags, mxCsr;
  uint16_t cs, ds, es, fs, gs, ss;
  uint32_t eflags;
  uint64_t dr0, dr1, dr2, dr3, dr6, dr7;
  uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip;
  uint8_t fltSave[512];  // the FXSAVE area (XMM_SAVE_AREA32)
  uint8_t vectorRegisters[26 * 16];
  uint64_t vectorControl, debugControl, lastBranchToRip, lastBranchFromRip,
      lastExceptionToRip, lastExceptionFromRip;
};
static_assert(sizeof(ContextAmd64) == kContextAmd64Size);
static_assert(offsetof(ContextAmd64, contextFlags) == 0x30);
static_assert(offsetof(ContextAmd64, cs) == 0x38 && offsetof(ContextAmd64, eflags) == 0x44);
static_assert(offsetof(ContextAmd64, rax) == 0x78 && offsetof(ContextAmd64, rsp) == 0x98);
static_assert(offsetof(ContextAmd64, rip) == 0xf8 && offsetof(ContextAmd64, fltSave) == 0x100);

constexpr uint64_t kPage = 4096;
constexpr uint64_t kReadChunk = 1 << 20;
constexpr uint64_t kMaxDescriptor = uint64_t(1) << 30;  // one MemoryList entry at most

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

std::string hexAddr(uint64_t v) { return llvm::formatv("{0:x}", v).str(); }

std::string bytesText(uint64_t n) {
  if (n >= (uint64_t(1) << 30)) return llvm::formatv("{0:f1} GiB", double(n) / double(1 << 30)).str();
  if (n >= (uint64_t(1) << 20)) return llvm::formatv("{0:f1} MiB", double(n) / double(1 << 20)).str();
  if (n >= 1024) return llvm::formatv("{0:f1} KiB", double(n) / 1024.0).str();
  return std::to_string(n) + " bytes";
}

// How many bytes of [a, a + len) the target holds, from a on.
uint64_t heldPrefix(Target &t, uint64_t a, uint64_t len, std::vector<char> &buf) {
  uint64_t done = 0;
  while (done < len) {
    size_t want = size_t(std::min<uint64_t>(len - done, buf.size()));
    size_t n = t.readMemory(a + done, buf.data(), want);
    done += n;
    if (n < want) break;
  }
  return done;
}

// What of the target's memory to write.
struct MemoryPlan {
  AddressRanges ranges;                               // sorted, disjoint: the MemoryList
  std::vector<std::pair<uint64_t, uint64_t>> stacks;  // per thread (as threads()): [lo, hi)
  std::vector<bool> stackHeld;  // per thread: the target holds (some of) its stack
  uint64_t bytes = 0;
};

class HeldMemory {
public:
  HeldMemory(Target &t, std::vector<std::string> &warnings) : t_(t), warnings_(warnings) {}

  // Every range the target holds bytes for (Target::heldMemory), except file-backed read-only
  // bytes equal to the file here that a reader of the minidump would use for them (the module's
  // own build): those a debugger reads from the file, as from a core's left-out text.
  AddressRanges find() {
    AddressRanges held = t_.heldMemory();
    if (held.empty())
      warnings_.push_back("minidump: the target holds no memory: of its memory, only the threads' "
                          "stacks are written");
    for (auto [a, b] : held) {
      // Per region the range crosses, as each may be backed by another file (or none).
      for (uint64_t x = a; x < b;) {
        const MemoryRegion *r = t_.regionFor(x);
        uint64_t end = r ? std::min(b, r->end) : b;
        if (!r) {
          // Outside every listed region: the next region's start bounds it.
          for (const MemoryRegion &n : t_.regions())
            if (n.start > x && n.start < end) end = n.start;
        }
        file_ = r ? fileToCompare(*r) : std::string();
        if (r) add(*r, x, end);
        else held_.emplace_back(x, end);
        x = end;
      }
    }
    return mergeRanges(std::move(held_));
  }

private:
  // The file a reader of the minidump would read for r's bytes (engine/target/minidump.cpp:
  // read-only mappings of a module whose build-id matches the file at the mapped path), "" if
  // none: then everything held is written.
  std::string fileToCompare(const MemoryRegion &r) {
    if (r.path.empty() || r.path[0] != '/' || (r.perms & PermWrite)) return {};
    for (const ModuleInfo &m : t_.modules()) {
      if (m.path != r.path || m.buildId.empty()) continue;
      auto it = fileIds_.find(r.path);
      if (it == fileIds_.end()) it = fileIds_.emplace(r.path, readBuildIdFromFile(r.path)).first;
      if (buildIdsMatch(m.buildId, it->second)) return r.path;
    }
    return {};
  }

  void add(const MemoryRegion &r, uint64_t a, uint64_t b) {
    if (file_.empty()) {
      held_.emplace_back(a, b);
      return;
    }
    // Page by page: only what differs from the file (relocated data, a breakpoint).
    std::vector<char> mem(kPage * 16), file(kPage * 16);
    for (uint64_t x = a; x < b;) {
      uint64_t end = std::min(b, (x & ~(kPage - 1)) + kPage * 16);
      size_t len = size_t(end - x);
      size_t n = t_.readMemory(x, mem.data(), len);
      size_t m = readRegularFile(file_, r.fileOffset + (x - r.start), file.data(), len);
      for (uint64_t p = x; p < end;) {
        uint64_t q = std::min(end, (p & ~(kPage - 1)) + kPage);
        size_t off = size_t(p - x), sz = size_t(q - p);
        bool same = off + sz <= n && off + sz <= m && !memcmp(mem.data() + off, file.data() + off, sz);
        if (!same) held_.emplace_back(p, q);
        p = q;
      }
      x = end;
    }
  }

  Target &t_;
  std::vector<std::string> &warnings_;
  AddressRanges held_;
  std::string file_;
  std::map<std::string, std::string> fileIds_;
};

MemoryPlan planMemory(Target &t, const MinidumpWriteOptions &opts, std::vector<std::string> &warnings) {
  MemoryPlan plan;
  std::vector<char> buf(kReadChunk);
  uint64_t budget = opts.maxMemoryBytes;
  if (budget > kMaxMinidumpMemoryBytes) {
    warnings.push_back("minidump: at most " + bytesText(kMaxMinidumpMemoryBytes) +
                       " of memory fit a minidump's memory list (32-bit offsets); "
                       "--max-memory-bytes is lowered to that");
    budget = kMaxMinidumpMemoryBytes;
  }

  // The stacks: what the target holds from SP (less the red zone) up, the crashed thread first.
  const auto &threads = t.threads();
  AddressRanges stacks(threads.size());
  for (size_t i = 0; i < threads.size(); ++i) {
    const ThreadInfo &th = threads[i];
    uint64_t sp = th.regs.rsp;
    std::vector<uint64_t> starts;
    uint64_t limit = sp + opts.maxStackBytes;
    if (auto r = t.stackRange(th, opts.maxStackBytes)) {
      starts.push_back(r->first);
      limit = r->second;
    }
    // Another producer's dump may keep the stack from SP itself (or from below the red zone).
    starts.push_back(sp >= 128 ? sp - 128 : 0);
    starts.push_back(sp);
    for (uint64_t lo : starts) {
      if (lo >= limit) continue;
      uint64_t n = heldPrefix(t, lo, limit - lo, buf);
      if (n) {
        stacks[i] = {lo, lo + n};
        break;
      }
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < threads.size(); ++i)
    if (t.crashedTid() && threads[i].tid == *t.crashedTid()) order.insert(order.begin(), i);
    else order.push_back(i);

  AddressRanges chosen;
  uint64_t leftOut = 0;
  AddressRanges leftOutRanges;
  auto take = [&](uint64_t a, uint64_t b) {
    uint64_t n = std::min(b - a, budget);
    if (n) chosen.emplace_back(a, a + n);
    budget -= n;
    if (a + n < b) {
      leftOut += b - (a + n);
      leftOutRanges.emplace_back(a + n, b);
    }
    return a + n;
  };
  plan.stacks.assign(threads.size(), {0, 0});
  plan.stackHeld.assign(threads.size(), false);
  for (size_t i : order) {
    auto [lo, hi] = stacks[i];
    if (hi <= lo) continue;
    plan.stackHeld[i] = true;
    for (auto [a, b] : uncoveredRanges(AddressRanges(1, {lo, hi}), mergeRanges(chosen))) take(a, b);
    // The stack as kept: from lo up to the first byte the budget left out (a part another
    // thread's stack already took counts as kept).
    uint64_t end = lo;
    for (auto [a, b] : mergeRanges(chosen))
      if (a <= end && b > end) end = b;
    plan.stacks[i] = {lo, std::min(end, hi)};
  }
  // Breakpad's 256 bytes around the crashing instruction, even where the file has them: a
  // reader without the binaries can still decode the faulting instruction.
  if (t.crashedTid())
    for (const ThreadInfo &th : threads)
      if (th.tid == *t.crashedTid())
        if (const MemoryRegion *r = t.regionFor(th.regs.rip)) {
          uint64_t a = std::max(r->start, th.regs.rip >= 128 ? th.regs.rip - 128 : 0);
          uint64_t b = std::min(r->end, th.regs.rip + 128);
          uint64_t n = b > a ? heldPrefix(t, a, b - a, buf) : 0;
          for (auto [x, y] : uncoveredRanges(AddressRanges(1, {a, a + n}), mergeRanges(chosen))) take(x, y);
        }

  // Everything else the target holds, in address order.
  AddressRanges rest = uncoveredRanges(HeldMemory(t, warnings).find(), mergeRanges(chosen));
  for (auto [a, b] : rest) take(a, b);

  if (leftOut) {
    leftOutRanges = mergeRanges(std::move(leftOutRanges));
    std::string list;
    for (size_t i = 0; i < leftOutRanges.size() && i < 4; ++i)
      list += (i ? ", " : "") + hexAddr(leftOutRanges[i].first) + "-" + hexAddr(leftOutRanges[i].second);
    if (leftOutRanges.size() > 4) list += ", ...";
    warnings.push_back(llvm::formatv("minidump: {0} of memory in {1} range(s) left out to stay within "
                                     "{2} (--max-memory-bytes): {3}",
                                     bytesText(leftOut), leftOutRanges.size(), bytesText(opts.maxMemoryBytes), list)
                           .str());
  }
  // One MemoryList entry per range, split where one would be too large for its 32-bit size.
  for (auto [a, b] : mergeRanges(std::move(chosen)))
    for (uint64_t x = a; x < b; x += std::min(b - x, kMaxDescriptor)) {
      plan.ranges.emplace_back(x, x + std::min(b - x, kMaxDescriptor));
      plan.bytes += std::min(b - x, kMaxDescriptor);
    }
  return plan;
}

// The bytes of everything but the memory, with RVAs counted from `base`.
class Blob {
public:
  explicit Blob(uint64_t base) : base_(base) {}
  uint64_t rva() const { return base_ + data_.size(); }
  void align(size_t a) { data_.resize(alignUp(data_.size(), a), '\0'); }
  template <typename T> uint64_t put(const T &v) {
    uint64_t at = rva();
    data_.append(reinterpret_cast<const char *>(&v), sizeof v);
    return at;
  }
  uint64_t putBytes(const void *p, size_t n) {
    uint64_t at = rva();
    data_.append(static_cast<const char *>(p), n);
    return at;
  }
  void putU32(uint32_t v) { put(v); }
  // An MDString: its length in bytes, then UTF-16LE, then a 16-bit NUL (not counted).
  uint64_t putString(const std::string &utf8) {
    align(4);
    std::u16string u = utf16(utf8);
    uint64_t at = rva();
    putU32(uint32_t(u.size() * 2));
    data_.append(reinterpret_cast<const char *>(u.data()), u.size() * 2);
    data_.append(2, '\0');
    return at;
  }
  const std::string &data() const { return data_; }

private:
  // UTF-8 to UTF-16; a byte that is not part of a valid sequence becomes U+FFFD (a Linux path
  // may hold any bytes).
  static std::u16string utf16(const std::string &s) {
    std::u16string out;
    for (size_t i = 0; i < s.size();) {
      unsigned char c = s[i];
      uint32_t cp = 0xfffd;
      size_t len = 1;
      auto cont = [&](size_t k) { return i + k < s.size() && (s[i + k] & 0xc0) == 0x80; };
      if (c < 0x80) {
        cp = c;
      } else if ((c & 0xe0) == 0xc0 && c >= 0xc2 && cont(1)) {
        cp = (c & 0x1fu) << 6 | (s[i + 1] & 0x3fu), len = 2;
      } else if ((c & 0xf0) == 0xe0 && cont(1) && cont(2)) {
        uint32_t v = (c & 0x0fu) << 12 | (s[i + 1] & 0x3fu) << 6 | (s[i + 2] & 0x3fu);
        if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) cp = v, len = 3;
      } else if ((c & 0xf8) == 0xf0 && cont(1) && cont(2) && cont(3)) {
        uint32_t v = (c & 0x07u) << 18 | (s[i + 1] & 0x3fu) << 12 | (s[i + 2] & 0x3fu) << 6 | (s[i + 3] & 0x3fu);
        if (v >= 0x10000 && v <= 0x10ffff) cp = v, len = 4;
      }
      if (cp >= 0x10000) {
        out.push_back(char16_t(0xd800 + ((cp - 0x10000) >> 10)));
        out.push_back(char16_t(0xdc00 + ((cp - 0x10000) & 0x3ff)));
      } else {
        out.push_back(char16_t(cp));
      }
      i += len;
    }
    return out;
  }

  uint64_t base_;
  std::string data_;
};

ContextAmd64 contextOf(const ThreadInfo &t) {
  ContextAmd64 c;
  memset(&c, 0, sizeof c);
  const Registers &r = t.regs;
  c.contextFlags = kContextAmd64 | kContextControl | kContextInteger | kContextSegments;
  c.cs = uint16_t(r.cs), c.ds = uint16_t(r.ds), c.es = uint16_t(r.es);
  c.fs = uint16_t(r.fs), c.gs = uint16_t(r.gs), c.ss = uint16_t(r.ss);
  c.eflags = uint32_t(r.eflags);
  c.rax = r.rax, c.rcx = r.rcx, c.rdx = r.rdx, c.rbx = r.rbx, c.rsp = r.rsp, c.rbp = r.rbp;
  c.rsi = r.rsi, c.rdi = r.rdi, c.r8 = r.r8, c.r9 = r.r9, c.r10 = r.r10, c.r11 = r.r11;
  c.r12 = r.r12, c.r13 = r.r13, c.r14 = r.r14, c.r15 = r.r15, c.rip = r.rip;
  if (t.fpregs) {
    c.contextFlags |= kContextFloatingPoint;
    // The kernel's FXSAVE area is the layout of the context's XMM_SAVE_AREA32 (64-bit FXSAVE:
    // the FPU instruction and data pointers are 8 bytes wide, as Crashpad writes them).
    memcpy(c.fltSave, t.fpregs->bytes, sizeof c.fltSave);
    memcpy(&c.mxCsr, t.fpregs->bytes + 24, 4);
  }
  return c;
}

std::string mapsText(const Target &t) {
  std::string out;
  for (const MemoryRegion &r : t.regions()) {
    std::string line = llvm::formatv("{0:x-8}-{1:x-8} {2}{3}{4}{5} {6:x-8} 00:00 0", r.start, r.end,
                                     r.perms & PermRead ? 'r' : '-', r.perms & PermWrite ? 'w' : '-',
                                     r.perms & PermExec ? 'x' : '-', r.perms & PermShared ? 's' : 'p',
                                     r.fileOffset)
                           .str();
    if (!r.path.empty()) {
      // The kernel pads the path to column 73.
      line.resize(std::max<size_t>(line.size() + 1, 73), ' ');
      line += r.path;
    }
    out += line + "\n";
  }
  return out;
}

std::string nulSeparated(const std::vector<std::string> &v) {
  std::string out;
  for (const std::string &s : v) out += s + '\0';
  return out;
}

// The process name /proc/PID/status shows: the main thread's name, else what the kernel
// derives from the executable (its base name, 15 bytes at most).
std::string processName(const Target &t) {
  for (const ThreadInfo &th : t.threads())
    if (th.tid == t.process().pid && !th.name.empty()) return th.name;
  const std::string &exe = t.process().executable;
  size_t slash = exe.find_last_of('/');
  return exe.substr(slash == std::string::npos ? 0 : slash + 1, 15);
}

struct Stream {
  uint32_t type;
  uint64_t rva, size;
};

// Everything but the memory bytes, which follow it from `memBase` on in plan order.
std::string buildMeta(Target &t, const MemoryPlan &plan, uint64_t metaBase, uint64_t memBase,
                      std::vector<Stream> &streams, MinidumpWriteStats &stats,
                      std::vector<std::string> &warnings, bool warn) {
  Blob b(metaBase);
  streams.clear();
  auto stream = [&](uint32_t type, uint64_t rva) { streams.push_back({type, rva, b.rva() - rva}); };
  auto raw = [&](uint32_t type, const std::string &bytes) {
    b.align(8);
    uint64_t at = b.putBytes(bytes.data(), bytes.size());
    stream(type, at);
  };
  // Where each range's bytes are in the file.
  std::vector<uint64_t> rangeRva;
  uint64_t off = memBase;
  for (auto [a, e] : plan.ranges) {
    rangeRva.push_back(off);
    off += e - a;
  }
  auto memRva = [&](uint64_t addr) -> uint64_t {
    auto it = std::upper_bound(plan.ranges.begin(), plan.ranges.end(), addr,
                               [](uint64_t x, const std::pair<uint64_t, uint64_t> &r) { return x < r.first; });
    if (it == plan.ranges.begin()) return 0;
    --it;
    if (addr >= it->second) return 0;
    return rangeRva[size_t(it - plan.ranges.begin())] + (addr - it->first);
  };

  // Contexts first (aligned), so the thread list and the exception can point at them.
  const auto &threads = t.threads();
  std::vector<uint64_t> contextRva;
  for (const ThreadInfo &th : threads) {
    b.align(16);
    contextRva.push_back(b.put(contextOf(th)));
  }

  // ThreadList.
  b.align(8);
  uint64_t at = b.rva();
  b.putU32(uint32_t(threads.size()));
  for (size_t i = 0; i < threads.size(); ++i) {
    const ThreadInfo &th = threads[i];
    md::Thread mt;
    memset(&mt, 0, sizeof mt);
    mt.ThreadId = uint32_t(th.tid);
    // Crashpad's convention on Linux: the thread's TLS pointer (fs base), which CONTEXT_AMD64
    // has no field for.
    mt.EnvironmentBlock = th.regs.fs_base;
    auto [lo, hi] = plan.stacks[i];
    mt.Stack.StartOfMemoryRange = hi > lo ? lo : th.regs.rsp;
    mt.Stack.Memory.DataSize = uint32_t(hi - lo);
    mt.Stack.Memory.RVA = uint32_t(hi > lo ? memRva(lo) : 0);
    mt.Context.DataSize = sizeof(ContextAmd64);
    mt.Context.RVA = uint32_t(contextRva[i]);
    b.put(mt);
    if (warn && hi <= lo)
      warnings.push_back("minidump: thread " + std::to_string(th.tid) +
                         (plan.stackHeld[i] ? ": its stack was left out (--max-memory-bytes)"
                                            : ": the target holds no stack at its SP " + hexAddr(th.regs.rsp)) +
                         "; written without one");
  }
  stream(uint32_t(md::StreamType::ThreadList), at);
  stats.threads = threads.size();

  // ModuleList: the executable first (readers take the first module for it).
  std::vector<const ModuleInfo *> mods = t.modulesExecutableFirst();
  std::vector<uint64_t> nameRva, cvRva, cvSize;
  for (const ModuleInfo *m : mods) {
    nameRva.push_back(b.putString(m->path));
    std::string id;
    for (size_t i = 0; i + 1 < m->buildId.size(); i += 2) {
      unsigned v = 0;
      if (sscanf(m->buildId.c_str() + i, "%2x", &v) != 1) {
        id.clear();
        break;
      }
      id.push_back(char(v));
    }
    if (id.empty()) {
      cvRva.push_back(0);
      cvSize.push_back(0);
      continue;
    }
    b.align(4);
    cvRva.push_back(b.put(kCvElfSignature));
    b.putBytes(id.data(), id.size());
    cvSize.push_back(4 + id.size());
  }
  b.align(8);
  at = b.rva();
  b.putU32(uint32_t(mods.size()));
  for (size_t i = 0; i < mods.size(); ++i) {
    const ModuleInfo *m = mods[i];
    md::Module mm;
    memset(&mm, 0, sizeof mm);
    mm.BaseOfImage = m->start;
    uint64_t size = m->end > m->start ? m->end - m->start : 0;
    if (size > UINT32_MAX) {
      if (warn) warnings.push_back("minidump: module " + m->path + " spans more than 4 GiB; its size is cut to 4 GiB");
      size = UINT32_MAX;
    }
    mm.SizeOfImage = uint32_t(size);
    mm.ModuleNameRVA = uint32_t(nameRva[i]);
    mm.CvRecord.DataSize = uint32_t(cvSize[i]);
    mm.CvRecord.RVA = uint32_t(cvRva[i]);
    b.put(mm);
  }
  stream(uint32_t(md::StreamType::ModuleList), at);
  stats.modules = mods.size();

  // MemoryList.
  b.align(8);
  at = b.rva();
  b.putU32(uint32_t(plan.ranges.size()));
  for (size_t i = 0; i < plan.ranges.size(); ++i) {
    md::MemoryDescriptor d;
    d.StartOfMemoryRange = plan.ranges[i].first;
    d.Memory.DataSize = uint32_t(plan.ranges[i].second - plan.ranges[i].first);
    d.Memory.RVA = uint32_t(rangeRva[i]);
    b.put(d);
  }
  stream(uint32_t(md::StreamType::MemoryList), at);
  stats.memoryRanges = plan.ranges.size();
  stats.memoryBytes = plan.bytes;

  // Exception: the signal and the thread it came to.
  stats.exception = false;
  if (const auto &sig = t.signal(); sig && sig->signo > 0) {
    std::optional<size_t> crashed;
    for (size_t i = 0; i < threads.size(); ++i)
      if (t.crashedTid() ? threads[i].tid == *t.crashedTid() : threads[i].signal.has_value()) {
        crashed = i;
        break;
      }
    if (!crashed) {
      if (warn)
        warnings.push_back("minidump: the target's signal " + std::to_string(sig->signo) +
                           " names no thread it has: no exception stream");
    } else {
      md::ExceptionStream e;
      memset(&e, 0, sizeof e);
      e.ThreadId = uint32_t(threads[*crashed].tid);
      e.ExceptionRecord.ExceptionCode = uint32_t(sig->signo);
      e.ExceptionRecord.ExceptionFlags = uint32_t(sig->code);  // si_code, as Breakpad writes it
      e.ExceptionRecord.ExceptionAddress = sig->hasAddress ? sig->address : 0;
      e.ThreadContext.DataSize = sizeof(ContextAmd64);
      e.ThreadContext.RVA = uint32_t(contextRva[*crashed]);
      b.align(8);
      at = b.put(e);
      stream(uint32_t(md::StreamType::Exception), at);
      stats.exception = true;
    }
  }

  // SystemInfo: x86-64 Linux; the machine's CPU count, kernel and CPU model are not known
  // through the target (the export runs elsewhere): 0, and an empty CSD version.
  uint64_t csd = b.putString("");
  md::SystemInfo si;
  memset(&si, 0, sizeof si);
  si.ProcessorArch = md::ProcessorArchitecture::AMD64;
  si.PlatformId = md::OSPlatform(kPlatformLinux);
  si.CSDVersionRVA = uint32_t(csd);
  b.align(8);
  at = b.put(si);
  stream(uint32_t(md::StreamType::SystemInfo), at);

  const ProcessFacts &facts = t.process();
  if (facts.pid > 0) {
    // MINIDUMP_MISC_INFO with only the process id (lldb and our reader take it from here).
    uint32_t misc[6] = {24, kMiscProcessId, uint32_t(facts.pid), 0, 0, 0};
    b.align(8);
    at = b.putBytes(misc, sizeof misc);
    stream(kMiscInfo, at);
    std::string status;
    std::string name = processName(t);
    if (!name.empty()) status += "Name:\t" + name + "\n";
    status += "Tgid:\t" + std::to_string(facts.pid) + "\n";
    status += "Pid:\t" + std::to_string(facts.pid) + "\n";
    if (facts.uid) status += "Uid:\t" + std::to_string(*facts.uid) + "\n";  // the real uid only
    raw(kLinuxProcStatus, status);
  }
  if (!facts.commandLine.empty()) raw(kLinuxCmdLine, nulSeparated(facts.commandLine));
  if (!facts.environment.empty()) raw(kLinuxEnviron, nulSeparated(facts.environment));
  if (!t.auxv().empty()) {
    std::string aux;
    for (auto [k, v] : t.auxv()) {
      if (k == AT_NULL) break;
      aux.append(reinterpret_cast<const char *>(&k), 8);
      aux.append(reinterpret_cast<const char *>(&v), 8);
    }
    aux.append(16, '\0');  // AT_NULL, as /proc/PID/auxv ends
    raw(kLinuxAuxv, aux);
  }
  // The memory map, when the target has one: regions with a mapped file. (Regions a source made
  // up from its memory list alone name no file; writing them as maps would claim they are all
  // of the process's mappings.)
  bool haveMap = std::any_of(t.regions().begin(), t.regions().end(),
                             [](const MemoryRegion &r) { return !r.path.empty(); });
  if (haveMap) raw(kLinuxMaps, mapsText(t));
  // The target's attributes as Crashpad's process-level simple annotations, where minidump
  // servers and processors read key/value data (engine/target/crashpad_annotations.h).
  if (auto attrs = t.attributes(); !attrs.empty()) {
    auto utf8 = [&](const std::string &text) {  // MinidumpUTF8String
      b.align(4);
      uint64_t r = b.rva();
      b.putU32(uint32_t(text.size()));
      b.putBytes(text.data(), text.size());
      b.putBytes("", 1);
      return uint32_t(r);
    };
    std::vector<std::pair<uint32_t, uint32_t>> entries;
    for (const auto &[k, v] : attrs) {
      uint32_t kr = utf8(k);
      entries.emplace_back(kr, utf8(v));
    }
    b.align(4);
    uint64_t dict = b.rva();
    b.putU32(uint32_t(entries.size()));
    for (auto [k, v] : entries) b.putU32(k), b.putU32(v);
    b.align(8);
    at = b.rva();
    b.putU32(1);  // MinidumpCrashpadInfo version; report and client ids unknown (zero)
    b.putBytes(std::string(32, '\0').data(), 32);
    b.putU32(uint32_t(4 + entries.size() * 8));
    b.putU32(uint32_t(dict));
    b.putU32(0), b.putU32(0);  // no module list
    stream(kCrashpadInfoStream, at);
  }
  stats.streams = streams.size();
  b.align(16);
  return b.data();
}

}  // namespace

llvm::Expected<MinidumpWriteStats> writeMinidump(Target &t, llvm::raw_ostream &os,
                                                 const MinidumpWriteOptions &opts,
                                                 std::vector<std::string> &warnings) {
  MinidumpWriteStats stats;
  if (t.threads().empty()) warnings.push_back("minidump: the target has no threads");
  MemoryPlan plan = planMemory(t, opts, warnings);

  // Lay out: header, directory, the rest, then the memory bytes. The directory's size depends
  // only on how many streams there are; a first pass finds both.
  std::vector<Stream> streams;
  std::string meta = buildMeta(t, plan, 0, 0, streams, stats, warnings, false);
  uint64_t metaBase = sizeof(md::Header) + streams.size() * sizeof(md::Directory);
  uint64_t memBase = alignUp(metaBase + meta.size(), 16);
  if (memBase + plan.bytes > UINT32_MAX)
    return makeError(ErrorKind::Generic,
                     "the minidump would be larger than 4 GiB ({0} of metadata and {1} of memory): "
                     "lower --max-memory-bytes",
                     bytesText(memBase), bytesText(plan.bytes));
  meta = buildMeta(t, plan, metaBase, memBase, streams, stats, warnings, true);
  if (alignUp(metaBase + meta.size(), 16) != memBase)
    return makeError(ErrorKind::Generic, "minidump layout changed between passes");

  md::Header h;
  memset(&h, 0, sizeof h);
  h.Signature = md::Header::MagicSignature;
  h.Version = md::Header::MagicVersion;
  h.NumberOfStreams = uint32_t(streams.size());
  h.StreamDirectoryRVA = sizeof(md::Header);
  // TimeDateStamp: when the process crashed is not known through the target; 0, not the time
  // of the export.
  os.write(reinterpret_cast<const char *>(&h), sizeof h);
  for (const Stream &s : streams) {
    md::Directory d;
    d.Type = md::StreamType(s.type);
    d.Location.DataSize = uint32_t(s.size);
    d.Location.RVA = uint32_t(s.rva);
    os.write(reinterpret_cast<const char *>(&d), sizeof d);
  }
  os << meta;
  os.write_zeros(unsigned(memBase - (metaBase + meta.size())));

  std::vector<char> buf(kReadChunk);
  uint64_t shortBytes = 0;
  for (auto [a, b] : plan.ranges) {
    for (uint64_t x = a; x < b;) {
      size_t want = size_t(std::min<uint64_t>(b - x, buf.size()));
      size_t n = t.readMemory(x, buf.data(), want);
      if (n < want) {
        memset(buf.data() + n, 0, want - n);
        shortBytes += want - n;
      }
      os.write(buf.data(), want);
      x += want;
    }
  }
  if (shortBytes)
    warnings.push_back("minidump: " + bytesText(shortBytes) +
                       " of memory could not be read again while writing (written as zeros)");
  stats.fileBytes = memBase + plan.bytes;
  return stats;
}

llvm::Expected<MinidumpWriteStats> writeMinidumpFile(Target &t, const std::string &path,
                                                     const MinidumpWriteOptions &opts,
                                                     std::vector<std::string> &warnings) {
  llvm::Expected<TempFile> file = createTempFileNextTo(path, 0600);  // a minidump holds memory
  if (!file) return file.takeError();
  int fd = file->fd;
  const std::string &tmp = file->path;
  llvm::Expected<MinidumpWriteStats> stats = [&]() -> llvm::Expected<MinidumpWriteStats> {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/false);
    llvm::Expected<MinidumpWriteStats> s = writeMinidump(t, os, opts, warnings);
    os.flush();
    std::error_code ec = os.error();
    os.clear_error();
    if (!s) return s.takeError();
    if (ec) return makeError(ErrorKind::Generic, "writing {0}: {1}", path, ec.message());
    return s;
  }();
  if (stats && (::fsync(fd) != 0 || ::close(fd) != 0)) {
    int e = errno;
    ::unlink(tmp.c_str());
    return makeError(ErrorKind::Generic, "writing {0}: {1}", path, strerror(e));
  }
  if (!stats) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return stats.takeError();
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return makeError(ErrorKind::Generic, "writing {0}: {1}", path, strerror(e));
  }
  return stats;
}

}  // namespace bt
