#include "snapshot/snapshot_target.h"

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
}

llvm::Expected<std::unique_ptr<SnapshotTarget>> SnapshotTarget::open(const std::string &path) {
  llvm::Expected<SnapshotData> data = readSnapshot(path);
  if (!data) return data.takeError();
  return std::make_unique<SnapshotTarget>(std::move(*data));
}

size_t SnapshotTarget::readMemory(uint64_t addr, void *buf, size_t len) {
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

}  // namespace bt
