#include "target/target.h"

#include "support/address_ranges.h"
#include "target/module_discovery.h"

#include <algorithm>
#include <cstdio>

namespace bt {

const MemoryRegion *Target::regionFor(uint64_t addr) const { return findContaining(regions_, addr); }

std::vector<std::pair<uint64_t, uint64_t>> Target::heldMemory() const {
  std::vector<std::pair<uint64_t, uint64_t>> held;
  for (const MemoryRegion &r : regions_)
    if ((r.perms & PermRead) && r.end > r.start) held.emplace_back(r.start, r.end);
  return mergeRanges(std::move(held));
}
const ModuleInfo *Target::moduleFor(uint64_t addr) const { return findContaining(modules_, addr); }

std::optional<std::pair<uint64_t, uint64_t>> Target::stackRange(const ThreadInfo &t,
                                                                uint64_t maxBytes) const {
  constexpr uint64_t kRedZone = 128;
  uint64_t sp = t.regs.rsp;
  const MemoryRegion *r = regionFor(sp);
  if (!r) r = regionFor(sp - kRedZone);
  if (!r) return std::nullopt;
  // From a 512-byte boundary: the capture keeps memory in such chunks (lldb reads it so), and
  // the stacks a live target leaves copied must cover what the capture keeps of them.
  uint64_t start = std::max(r->start, (sp - kRedZone) & ~uint64_t(511));
  return std::make_pair(start, std::min(r->end, start + maxBytes));
}

std::vector<const ModuleInfo *> Target::modulesExecutableFirst() const {
  std::vector<const ModuleInfo *> out;
  for (const ModuleInfo &m : modules_)
    if (m.isMainExecutable) out.push_back(&m);
  for (const ModuleInfo &m : modules_)
    if (!m.isMainExecutable) out.push_back(&m);
  return out;
}

std::optional<uint64_t> Target::auxvValue(uint64_t type) const {
  for (auto &[k, v] : auxv_)
    if (k == type) return v;
  return std::nullopt;
}

bool buildIdsMatch(const std::string &a, const std::string &b) {
  if (a.empty() || b.empty()) return false;
  return a.size() <= b.size() ? b.compare(0, a.size(), a) == 0 : a.compare(0, b.size(), b) == 0;
}

void Target::checkModuleFiles(bool report) {
  for (ModuleInfo &m : modules_) {
    const std::string &file = m.hostPath.empty() ? m.path : m.hostPath;
    m.fileBuildId = readBuildIdFromFile(file);
    if (m.buildId.empty() || buildIdsMatch(m.buildId, m.fileBuildId)) continue;
    // The file here is another build, or is gone (deleted, "(deleted)" in the maps): the
    // mapped file itself may still be reachable.
    std::string original = originalFile(m);
    if (!original.empty()) {
      std::string id = readBuildIdFromFile(original);
      if (buildIdsMatch(m.buildId, id)) {
        m.hostPath = original;
        m.fileBuildId = id;
        continue;
      }
    }
    m.mismatch = !m.fileBuildId.empty();
    if (!m.mismatch || !report) continue;
    warnings_.push_back(mismatchWarning(m));
  }
}

std::string Target::mismatchWarning(const ModuleInfo &m) {
  std::string out = (m.hostPath.empty() ? m.path : m.hostPath) + ": build-id mismatch: this file is build " +
                    m.fileBuildId + ", the process ran build " + m.buildId + "; ";
  if (m.mismatchAllowed)
    return out + "its symbols are used as allowed, and every frame in it is marked";
  return out + "its symbols and unwind tables are not used and frames in it are shown as "
               "module+offset (--allow-mismatch, or allow_mismatch=True in Python, uses them anyway)";
}

void Target::allowMismatchedFiles() {
  for (ModuleInfo &m : modules_) {
    if (!m.mismatch || m.mismatchAllowed) continue;
    std::string before = mismatchWarning(m);
    m.mismatchAllowed = true;
    std::replace(warnings_.begin(), warnings_.end(), before, mismatchWarning(m));
  }
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
