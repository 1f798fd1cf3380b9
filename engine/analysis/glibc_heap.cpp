#include "analysis/glibc_heap.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>

#include <algorithm>
#include <cstring>
#include <map>

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

std::string hex(uint64_t v) { return "0x" + llvm::utohexstr(v, /*LowerCase=*/true); }

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
  bool has(uint64_t a, uint64_t n = 8) const { return a >= start && a + n <= start + bytes.size(); }
  uint64_t u64(uint64_t a) const {
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + (a - start), 8);
    return v;
  }
};

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

std::optional<GlibcHeap> GlibcHeap::read(Target &t, Symbolizer &symbols, std::string *why) {
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
  bool haveKey = tcacheKeyAt && t.readU64(tcacheKeyAt, tcacheKey);

  GlibcHeap h;
  std::map<uint64_t, HeapChunk> chunks;  // by address
  std::vector<Arena> arenas;
  for (uint64_t a = mainArena; a && arenas.size() < 256;) {
    Arena ar;
    ar.address = a;
    ar.bytes.resize(kArenaSize);
    if (t.readMemory(a, ar.bytes.data(), kArenaSize) != kArenaSize) {
      if (arenas.empty()) {
        *why = "glibc's main_arena at " + hex(a) + " is not readable";
        return std::nullopt;
      }
      h.problems_.push_back("arena at " + hex(a) + " is not readable");
      break;
    }
    uint64_t next = ar.u64(kNext);
    arenas.push_back(std::move(ar));
    if (next == mainArena) break;
    a = next;
  }

  std::vector<HeapBytes> heaps;
  for (const Arena &ar : arenas) {
    uint64_t top = ar.u64(kTop);
    const MemoryRegion *r = t.regionFor(top);
    if (!r) {
      if (top) h.problems_.push_back("the top chunk of the arena at " + hex(ar.address) + " (" + hex(top) +
                                     ") is in no mapping");
      continue;
    }
    // The main arena's heap starts its brk mapping; a thread arena's heap holds the arena itself,
    // and its first chunk follows it.
    uint64_t first = ar.address == mainArena ? r->start : (ar.address + kArenaSize + 15) & ~uint64_t(15);
    if (ar.address != mainArena && !r->contains(ar.address)) first = r->start;
    uint64_t end = std::min(r->end, first + kMaxHeapBytes);
    HeapBytes hb;
    hb.start = first;
    hb.bytes.resize(end - first);
    hb.bytes.resize(t.scanMemory(first, hb.bytes.data(), hb.bytes.size()));
    h.ranges_.emplace_back(first, first + hb.bytes.size());
    // Walk the chunks by their sizes up to the top chunk.
    uint64_t c = first;
    bool firstChunk = true;
    uint64_t tcacheStruct = 0;
    while (hb.has(c, 16) && chunks.size() < kMaxChunks) {
      uint64_t size = hb.u64(c + 8) & ~kFlagBits;
      if (c == top) {
        chunks[c] = {c, size, ChunkState::Top, false};
        break;
      }
      if (size < kMinChunk || size % 16 || !hb.has(c, size)) {
        h.problems_.push_back("corrupt chunk header at " + hex(c) + ": size " + hex(hb.u64(c + 8)) +
                              " (the walk of this heap stops there)");
        if (!h.corruptChunk_) {
          h.corruptChunk_ = c;
          h.corruptSize_ = hb.u64(c + 8);
        }
        break;
      }
      chunks[c] = {c, size, ChunkState::InUse, false};
      // The thread cache of the thread(s) using this arena: the heap's first chunk.
      if (firstChunk && size == kTcacheStructChunk) tcacheStruct = c + 16;
      firstChunk = false;
      c += size;
    }
    for (int bin = 0; tcacheStruct && bin < kTcacheBins; ++bin) {
      uint64_t e = hb.u64(tcacheStruct + 128 + 8 * bin);
      for (size_t n = 0; e && n < kMaxList; ++n) {
        auto it = chunks.find(e - 16);
        if (!hb.has(e, 16) || it == chunks.end()) {
          h.problems_.push_back("tcache bin " + std::to_string(bin) + " holds " + hex(e) +
                                ", not a chunk of the heap (a corrupted next pointer)");
          break;
        }
        if (it->second.state == ChunkState::Tcache) {
          h.problems_.push_back("tcache bin " + std::to_string(bin) + " loops at " + hex(e) +
                                " (the same chunk freed twice)");
          break;
        }
        it->second.state = ChunkState::Tcache;
        it->second.keyMatches = haveKey && hb.u64(e + 8) == tcacheKey;
        it->second.link = hb.u64(e);
        e = hb.u64(e) ^ (e >> 12);  // safe-linking
      }
    }
    heaps.push_back(std::move(hb));
  }

  auto inHeaps = [&](uint64_t a) -> const HeapBytes * {
    for (const HeapBytes &hb : heaps)
      if (hb.has(a, 32)) return &hb;
    return nullptr;
  };
  auto mark = [&](uint64_t c, ChunkState s) {
    auto it = chunks.find(c);
    if (it == chunks.end()) {
      h.problems_.push_back(std::string(chunkStateText(s)) + " list entry " + hex(c) +
                            " is not a chunk boundary of the heap walk");
      return;
    }
    it->second.state = s;
  };
  for (const Arena &ar : arenas) {
    for (int i = 0; i < kFastbinCount; ++i) {
      uint64_t p = ar.u64(kFastbins + 8 * i);
      for (size_t n = 0; p && n < kMaxList; ++n) {
        const HeapBytes *hb = inHeaps(p);
        if (!hb) {
          h.problems_.push_back("fastbin " + std::to_string(i) + " points to " + hex(p) + ", outside the heap");
          break;
        }
        mark(p, ChunkState::Fastbin);
        if (auto it = chunks.find(p); it != chunks.end()) it->second.link = hb->u64(p + 16);
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
          h.problems_.push_back("bin " + std::to_string(i) + " points to " + hex(p) + ", outside the heap");
          break;
        }
        mark(p, s);
        p = hb->u64(p + 16);
      }
    }
  }
  for (auto &[_, c] : chunks) h.chunks_.push_back(c);
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
                       " bytes at " + hex(c->address);
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
  if (r->path.empty() && p >= r->start + 16 && p % 16 == 0) {
    uint64_t size = 0;
    if (const_cast<Target &>(t).readU64(p - 8, size) && (size & kMmappedBit) &&
        (size & ~kFlagBits) >= kMinChunk && p - 16 + (size & ~kFlagBits) <= r->end)
      return "the start of an mmapped chunk of " + std::to_string(size & ~kFlagBits) + " bytes";
  }
  std::string where = r->path.empty() ? "an anonymous mapping" : r->path;
  return "not a heap pointer (" + where + ")";
}

}  // namespace bt
