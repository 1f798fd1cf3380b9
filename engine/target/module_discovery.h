// Builds the module list of a Target from its file-backed memory regions (from /proc/PID/maps or a
// core's NT_FILE note) and the dynamic linker's link map (r_debug via the executable's DT_DEBUG).
// ELF headers are read through the target's memory first (so it works for cores whose files are
// gone) and from the file on disk as fallback.
#pragma once

#include "target/target.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bt {

using MemoryReader = std::function<size_t(uint64_t addr, void *buf, size_t len)>;

// Groups regions by path and computes each module's load bias and build-id.
// `entry` is AT_ENTRY (0 if unknown): the module containing it is the main executable.
std::vector<ModuleInfo> discoverModules(const std::vector<MemoryRegion> &regions,
                                        const MemoryReader &read, uint64_t entry,
                                        const std::string &executableHint);

// Walks r_debug's link map (if the main executable has DT_DEBUG) and corrects load biases of the
// modules it lists. Returns the number of link-map entries seen.
size_t applyLinkMap(std::vector<ModuleInfo> &modules, const MemoryReader &read);
// Where the dynamic loader keeps its view of the process: the executable's dynamic section,
// r_debug (DT_DEBUG) and the link_map entries with their name strings (for snapshots to keep,
// and debuggers to read).
struct LoaderState {
  uint64_t dynamic = 0, dynamicSize = 0, rDebug = 0;
  uint64_t rDebugSlot = 0;  // where DT_DEBUG's value (the r_debug pointer) is stored
  std::vector<uint64_t> linkMaps, names;
};
LoaderState readLoaderState(const MemoryReader &read, const std::vector<ModuleInfo> &modules);

// Runtime address of a module's PT_DYNAMIC: from the link map, else from its program headers
// in memory; 0 if neither is readable.
uint64_t dynamicAddress(const MemoryReader &read, const ModuleInfo &m);

// PT_GNU_RELRO of the ELF image whose header `read` finds at `base`: its link-time
// [vaddr, vaddr + memsz), nullopt if it has none or is not a readable ELF64 image.
std::optional<std::pair<uint64_t, uint64_t>> relroRange(const MemoryReader &read, uint64_t base);

// Reads up to `len` bytes at `offset` of the file at `path` if it is a regular file (never
// blocks on a FIFO or a device: paths come from cores, minidumps and snapshots); bytes read.
size_t readRegularFile(const std::string &path, uint64_t offset, void *buf, size_t len);

// Reads the GNU build-id of an ELF file on disk (lowercase hex, empty if none/unreadable).
std::string readBuildIdFromFile(const std::string &path);

}  // namespace bt
