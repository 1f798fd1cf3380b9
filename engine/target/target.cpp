#include "target/target.h"

#include <algorithm>

namespace bt {

template <typename T>
static const T *findContaining(const std::vector<T> &v, uint64_t addr) {
  // v is sorted by start and entries do not overlap.
  auto it = std::upper_bound(v.begin(), v.end(), addr,
                             [](uint64_t a, const T &e) { return a < e.start; });
  if (it == v.begin()) return nullptr;
  --it;
  return it->contains(addr) ? &*it : nullptr;
}

const MemoryRegion *Target::regionFor(uint64_t addr) const { return findContaining(regions_, addr); }
const ModuleInfo *Target::moduleFor(uint64_t addr) const { return findContaining(modules_, addr); }

std::optional<uint64_t> Target::auxvValue(uint64_t type) const {
  for (auto &[k, v] : auxv_)
    if (k == type) return v;
  return std::nullopt;
}

}  // namespace bt

