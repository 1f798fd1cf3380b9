#include "symbols/sparse_debug_info.h"

#include <llvm/DebugInfo/DWARF/DWARFDebugAbbrev.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

using namespace llvm;

namespace bt {

MappedFile &MappedFile::operator=(MappedFile &&o) noexcept {
  if (this != &o) {
    if (fd >= 0) close(fd);
    fd = o.fd;
    offset = o.offset;
    o.fd = -1;
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (fd >= 0) close(fd);
}

std::unique_ptr<MappedFile> mappedFileOf(StringRef bytes) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (!maps) return nullptr;
  uintptr_t at = reinterpret_cast<uintptr_t>(bytes.data());
  std::unique_ptr<MappedFile> out;
  char line[4352];
  while (fgets(line, sizeof line, maps)) {
    uintptr_t start, end;
    unsigned long long offset, inode;
    unsigned devMajor, devMinor;
    int pathAt = 0;
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %llx %x:%x %llu %n", &start, &end, &offset, &devMajor,
               &devMinor, &inode, &pathAt) < 6)
      continue;
    if (at < start || at >= end) continue;
    // The whole section in this one mapping, of a file that still has this path.
    std::string path = pathAt ? line + pathAt : "";
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    if (at + bytes.size() > end || inode == 0 || path.empty() || path[0] != '/') break;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_ino != inode || major(st.st_dev) != devMajor ||
        minor(st.st_dev) != devMinor) {
      close(fd);  // another file has this path now (or " (deleted)" was part of it)
      break;
    }
    out = std::make_unique<MappedFile>(fd, offset + (at - start));
    break;
  }
  fclose(maps);
  return out;
}

// A DWARF 2-4 unit header (32-bit format) followed by a null entry where its unit DIE would be:
// LLVM parses the header and finds no DIEs. A gap too large for one 32-bit length gets several.
static void writePlaceholders(uint8_t *p, uint64_t size, uint16_t version) {
  constexpr uint64_t kMaxUnit = 0xf0000000;  // below DWARF32's reserved lengths
  while (size >= SparseDebugInfo::kPlaceholderSize) {
    uint64_t n = size;
    if (n > kMaxUnit) n = size - kMaxUnit >= SparseDebugInfo::kPlaceholderSize ? kMaxUnit : kMaxUnit / 2;
    uint32_t length = uint32_t(n - 4);
    uint32_t abbrevOffset = 0;
    memcpy(p, &length, 4);
    memcpy(p + 4, &version, 2);
    memcpy(p + 6, &abbrevOffset, 4);
    p[10] = 8;  // address size
    p[11] = 0;  // the null entry (the page may be the file's)
    p += n;
    size -= n;
  }
}

Expected<std::unique_ptr<SparseDebugInfo>> SparseDebugInfo::build(StringRef info, ArrayRef<UnitSpan> units,
                                                                  ArrayRef<uint64_t> keep, uint16_t version,
                                                                  const MappedFile *file) {
  if (version < 2 || version > 4) return createStringError(inconvertibleErrorCode(), "placeholder version %u", version);
  for (size_t i = 0; i < units.size(); ++i)
    if (units[i].end <= units[i].offset || units[i].end > info.size() ||
        (i && units[i].offset < units[i - 1].end))
      return createStringError(inconvertibleErrorCode(), "unit spans out of order or out of the section");
  std::vector<const UnitSpan *> kept;
  for (uint64_t off : keep) {
    auto it = std::lower_bound(units.begin(), units.end(), off,
                               [](const UnitSpan &u, uint64_t o) { return u.offset < o; });
    if (it == units.end() || it->offset != off)
      return createStringError(inconvertibleErrorCode(), "no unit at 0x%llx", (unsigned long long)off);
    kept.push_back(&*it);
  }
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  // Every gap must hold a placeholder, or LLVM would stop parsing there (units are parsed one
  // after the other, so a gap is whole units).
  uint64_t unitsEnd = units.empty() ? 0 : units.back().end;
  uint64_t at = 0;
  for (size_t i = 0; i <= kept.size(); ++i) {
    uint64_t next = i < kept.size() ? kept[i]->offset : unitsEnd;
    if (next != at && next - at < kPlaceholderSize)
      return createStringError(inconvertibleErrorCode(), "a gap of %llu bytes at 0x%llx",
                               (unsigned long long)(next - at), (unsigned long long)at);
    if (i < kept.size()) at = kept[i]->end;
  }
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  // With a file, byte x of the section sits at the same place in its page as in the file, so
  // that the file's pages can be mapped in place.
  uint64_t skew = file ? file->offset % page : 0;
  uint64_t mapped = (skew + info.size() + page - 1) / page * page;
  if (mapped == 0) mapped = page;
  // Anonymous and unreserved: only the pages written (placeholders, copies) get memory.
  void *map = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) return createStringError(inconvertibleErrorCode(), "cannot map %llu bytes", (unsigned long long)mapped);
  std::unique_ptr<SparseDebugInfo> out(new SparseDebugInfo(map, skew, info.size(), mapped));
  auto *base = static_cast<uint8_t *>(map) + skew;
  if (file) {
    // Runs of pages, adjacent units' merged; mapped before any placeholder is written, since a
    // placeholder may share a page with a kept unit (it is then copied on write).
    uint64_t runStart = 0, runEnd = 0;
    auto flush = [&]() -> bool {
      if (runEnd == runStart) return true;
      void *want = static_cast<uint8_t *>(map) + runStart;
      void *got = mmap(want, runEnd - runStart, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, file->fd,
                       off_t(file->offset - skew + runStart));
      return got == want;
    };
    for (const UnitSpan *u : kept) {
      uint64_t a = (skew + u->offset) / page * page, b = (skew + u->end + page - 1) / page * page;
      if (a <= runEnd && runEnd != runStart) {
        runEnd = std::max(runEnd, b);
        continue;
      }
      if (!flush()) return createStringError(inconvertibleErrorCode(), "cannot map the debug file's pages");
      runStart = a;
      runEnd = b;
    }
    if (!flush()) return createStringError(inconvertibleErrorCode(), "cannot map the debug file's pages");
  }
  at = 0;
  for (const UnitSpan *u : kept) {
    writePlaceholders(base + at, u->offset - at, version);
    if (!file) memcpy(base + u->offset, info.data() + u->offset, u->end - u->offset);
    at = u->end;
  }
  writePlaceholders(base + at, unitsEnd - at, version);
  // What follows the last unit (nothing, or the header the whole section's parse stopped at) as
  // it is, so that the context stops there as a context over the whole section does.
  memcpy(base + unitsEnd, info.data() + unitsEnd, std::min<uint64_t>(info.size() - unitsEnd, 64));
  mprotect(map, mapped, PROT_READ);
  return std::move(out);
}

SparseDebugInfo::~SparseDebugInfo() { munmap(map_, mapped_); }

bool unitIsSelfContained(DWARFUnit &unit, bool typeUnitsInInfo) {
  const DWARFAbbreviationDeclarationSet *abbrevs = unit.getAbbreviations();
  if (!abbrevs) return false;
  for (const DWARFAbbreviationDeclaration &decl : *abbrevs)
    for (const DWARFAbbreviationDeclaration::AttributeSpec &spec : decl.attributes()) {
      switch (unsigned(spec.Form)) {
        case dwarf::DW_FORM_ref_addr:
        case dwarf::DW_FORM_GNU_ref_alt:
        case dwarf::DW_FORM_indirect:
          return false;
        case dwarf::DW_FORM_ref_sig8:
          if (typeUnitsInInfo) return false;
          break;
        default:
          break;
      }
    }
  return true;
}

}  // namespace bt
