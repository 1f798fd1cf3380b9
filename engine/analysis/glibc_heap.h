// GlibcHeap: glibc's allocator (ptmalloc, glibc 2.32 and later, x86-64) as a crash left it —
// every chunk of the main arena's heap and of each thread arena's first heap, walked by their
// size fields, and which of them are free: in a thread cache (tcache; the per-thread struct is
// the first chunk of each heap), a fastbin, or the unsorted, small and large bins of each arena,
// with glibc's safe-linking (next = (&next >> 12) ^ pointer) decoded. It answers, for a pointer
// the analysis cares about, "the start of an in-use chunk", "24 bytes into a chunk freed into
// the tcache", "an mmapped chunk", "not a heap pointer". The arenas are found by glibc's symbols
// (`main_arena`, `tcache_key`: libc6-dbg's debug file); the layouts are glibc's for x86-64. The
// heap is read in one pass while the target is frozen (readCrashEvidence), then walked locally:
// everything is bounded (heap bytes read, chunks, list lengths) and a corrupt header ends a walk
// with a problem reported, never a wrong answer.
#pragma once

#include "symbols/symbolizer.h"
#include "target/target.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bt {

enum class ChunkState { InUse, Tcache, Fastbin, Unsorted, SmallBin, LargeBin, Top };

const char *chunkStateText(ChunkState s);  // "in use", "free (tcache)", ...

struct HeapChunk {
  uint64_t address = 0;  // the chunk header; user memory starts 16 bytes later
  uint64_t size = 0;     // without the flag bits
  ChunkState state = ChunkState::InUse;
  bool keyMatches = false;  // tcache: the entry's key is glibc's tcache_key (it was freed)
  uint64_t link = 0;        // free in a tcache or fastbin: its first word, the safe-linked next
};

class GlibcHeap {
public:
  // Nullopt (with `why`) when the process has no glibc allocator state to read: no libc, no
  // symbols for it, an arena that does not look like one.
  // `pointers`: values the analysis may ask about (the crashed thread's registers, the fault
  // address): the word before each is read now, to tell an mmapped chunk later without the target.
  static std::optional<GlibcHeap> read(Target &target, Symbolizer &symbols,
                                       const std::vector<uint64_t> &pointers, std::string *why);

  bool inHeap(uint64_t p) const;
  const HeapChunk *chunkFor(uint64_t p) const;  // the chunk whose header or memory holds p
  // One sentence about p: "the start of an in-use chunk of 32 bytes at 0x...", ...; reads
  // nothing from the target (only its memory map), so it may run after a live target is gone.
  std::string describe(const Target &target, uint64_t p) const;
  // What the walk found wrong (a corrupt chunk size, a free list that loops or leaves the heap).
  const std::vector<std::string> &problems() const { return problems_; }
  // The first chunk whose header the walk found corrupt (0 if none), its size field, and the
  // chunk before it (whose end a write ran past, most likely).
  uint64_t corruptChunk() const { return corruptChunk_; }
  uint64_t corruptSize() const { return corruptSize_; }
  const HeapChunk *chunkBefore(uint64_t address) const;
  // A free chunk whose stored link is `value` (or less than 4 KiB below it): a pointer read
  // out of freed memory, or an address computed from one.
  const HeapChunk *freeChunkLinking(uint64_t value) const;
  size_t chunkCount() const { return chunks_.size(); }

private:
  std::vector<HeapChunk> chunks_;                       // sorted by address
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;   // the heap ranges walked
  std::vector<std::string> problems_;
  uint64_t corruptChunk_ = 0, corruptSize_ = 0;
  std::map<uint64_t, uint64_t> sizeWordBefore_;  // pointer -> the word at pointer - 8
};

}  // namespace bt
