#include "snapshot/capture.h"

#include "snapshot/environment_redaction.h"
#include "snapshot/host_facts.h"
#include "snapshot/pipeline.h"
#include "support/address_ranges.h"
#include "support/version.h"
#include "target/module_discovery.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

namespace bt {

namespace {

constexpr uint64_t kPage = 4096;
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
    warnings_ = inner.warnings();
  }
  const char *kind() const override { return inner_.kind(); }
  void release() override { inner_.release(); }
  double stoppedMs() const override { return inner_.stoppedMs(); }
  void releaseKeepingStacks(uint64_t stackBytes, uint64_t totalBytes) override {
    inner_.releaseKeepingStacks(stackBytes, totalBytes);
  }
  uint64_t readsAfterRelease() const override { return inner_.readsAfterRelease(); }
  std::vector<std::pair<uint64_t, uint64_t>> rangesReadAfterRelease() const override {
    return inner_.rangesReadAfterRelease();
  }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override {
    size_t n = inner_.readMemory(addr, buf, len);
    if (n && reads_.size() < 1u << 20) reads_.emplace_back(addr, addr + n);
    return n;
  }
  size_t scanMemory(uint64_t addr, void *buf, size_t len) override {
    return inner_.readMemory(addr, buf, len);  // not recorded: a heap walk would fill the budget
  }
  const std::vector<std::pair<uint64_t, uint64_t>> &reads() const { return reads_; }

private:
  Target &inner_;
  std::vector<std::pair<uint64_t, uint64_t>> reads_;
};

// The [start, end) ranges of `slices`, merged.
std::vector<std::pair<uint64_t, uint64_t>> rangesOf(const std::vector<MemorySlice> &slices) {
  std::vector<std::pair<uint64_t, uint64_t>> r;
  for (const MemorySlice &m : slices) r.emplace_back(m.address, m.end());
  return mergeRanges(std::move(r));
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

}  // namespace

SnapshotData captureSnapshot(Target &target, Symbolizer &symbols, const CaptureOptions &opts) {
  SnapshotData s;
  // Which threads: all, or the crashed one (else the first, for a process that did not crash).
  std::vector<ThreadInfo> threads;
  for (const ThreadInfo &t : target.threads())
    if (opts.allThreads || (target.crashedTid() ? t.tid == *target.crashedTid()
                                                : threads.empty()))
      threads.push_back(t);
  RecordingTarget rec(target, threads);

  std::vector<std::pair<uint64_t, uint64_t>> want, stacks;
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
    // The code around each pc: the analysis decodes the crashing instruction from it, and a
    // debugger's x/i $pc works, without the binaries.
    if (const MemoryRegion *r = target.regionFor(t.regs.rip); r && (r->perms & PermRead))
      addRange(std::max(r->start, t.regs.rip - 32), std::min(r->end, t.regs.rip + 32));
    if (auto stack = target.stackRange(t, opts.maxStackBytes)) stacks.push_back(*stack);
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
  auto readWithinBudget = [&](const std::vector<std::pair<uint64_t, uint64_t>> &ranges) {
    for (auto [a, b] : ranges) {
      if (!budget) break;
      size_t before = s.memory.size();
      readSlices(target, a, std::min(b, a + budget), s.memory);
      for (size_t i = before; i < s.memory.size(); ++i)
        budget -= std::min<uint64_t>(budget, s.memory[i].bytes.size());
    }
  };
  auto readWanted = [&] {
    for (auto [a, b] : rec.reads()) addRange(a, b);
    readWithinBudget(uncoveredRanges(mergeRanges(want), rangesOf(s.memory)));
    want.clear();
  };
  // What the crashing thread's variables point to (when they were read).
  auto wantPointees = [&](const PipelineResult &soFar) {
    std::vector<uint64_t> pointers;
    for (const ThreadBacktrace &t : soFar.backtraces)
      if (t.crashed || soFar.backtraces.size() == 1)
        for (const Frame &f : t.frames)
          for (const Variable &v : f.variables) pointerTokens(v.value, pointers);
    std::sort(pointers.begin(), pointers.end());
    pointers.erase(std::unique(pointers.begin(), pointers.end()), pointers.end());
    if (pointers.size() > kMaxPointees) pointers.resize(kMaxPointees);
    for (uint64_t p : pointers)
      if (const MemoryRegion *r = target.regionFor(p); r && (r->perms & PermRead))
        addRange(p, std::min(r->end, p + kPointeeBytes));
  };
  auto wantStacks = [&] {
    for (auto [a, b] : stacks) addRange(a, b);
  };
  // Before the target goes: every wanted range and all the engine read, from the frozen target.
  // The stacks too, unless the target is let go keeping copies of them: they are read from
  // those afterwards, and the target is not kept stopped while they are copied twice. (Not when
  // writable memory fills the budget below: the stacks must come first.)
  auto copyMemory = [&](const PipelineResult &soFar) {
    wantPointees(soFar);
    if (!soFar.releasedEarly || opts.writableMemory) wantStacks();
    readWanted();
    if (opts.writableMemory && budget) {
      // What is not kept yet of every writable private mapping, lowest first.
      for (const MemoryRegion &r : target.regions())
        if ((r.perms & PermRead) && (r.perms & PermWrite) && !(r.perms & PermShared) &&
            r.path != "[vvar]" && r.path != "[vsyscall]")
          want.emplace_back(r.start, r.end);
      readWithinBudget(uncoveredRanges(want, rangesOf(s.memory)));
      want.clear();
    }
  };
  PipelineOptions popts;
  popts.variables = opts.variables;
  if (opts.variables) popts.globals = opts.globals;
  popts.missingGlobalsAsErrors = false;
  popts.unwind = opts.unwind;
  popts.fingerprintRules = opts.fingerprintRules;
  popts.security = opts.security;
  popts.releaseEarly = !opts.keepStopped;
  PipelineResult result = runPipeline(rec, symbols, popts, copyMemory);
  if (result.releasedEarly) {
    // The target went before the variables were read: what they point to and what the engine
    // read since are kept now, from the stacks copied while it was frozen or else from the
    // running process (listed below as read after release).
    wantPointees(result);
    wantStacks();
    readWanted();
  }
  s.backtraces = std::move(result.backtraces);
  s.globals = std::move(result.globals);
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
  // Which of it the running process gave.
  s.memoryReadAfterRelease = intersectRanges(target.rangesReadAfterRelease(), rangesOf(s.memory));

  s.capture.stoppedMs = result.stoppedMs;

  s.process = target.process();
  s.capture.source = target.kind();
  s.capture.time = uint64_t(time(nullptr));
  s.capture.host = hostName();
  s.capture.kernel = kernelDescription();
  s.capture.btVersion = kBtVersion;
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
  // The source's own (a snapshot's, a minidump's Crashpad annotations), then the user's, which
  // replace a source's value of the same key.
  s.attributes = target.attributes();
  for (const auto &[k, v] : opts.attributes) {
    auto same = std::find_if(s.attributes.begin(), s.attributes.end(),
                             [&](const auto &kv) { return kv.first == k; });
    if (same != s.attributes.end()) same->second = v;
    else s.attributes.emplace_back(k, v);
  }
  if (opts.redactEnvironment) redactEnvironment(s, s.process.envStart, s.process.envEnd);
  s.fingerprint = result.analysis.fingerprint.hash;
  s.fingerprintFrames = result.analysis.fingerprint.frames;
  s.classifications = result.analysis.classifications;
  return s;
}

}  // namespace bt
