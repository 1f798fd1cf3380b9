// Module discovery over this very process: regions from /proc/self/maps, ELF headers read
// through memory. Load biases must equal what the dynamic linker reports (dl_iterate_phdr), and
// build-ids must match the files on disk.
#include "target/module_discovery.h"

#include <gtest/gtest.h>
#include <link.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

using namespace bt;

namespace {

std::vector<MemoryRegion> selfRegions() {
  std::vector<MemoryRegion> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    MemoryRegion r;
    unsigned long long s, e, off;
    char perms[8];
    int pos = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %*x:%*x %*u %n", &s, &e, perms, &off, &pos) < 4)
      continue;
    r.start = s;
    r.end = e;
    r.fileOffset = off;
    r.perms = (perms[0] == 'r' ? PermRead : 0) | (perms[2] == 'x' ? PermExec : 0);
    if (pos > 0 && pos < (int)line.size()) r.path = line.substr(pos);
    out.push_back(r);
  }
  return out;
}

int collect(struct dl_phdr_info *info, size_t, void *data) {
  auto *m = static_cast<std::map<std::string, uint64_t> *>(data);
  // Compare canonical paths: the loader may say /lib/... where maps say /usr/lib/...
  char real[PATH_MAX];
  if (info->dlpi_name && info->dlpi_name[0] && realpath(info->dlpi_name, real))
    (*m)[real] = info->dlpi_addr;
  return 0;
}

}  // namespace

TEST(ModuleDiscovery, BiasesMatchTheDynamicLinker) {
  MemoryReader self = [](uint64_t addr, void *buf, size_t len) -> size_t {
    // process_vm_readv on ourselves: an unmapped or beyond-EOF page gives a short read, not SIGBUS.
    iovec local{buf, len}, remote{reinterpret_cast<void *>(addr), len};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    return n > 0 ? size_t(n) : 0;
  };
  auto regions = selfRegions();
  // Only readable regions are handed to the reader.
  std::vector<MemoryRegion> readable;
  for (auto &r : regions)
    if (r.perms & PermRead) readable.push_back(r);
  auto mods = discoverModules(readable, self, 0, "/proc/self/exe");
  std::map<std::string, uint64_t> ld;
  dl_iterate_phdr(collect, &ld);
  ASSERT_FALSE(ld.empty());
  int checked = 0;
  for (auto &[name, bias] : ld) {
    for (auto &m : mods) {
      char real[PATH_MAX];
      if (!realpath(m.path.c_str(), real) || name != real) continue;
      EXPECT_EQ(m.loadBias, bias) << name;
      std::string diskId = readBuildIdFromFile(name);
      if (!diskId.empty()) {
        EXPECT_EQ(m.buildId, diskId) << name;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 2) << "expected libc and at least one more shared library";
  // Link-map walk agrees too (it only rewrites biases of libraries it lists).
  for (auto &m : mods) m.isMainExecutable = m.path.find("engine_unit_tests") != std::string::npos;
  auto before = mods;
  EXPECT_GT(applyLinkMap(mods, self), 1u);
  for (size_t i = 0; i < mods.size(); ++i) EXPECT_EQ(mods[i].loadBias, before[i].loadBias);
}

// PT_GNU_RELRO as relroRange reads it from a library's ELF header in memory, against the
// program headers the dynamic linker hands out.
TEST(ModuleDiscovery, RelroRangeMatchesTheDynamicLinker) {
  MemoryReader self = [](uint64_t addr, void *buf, size_t len) -> size_t {
    iovec local{buf, len}, remote{reinterpret_cast<void *>(addr), len};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    return n > 0 ? size_t(n) : 0;
  };
  struct Lib {
    uint64_t header = 0;
    std::optional<std::pair<uint64_t, uint64_t>> relro;
  };
  std::vector<Lib> libs;
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, size_t, void *data) {
        Lib lib;
        bool headerMapped = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
            lib.header = info->dlpi_addr + ph.p_vaddr;
            headerMapped = true;
          }
          if (ph.p_type == PT_GNU_RELRO) lib.relro.emplace(ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
        }
        if (headerMapped) static_cast<std::vector<Lib> *>(data)->push_back(lib);
        return 0;
      },
      &libs);
  int withRelro = 0;
  for (const Lib &lib : libs) {
    EXPECT_EQ(relroRange(self, lib.header), lib.relro) << std::hex << lib.header;
    withRelro += bool(lib.relro);
  }
  EXPECT_GE(withRelro, 2) << "libc and this test are linked with -z relro on Debian";
  EXPECT_EQ(relroRange(self, 0), std::nullopt);  // nothing readable there
}
