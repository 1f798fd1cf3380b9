#include "target/module_discovery.h"

#include "target/elf_notes.h"

#include <llvm/ADT/StringExtras.h>

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace bt {

namespace {

constexpr uint64_t kPage = 4096;

// Finds NT_GNU_BUILD_ID in a buffer of notes.
std::string buildIdFromNotes(const uint8_t *p, size_t n) {
  ElfNoteReader notes(p, n);
  while (std::optional<ElfNote> note = notes.next())
    if (note->type == NT_GNU_BUILD_ID && note->name == llvm::StringRef("GNU", 4) &&
        !note->desc.empty() && note->desc.size() <= 64)
      return llvm::toHex(note->desc, /*LowerCase=*/true);
  return {};
}

struct ElfLayout {
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> phdrs;
};

bool readLayout(const MemoryReader &read, uint64_t base, ElfLayout &out) {
  if (read(base, &out.eh, sizeof out.eh) != sizeof out.eh) return false;
  if (memcmp(out.eh.e_ident, ELFMAG, SELFMAG) != 0 || out.eh.e_ident[EI_CLASS] != ELFCLASS64)
    return false;
  if (out.eh.e_phentsize != sizeof(Elf64_Phdr) || out.eh.e_phnum == 0 || out.eh.e_phnum > 256)
    return false;
  out.phdrs.resize(out.eh.e_phnum);
  size_t want = out.phdrs.size() * sizeof(Elf64_Phdr);
  return read(base + out.eh.e_phoff, out.phdrs.data(), want) == want;
}

MemoryReader fileReader(const std::string &path, int &fd) {
  // Paths come from cores and snapshots: never block on a FIFO or a device.
  fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    fd = -1;
  }
  return [&fd](uint64_t off, void *buf, size_t len) -> size_t {
    if (fd < 0) return 0;
    ssize_t r = pread(fd, buf, len, (off_t)off);
    return r < 0 ? 0 : (size_t)r;
  };
}

std::string buildIdFromLayout(const ElfLayout &l, const MemoryReader &read, uint64_t bias,
                              bool useOffsets) {
  for (auto &ph : l.phdrs) {
    if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > 1 << 16) continue;
    std::vector<uint8_t> buf(ph.p_filesz);
    uint64_t at = useOffsets ? ph.p_offset : bias + ph.p_vaddr;
    if (read(at, buf.data(), buf.size()) != buf.size()) continue;
    std::string id = buildIdFromNotes(buf.data(), buf.size());
    if (!id.empty()) return id;
  }
  return {};
}

}  // namespace

size_t readRegularFile(const std::string &path, uint64_t offset, void *buf, size_t len) {
  int fd = -1;
  MemoryReader rd = fileReader(path, fd);
  size_t n = rd(offset, buf, len);
  if (fd >= 0) close(fd);
  return n;
}

std::string readBuildIdFromFile(const std::string &path) {
  int fd = -1;
  MemoryReader rd = fileReader(path, fd);
  std::string id;
  ElfLayout l;
  if (fd >= 0 && readLayout(rd, 0, l)) id = buildIdFromLayout(l, rd, 0, true);
  if (fd >= 0) close(fd);
  return id;
}

std::vector<ModuleInfo> discoverModules(const std::vector<MemoryRegion> &regions,
                                        const MemoryReader &read, uint64_t entry,
                                        const std::string &executableHint) {
  std::map<std::string, std::vector<const MemoryRegion *>> byPath;
  for (auto &r : regions) {
    if (r.path.empty() || (r.path[0] == '[' && r.path != "[vdso]")) continue;
    byPath[r.path].push_back(&r);
  }
  std::vector<ModuleInfo> mods;
  for (auto &[path, rs] : byPath) {
    ModuleInfo m;
    m.path = path;
    m.start = rs.front()->start;
    m.end = rs.back()->end;
    for (auto *r : rs) {
      m.start = std::min(m.start, r->start);
      m.end = std::max(m.end, r->end);
    }
    // The ELF header lives at the start of the mapping of file offset 0.
    const MemoryRegion *headRegion = nullptr;
    for (auto *r : rs)
      if (r->fileOffset == 0 && (!headRegion || r->start < headRegion->start)) headRegion = r;
    if (path == "[vdso]") headRegion = rs.front();
    if (!headRegion) continue;  // a data file mapped at an offset, not an ELF image
    ElfLayout l;
    bool inMemory = readLayout(read, headRegion->start, l);
    int fd = -1;
    MemoryReader disk = fileReader(path, fd);
    bool onDisk = false;
    if (!inMemory) onDisk = fd >= 0 && readLayout(disk, 0, l);
    if (!inMemory && !onDisk) {
      if (fd >= 0) close(fd);
      continue;  // not an ELF file (e.g. a mapped font or locale archive)
    }
    const Elf64_Phdr *firstLoad = nullptr;
    for (auto &ph : l.phdrs)
      if (ph.p_type == PT_LOAD && (!firstLoad || ph.p_vaddr < firstLoad->p_vaddr)) firstLoad = &ph;
    if (!firstLoad) {
      if (fd >= 0) close(fd);
      continue;
    }
    m.loadBias = headRegion->start - (firstLoad->p_vaddr & ~(kPage - 1));
    m.buildId = inMemory ? buildIdFromLayout(l, read, m.loadBias, false) : std::string();
    if (m.buildId.empty() && fd >= 0) {
      ElfLayout dl;
      if (readLayout(disk, 0, dl)) m.buildId = buildIdFromLayout(dl, disk, 0, true);
    }
    if (fd >= 0) close(fd);
    m.isMainExecutable = (entry != 0 && entry >= m.start && entry < m.end) ||
                         (entry == 0 && !executableHint.empty() && path == executableHint);
    mods.push_back(std::move(m));
  }
  std::sort(mods.begin(), mods.end(),
            [](const ModuleInfo &a, const ModuleInfo &b) { return a.start < b.start; });
  return mods;
}

size_t applyLinkMap(std::vector<ModuleInfo> &modules, const MemoryReader &read) {
  auto exe = std::find_if(modules.begin(), modules.end(),
                          [](const ModuleInfo &m) { return m.isMainExecutable; });
  if (exe == modules.end()) return 0;
  ElfLayout l;
  if (!readLayout(read, exe->start, l)) return 0;
  uint64_t dynAddr = 0, dynSize = 0;
  for (auto &ph : l.phdrs)
    if (ph.p_type == PT_DYNAMIC) {
      dynAddr = exe->loadBias + ph.p_vaddr;
      dynSize = ph.p_memsz;
    }
  if (!dynAddr || dynSize > 1 << 20) return 0;
  exe->dynamic = dynAddr;
  uint64_t rdebug = 0;
  for (uint64_t off = 0; off + 16 <= dynSize; off += 16) {
    Elf64_Dyn d;
    if (read(dynAddr + off, &d, sizeof d) != sizeof d || d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_DEBUG) rdebug = d.d_un.d_ptr;
  }
  if (!rdebug) return 0;
  uint64_t lm = 0;
  if (read(rdebug + 8, &lm, 8) != 8) return 0;  // r_debug.r_map
  size_t seen = 0;
  // Bounded walk: a corrupt list must not loop forever.
  for (size_t i = 0; lm && i < 4096; ++i) {
    uint64_t ent[5];  // l_addr, l_name, l_ld, l_next, l_prev
    if (read(lm, ent, sizeof ent) != sizeof ent) break;
    ++seen;
    char name[4096];
    size_t n = ent[1] ? read(ent[1], name, sizeof name - 1) : 0;
    name[n] = 0;
    std::string lname(name, strnlen(name, n));
    if (!lname.empty()) {
      // The entry's l_ld lies in its module's mapping; names may differ (a symlink in l_name,
      // the real file in the memory map).
      for (auto &m : modules)
        if (!m.isMainExecutable && (m.path == lname || (ent[2] && m.contains(ent[2])))) {
          m.loadBias = ent[0];
          m.linkMap = lm;
          m.dynamic = ent[2];
          m.linkMapName = lname;
          m.linkMapOrder = int(i);
          break;
        }
    }
    if (ent[3] == lm) break;
    lm = ent[3];
  }
  return seen;
}

std::optional<std::pair<uint64_t, uint64_t>> relroRange(const MemoryReader &read, uint64_t base) {
  ElfLayout l;
  if (!readLayout(read, base, l)) return std::nullopt;
  std::optional<std::pair<uint64_t, uint64_t>> out;
  for (auto &ph : l.phdrs)
    if (ph.p_type == PT_GNU_RELRO) out.emplace(ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
  return out;
}

uint64_t dynamicAddress(const MemoryReader &read, const ModuleInfo &m) {
  if (m.dynamic) return m.dynamic;
  ElfLayout l;
  if (!readLayout(read, m.start, l)) return 0;
  for (auto &ph : l.phdrs)
    if (ph.p_type == PT_DYNAMIC) return m.loadBias + ph.p_vaddr;
  return 0;
}

LoaderState readLoaderState(const MemoryReader &read, const std::vector<ModuleInfo> &modules) {
  LoaderState st;
  auto exe = std::find_if(modules.begin(), modules.end(),
                          [](const ModuleInfo &m) { return m.isMainExecutable; });
  if (exe == modules.end() || !exe->dynamic) return st;
  st.dynamic = exe->dynamic;
  for (uint64_t off = 0; off < (1 << 16); off += 16) {
    Elf64_Dyn d;
    if (read(exe->dynamic + off, &d, sizeof d) != sizeof d) break;
    st.dynamicSize = off + 16;
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_DEBUG) {
      st.rDebug = d.d_un.d_ptr;
      st.rDebugSlot = exe->dynamic + off + 8;
    }
  }
  if (!st.rDebug) return st;
  uint64_t lm = 0;
  if (read(st.rDebug + 8, &lm, 8) != 8) return st;
  for (size_t i = 0; lm && i < 4096; ++i) {
    uint64_t ent[5];  // l_addr, l_name, l_ld, l_next, l_prev
    if (read(lm, ent, sizeof ent) != sizeof ent) break;
    st.linkMaps.push_back(lm);
    if (ent[1]) st.names.push_back(ent[1]);
    if (ent[3] == lm) break;
    lm = ent[3];
  }
  return st;
}

}  // namespace bt
