#include "target/target.h"

#include <algorithm>
#include <cstdio>

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

bool parseMapsLine(const std::string &line, MemoryRegion &r) {
  char perms[8] = {};
  unsigned long long start, end, off;
  int pathPos = 0;
  if (sscanf(line.c_str(), "%llx-%llx %7s %llx %*x:%*x %*u %n", &start, &end, perms, &off,
             &pathPos) < 4 ||
      end < start)
    return false;
  r = MemoryRegion{};
  r.start = start;
  r.end = end;
  r.fileOffset = off;
  r.perms = (perms[0] == 'r' ? PermRead : 0) | (perms[1] == 'w' ? PermWrite : 0) |
            (perms[2] == 'x' ? PermExec : 0) | (perms[3] == 's' ? PermShared : 0);
  if (pathPos > 0 && pathPos < int(line.size())) r.path = line.substr(size_t(pathPos));
  return true;
}

}  // namespace bt
