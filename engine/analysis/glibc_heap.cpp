#include "analysis/glibc_heap.h"

#include "support/hex.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace bt {

namespace {

// struct malloc_state (glibc 2.31-2.38, x86-64): mutex, flags, have_fastchunks, fastbinsY[10],
// top, last_remainder, bins[254], binmap[4], next, next_free, attached_threads, system_mem,
// max_system_mem.
constexpr uint64_t kArenaSize = 2200;
constexpr uint64_t kFastbins = 16, kTop = 96, kBins = 112, kNext = 2160;
constexpr int kFastbinCount = 10, kBinCount = 127;
constexpr uint64_t kTcacheStructChunk = 0x290;  // tcache_perthread_struct (64 counts, 64 entries)
constexpr int kTcacheBins = 64;
constexpr uint64_t kMinChunk = 32, kFlagBits = 7, kMmappedBit = 2;
constexpr uint64_t kMaxHeapBytes = 64ull << 20;  // read at most this much of each heap
constexpr size_t kMaxChunks = 4u << 20, kMaxList = 100000;

struct Arena {
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
  uint64_t u64(uint64_t off) const {
    uint64_t v = 0;
    if (off + 8 <= bytes.size()) std::memcpy(&v, bytes.data() + off, 8);
    return v;
  }
};

// A heap range read into memory once, so walking it costs no further reads of the target.
struct HeapBytes {
  uint64_t start = 0;
  std::vector<uint8_t> bytes;
  // [a, a+n) lies inside; written so that no addition can wrap (the values come from the target).
  bool has(uint64_t a, uint64_t n = 8) const {
    return a >= start && n <= bytes.size() && a - start <= bytes.size() - n;
  }
  uint64_t u64(uint64_t a) const {
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + (a - start), 8);
    return v;
  }
};

constexpr size_t kMaxProblems = 16;
constexpr uint64_t kMaxTotalHeapBytes = 256ull << 20;

}  // namespace

const char *chunkStateText(ChunkState s) {
  switch (s) {
  case ChunkState::InUse: return "in-use";
  case ChunkState::Tcache: return "free (tcache)";
  case ChunkState::Fastbin: return "free (fastbin)";
  case ChunkState::Unsorted: return "free (unsorted bin)";
  case ChunkState::SmallBin: return "free (small bin)";
  case ChunkState::LargeBin: return "free (large bin)";
  case ChunkState::Top: return "top (never allocated)";
  }
  return "?";
}

std::optional<GlibcHeap> GlibcHeap::read(Target &t, Symbolizer &symbols,
                                         const std::vector<uint64_t> &pointers, std::string *why) {
  const ModuleInfo *libc = nullptr;
  uint64_t mainArena = 0, tcacheKeyAt = 0;
  for (const ModuleInfo &m : t.modules()) {
    llvm::StringRef base = llvm::StringRef(m.path).rsplit('/').second;
    if (base.empty()) base = m.path;
    if (!(base.starts_with("libc.so") || base.starts_with("libc-") || m.isMainExecutable)) continue;
    if (!Target::fileUsable(m)) continue;
    ModuleSymbols *ms = symbols.forModule(m);
    if (uint64_t a = ms ? ms->objectAddress("main_arena") : 0) {
      libc = &m;
      mainArena = a + m.loadBias;
      if (uint64_t k = ms->objectAddress("tcache_key")) tcacheKeyAt = k + m.loadBias;
      break;
    }
  }
  if (!libc) {
    *why = "glibc's main_arena was not found (libc's symbols are needed: libc6-dbg)";
    return std::nullopt;
  }
  uint64_t tcacheKey = 0;
  bool haveKey = tcacheKeyAt && t.scanMemory(tcacheKeyAt, &tcacheKey, 8) == 8;

  GlibcHeap h;
  std::map<uint64_t, HeapChunk> chunks;  // by address
  std::vector<Arena> arenas;
  std::set<uint64_t> seenArenas;
  for (uint64_t a = mainArena; a && arenas.size() < 256 && seenArenas.insert(a).second;) {
    Arena ar;
    ar.address = a;
    ar.bytes.resize(kArenaSize);
    if (t.scanMemory(a, ar.bytes.data(), kArenaSize) != kArenaSize) {
      if (arenas.empty()) {
        *why = "glibc's main_arena at " + hexU64(a) + " is not readable";
        return std::nullopt;
      }
      h.problems_.push_back("the arena at " + hexU64(a) + " is not readable");
      break;
    }
    uint64_t next = ar.u64(kNext);
    arenas.push_back(std::move(ar));
    if (next == mainArena) break;
    a = next;
  }

  std::vector<HeapBytes> heaps;
  std::vector<uint64_t> tcacheStructs;  // the first chunk of each heap, if it is one
  uint64_t totalRead = 0;
  auto problem = [&](std::string text) {
    if (h.problems_.size() < kMaxProblems) h.problems_.push_back(std::move(text));
  };
  for (const Arena &ar : arenas) {
    uint64_t top = ar.u64(kTop);
    const MemoryRegion *r = t.regionFor(top);
    if (!r) {
      if (top) problem("the top chunk of the arena at " + hexU64(ar.address) + " (" + hexU64(top) + ") is in no mapping");
      continue;
    }
    // The main arena's heap starts its brk mapping; a thread arena's first heap holds the arena
    // itself, and its first chunk follows it. A thread arena whose top has moved to a later heap
    // is not walked (its heap_info header's size differs between glibc versions).
    uint64_t first = r->start;
    if (ar.address != mainArena) {
      if (!r->contains(ar.address)) {
        problem("the arena at " + hexU64(ar.address) + " has grown past its first heap: not walked");
        continue;
      }
      first = (ar.address + kArenaSize + 15) & ~uint64_t(15);
    }
    if (first >= r->end) continue;
    bool overlaps = false;
    for (const HeapBytes &other : heaps)
      if (other.has(first, 1)) overlaps = true;  // two arenas claiming one heap: walked once
    if (overlaps || totalRead >= kMaxTotalHeapBytes) continue;
    uint64_t end = r->end - first > kMaxHeapBytes ? first + kMaxHeapBytes : r->end;
    HeapBytes hb;
    hb.start = first;
    hb.bytes.resize(end - first);
    hb.bytes.resize(t.scanMemory(first, hb.bytes.data(), hb.bytes.size()));
    totalRead += hb.bytes.size();
    h.ranges_.emplace_back(first, first + hb.bytes.size());
    // Walk the chunks by their sizes up to the top chunk; every step moves forward.
    uint64_t c = first;
    bool firstChunk = true;
    while (hb.has(c, 16) && chunks.size() < kMaxChunks) {
      uint64_t size = hb.u64(c + 8) & ~kFlagBits;
      if (c == top) {
        chunks[c] = {c, size, ChunkState::Top, false, 0};
        break;
      }
      // A size that cannot be, or that runs past the end of the mapping: the header was
      // overwritten. A chunk that only runs past the bytes read (the read limit, a truncated
      // core) may be right: the walk ends there without calling it corrupt.
      const char *corrupt = size < kMinChunk || size % 16 ? ""
                            : size > r->end - c            ? " runs past the end of the heap"
                                                           : nullptr;
      if (corrupt) {
        problem("corrupt chunk header at " + hexU64(c) + ": size " + hexU64(hb.u64(c + 8)) + corrupt +
                " (the walk of this heap stops there)");
        if (!h.corruptChunk_) {
          h.corruptChunk_ = c;
          h.corruptSize_ = hb.u64(c + 8);
        }
        break;
      }
      if (!hb.has(c, size)) break;
      chunks[c] = {c, size, ChunkState::InUse, false, 0};
      // The thread cache of the thread that created this arena: the heap's first chunk.
      if (firstChunk && size == kTcacheStructChunk) tcacheStructs.push_back(c + 16);
      firstChunk = false;
      c += size;
    }
    heaps.push_back(std::move(hb));
  }

  auto inHeaps = [&](uint64_t a) -> const HeapBytes * {
    for (const HeapBytes &hb : heaps)
      if (hb.has(a, 32)) return &hb;
    return nullptr;
  };
  // Marks a free-list entry; false (and a problem) when it is not a chunk the walk found, which
  // ends that list: a corrupted link.
  auto mark = [&](uint64_t c, ChunkState s) {
    auto it = chunks.find(c);
    if (it == chunks.end()) {
      problem(std::string(chunkStateText(s)) + " list entry " + hexU64(c) + " is not a chunk boundary of the heap walk");
      return false;
    }
    if (it->second.state == s) {
      problem(std::string(chunkStateText(s)) + " list loops at " + hexU64(c));
      return false;
    }
    it->second.state = s;
    return true;
  };
  // Every thread cache found (a chunk from any arena may sit in any thread's cache).
  for (uint64_t tc : tcacheStructs) {
    const HeapBytes *own = nullptr;
    for (const HeapBytes &hb : heaps)
      if (hb.has(tc, kTcacheStructChunk - 16)) own = &hb;
    if (!own) continue;
    for (int bin = 0; bin < kTcacheBins; ++bin) {
      uint64_t e = own->u64(tc + 128 + 8 * bin);
      for (size_t n = 0; e && n < kMaxList; ++n) {
        const HeapBytes *hb = nullptr;
        for (const HeapBytes &x : heaps)
          if (x.has(e, 16)) hb = &x;
        if (!hb || !mark(e - 16, ChunkState::Tcache)) {
          if (!hb) problem("tcache bin " + std::to_string(bin) + " holds " + hexU64(e) + ", outside the heap");
          break;
        }
        HeapChunk &entry = chunks[e - 16];
        entry.keyMatches = haveKey && hb->u64(e + 8) == tcacheKey;
        entry.link = hb->u64(e);
        e = hb->u64(e) ^ (e >> 12);  // safe-linking
      }
    }
  }
  for (const Arena &ar : arenas) {
    for (int i = 0; i < kFastbinCount; ++i) {
      uint64_t p = ar.u64(kFastbins + 8 * i);
      for (size_t n = 0; p && n < kMaxList; ++n) {
        const HeapBytes *hb = inHeaps(p);
        if (!hb) {
          problem("fastbin " + std::to_string(i) + " points to " + hexU64(p) + ", outside the heap");
          break;
        }
        if (!mark(p, ChunkState::Fastbin)) break;
        chunks[p].link = hb->u64(p + 16);
        p = hb->u64(p + 16) ^ ((p + 16) >> 12);  // safe-linking
      }
    }
    for (int i = 1; i <= kBinCount; ++i) {
      uint64_t header = ar.address + kBins + 16 * (i - 1) - 16;  // bin_at(): a fake chunk's fd
      uint64_t p = ar.u64(kBins + 16 * (i - 1));
      ChunkState s = i == 1 ? ChunkState::Unsorted : i < 64 ? ChunkState::SmallBin : ChunkState::LargeBin;
      for (size_t n = 0; p && p != header && n < kMaxList; ++n) {
        const HeapBytes *hb = inHeaps(p);
        if (!hb) {
          problem("bin " + std::to_string(i) + " points to " + hexU64(p) + ", outside the heap");
          break;
        }
        if (!mark(p, s)) break;
        p = hb->u64(p + 16);
      }
    }
  }
  for (auto &[_, c] : chunks) h.chunks_.push_back(c);
  for (uint64_t p : pointers) {
    uint64_t w = 0;
    if (p >= 16 && p % 16 == 0 && !h.chunkFor(p) && t.scanMemory(p - 8, &w, 8) == 8)
      h.sizeWordBefore_[p] = w;
  }
  return h;
}

const HeapChunk *GlibcHeap::chunkBefore(uint64_t address) const {
  for (const HeapChunk &c : chunks_)
    if (c.address + c.size == address) return &c;
  return nullptr;
}

const HeapChunk *GlibcHeap::freeChunkLinking(uint64_t value) const {
  // The link itself, or an address computed from it (a vtable slot: link + 16).
  for (const HeapChunk &c : chunks_)
    if ((c.state == ChunkState::Tcache || c.state == ChunkState::Fastbin) && c.link &&
        value >= c.link && value - c.link < 4096)
      return &c;
  return nullptr;
}

bool GlibcHeap::inHeap(uint64_t p) const {
  for (const auto &[s, e] : ranges_)
    if (p >= s && p < e) return true;
  return false;
}

const HeapChunk *GlibcHeap::chunkFor(uint64_t p) const {
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), p,
                             [](uint64_t a, const HeapChunk &c) { return a < c.address; });
  if (it == chunks_.begin()) return nullptr;
  --it;
  return p < it->address + it->size ? &*it : nullptr;
}

std::string GlibcHeap::describe(const Target &t, uint64_t p) const {
  if (const HeapChunk *c = chunkFor(p)) {
    std::string what = std::string(chunkStateText(c->state)) + " chunk of " + std::to_string(c->size) +
                       " bytes at " + hexU64(c->address);
    if (c->state == ChunkState::Tcache) what += c->keyMatches ? ", its key is glibc's tcache_key" : "";
    uint64_t mem = c->address + 16;
    std::string a = c->state == ChunkState::InUse ? "an " : "a ";
    if (p == mem) return "the start of " + a + what;
    if (p < mem) return "inside the header of " + a + what;
    return std::to_string(p - mem) + " bytes into " + a + what;
  }
  if (inHeap(p)) return "in the heap, past where the walk of its chunks stopped";
  const MemoryRegion *r = t.regionFor(p);
  if (!r) return "not a heap pointer (no mapping)";
  // An mmapped chunk: an anonymous mapping whose header at p-16 says IS_MMAPPED.
  auto before = sizeWordBefore_.find(p);
  if (r->path.empty() && p >= r->start + 16 && before != sizeWordBefore_.end()) {
    uint64_t size = before->second;
    uint64_t bytes = size & ~kFlagBits;
    if ((size & kMmappedBit) && bytes >= kMinChunk && bytes <= r->end - (p - 16))
      return "the start of an mmapped chunk of " + std::to_string(bytes) + " bytes";
  }
  std::string where = r->path.empty() ? "an anonymous mapping" : r->path;
  return "not a heap pointer (" + where + ")";
}

}  // namespace bt
