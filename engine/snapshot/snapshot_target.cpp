#include "snapshot/snapshot_target.h"

#include "support/address_ranges.h"
#include "target/module_discovery.h"

#include <algorithm>
#include <cstring>

namespace bt {

SnapshotTarget::SnapshotTarget(SnapshotData data) : data_(std::move(data)) {
  facts_ = data_.process;
  threads_ = data_.threads;
  regions_ = data_.regions;
  modules_ = data_.modules;
  auxv_ = data_.auxv;
  signal_ = data_.signal;
  crashedTid_ = data_.crashedTid;
  xcr0_ = data_.xcr0;
  checkModuleFiles(/*report=*/false);
}

bool storedFramesWin(const Target &here, const std::vector<ThreadBacktrace> &stored,
                     const std::vector<ThreadBacktrace> &fresh) {
  auto facts = [](const std::vector<ThreadBacktrace> &bts) {
    size_t n = 0;
    for (const ThreadBacktrace &b : bts)
      for (const Frame &f : b.frames) n += !f.function.empty() + !f.file.empty() + f.variables.size();
    return n;
  };
  for (const ThreadBacktrace &b : stored)
    for (const Frame &f : b.frames) {
      if (f.module.empty() || f.module[0] != '/') continue;  // [vdso]: no file on either side
      const ModuleInfo *m = here.moduleFor(f.pc);
      if (!m || !buildIdsMatch(m->buildId, m->fileBuildId)) return true;
    }
  return facts(fresh) < facts(stored);
}

llvm::Expected<std::unique_ptr<SnapshotTarget>> SnapshotTarget::open(const std::string &path) {
  llvm::Expected<SnapshotData> data = readSnapshot(path);
  if (!data) return data.takeError();
  return std::make_unique<SnapshotTarget>(std::move(*data));
}

// Read-only file-backed memory (code, constants) as the file holds it. Not writable mappings
// and not the RELRO range: the loader relocated those, the file has other bytes.
size_t SnapshotTarget::readFromModuleFile(uint64_t addr, void *buf, size_t len) {
  const MemoryRegion *r = regionFor(addr);
  if (!r || r->path.empty() || r->path[0] != '/' || (r->perms & PermWrite) || !(r->perms & PermRead))
    return 0;
  auto it = files_.find(r->path);
  if (it == files_.end()) {
    ModuleFile mf;
    // Only the build the snapshot names: another version of the file would serve wrong bytes.
    const ModuleInfo *mod = nullptr;
    for (const ModuleInfo &m : modules())
      if (m.path == r->path) mod = &m;
    if (mod && !mod->buildId.empty() && readBuildIdFromFile(r->path) == mod->buildId) {
      auto f = llvm::MemoryBuffer::getFile(r->path, false, false);
      if (f) mf.data = std::move(*f);
    }
    if (mf.data) {
      const llvm::MemoryBuffer &file = *mf.data;
      MemoryReader fromFile = [&file](uint64_t off, void *out, size_t n) -> size_t {
        if (off >= file.getBufferSize()) return 0;
        n = std::min<uint64_t>(n, file.getBufferSize() - off);
        memcpy(out, file.getBufferStart() + off, n);
        return n;
      };
      if (auto relro = relroRange(fromFile, 0)) {
        mf.relroStart = mod->loadBias + relro->first;
        mf.relroEnd = mod->loadBias + relro->second;
      }
    }
    it = files_.emplace(r->path, std::move(mf)).first;
  }
  const ModuleFile &mf = it->second;
  if (!mf.data || (addr >= mf.relroStart && addr < mf.relroEnd)) return 0;
  uint64_t off = r->fileOffset + (addr - r->start);
  uint64_t size = mf.data->getBufferSize();
  if (off >= size) return 0;
  uint64_t limit = r->end;
  if (mf.relroStart > addr) limit = std::min(limit, mf.relroStart);
  // Captured bytes win: stop where the next slice begins.
  auto next = std::upper_bound(data_.memory.begin(), data_.memory.end(), addr,
                               [](uint64_t a, const MemorySlice &m) { return a < m.address; });
  if (next != data_.memory.end()) limit = std::min(limit, next->address);
  size_t n = std::min<uint64_t>({len, size - off, limit - addr});
  memcpy(buf, mf.data->getBufferStart() + off, n);
  return n;
}

std::vector<std::pair<uint64_t, uint64_t>> SnapshotTarget::heldMemory() const {
  std::vector<std::pair<uint64_t, uint64_t>> held;
  for (const MemorySlice &m : data_.memory)
    if (!m.bytes.empty()) held.emplace_back(m.address, m.end());
  return mergeRanges(std::move(held));
}

size_t SnapshotTarget::readMemory(uint64_t addr, void *buf, size_t len) {
  size_t got = readSlices(addr, buf, len);
  while (got < len) {
    size_t n = readFromModuleFile(addr + got, static_cast<char *>(buf) + got, len - got);
    if (!n) break;
    got += n;
    got += readSlices(addr + got, static_cast<char *>(buf) + got, len - got);
  }
  // The first range ending after addr (sorted, disjoint): does it start before the read's end?
  const auto &late = data_.memoryReadAfterRelease;
  auto it = std::upper_bound(late.begin(), late.end(), addr,
                             [](uint64_t a, const std::pair<uint64_t, uint64_t> &r) { return a < r.second; });
  if (got && it != late.end() && it->first < addr + got) ++readsAfterRelease_;
  return got;
}

size_t SnapshotTarget::readSlices(uint64_t addr, void *buf, size_t len) {
  // Slices are sorted and disjoint: find the one holding addr, continue into adjacent ones.
  const std::vector<MemorySlice> &mem = data_.memory;
  auto it = std::upper_bound(mem.begin(), mem.end(), addr,
                             [](uint64_t a, const MemorySlice &m) { return a < m.address; });
  if (it == mem.begin()) return 0;
  --it;
  size_t done = 0;
  uint64_t at = addr;
  while (done < len && it != mem.end() && at >= it->address && at < it->end()) {
    size_t n = std::min<uint64_t>(len - done, it->end() - at);
    memcpy(static_cast<char *>(buf) + done, it->bytes.data() + (at - it->address), n);
    done += n;
    at += n;
    ++it;
  }
  return done;
}

SnapshotData SnapshotTarget::dataWithoutMemory() const {
  // Every field of SnapshotData but `memory` (snapshot.h lists them; keep the two in step).
  SnapshotData c;
  c.process = data_.process;
  c.capture = data_.capture;
  c.threads = data_.threads;
  c.regions = data_.regions;
  c.modules = data_.modules;
  c.auxv = data_.auxv;
  c.memoryReadAfterRelease = data_.memoryReadAfterRelease;
  c.signal = data_.signal;
  c.crashedTid = data_.crashedTid;
  c.xcr0 = data_.xcr0;
  c.backtraces = data_.backtraces;
  c.globals = data_.globals;
  c.attributes = data_.attributes;
  c.classifications = data_.classifications;
  c.fingerprint = data_.fingerprint;
  c.fingerprintFrames = data_.fingerprintFrames;
  c.plugins = data_.plugins;
  return c;
}

}  // namespace bt
