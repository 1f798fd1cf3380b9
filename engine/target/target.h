// Target: where the state of a process comes from (a live process, an ELF core file, later a
// minidump or a snapshot). Everything above engine/target talks to this interface only, so
// unwinding, symbolization and presentation never ask which kind of source they have. A Target
// owns plain data (threads with registers, memory regions, modules, auxv, signal) gathered when it
// is opened, plus memory reads on demand.
#pragma once

#include "target/registers.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bt {

struct SignalInfo {
  int signo = 0;
  int code = 0;
  int err = 0;
  uint64_t address = 0;  // si_addr for fault signals
  bool hasAddress = false;
  int senderPid = 0;
};

struct ThreadInfo {
  int tid = 0;
  std::string name;
  Registers regs;
  std::optional<FpRegisters> fpregs;
  std::optional<SignalInfo> signal;  // the signal this thread stopped/died with, if any
};

constexpr uint32_t PermRead = 1, PermWrite = 2, PermExec = 4, PermShared = 8;

struct MemoryRegion {
  uint64_t start = 0, end = 0;
  uint32_t perms = 0;
  uint64_t fileOffset = 0;
  std::string path;  // empty for anonymous; "[stack]" etc. for special mappings
  bool contains(uint64_t a) const { return a >= start && a < end; }
};

// The entry of `v` (sorted by start, not overlapping: regions, modules) that contains addr.
template <typename T>
const T *findContaining(const std::vector<T> &v, uint64_t addr) {
  auto it = std::upper_bound(v.begin(), v.end(), addr,
                             [](uint64_t a, const T &e) { return a < e.start; });
  if (it == v.begin()) return nullptr;
  --it;
  return it->contains(addr) ? &*it : nullptr;
}

// Two build-ids name the same build; one may be a prefix of the other (a minidump's RSDS
// record keeps the first 16 bytes). Empty ids match nothing.
bool buildIdsMatch(const std::string &a, const std::string &b);

// One line of /proc/PID/maps ("start-end perms offset dev inode path"); false if malformed.
bool parseMapsLine(const std::string &line, MemoryRegion &out);

struct ModuleInfo {
  std::string path;       // path of the mapped file as the target saw it
  std::string hostPath;   // where to read that file on this machine (may differ: --exe)
  uint64_t start = 0;     // lowest mapped address
  uint64_t end = 0;       // highest mapped address (exclusive)
  uint64_t loadBias = 0;  // runtime address = link-time vaddr + loadBias
  std::string buildId;    // lowercase hex, empty if unknown: the build the process ran
  // The build-id of the file at hostPath (or path) on this machine, "" if it has none or
  // cannot be read; checkModuleFiles() fills it.
  std::string fileBuildId;
  // Both build-ids known and different: the file here is another build (rebuilt in place after
  // the crash). Its symbols, unwind tables and text are not read unless mismatchAllowed.
  bool mismatch = false;
  bool mismatchAllowed = false;  // the user opted in: the file is read anyway, frames marked
  bool isMainExecutable = false;
  uint64_t linkMap = 0;   // address of its struct link_map in the target, 0 if unknown
  uint64_t dynamic = 0;   // runtime address of its PT_DYNAMIC (the link map's l_ld), 0 if unknown
  std::string linkMapName;  // the name the dynamic loader gave it (l_name), "" if unknown
  int linkMapOrder = -1;    // its position in the loader's list, -1 if not in it
  bool contains(uint64_t a) const { return a >= start && a < end; }
};

struct ProcessFacts {
  int pid = 0;
  std::string executable;  // absolute path when known
  std::vector<std::string> commandLine;
  std::optional<int> uid;
  std::optional<uint64_t> startTime;     // seconds since the epoch
  std::vector<std::string> environment;  // "KEY=VALUE", when the source has it (live)
  uint64_t envStart = 0, envEnd = 0;     // the environment block in target memory, if known
};

class Target {
public:
  virtual ~Target() = default;

  virtual const char *kind() const = 0;  // "live", "core", "minidump", "snapshot"

  // Lets a frozen source go (a live process runs on); idempotent, a no-op for post-mortem
  // sources. The pipeline calls it as soon as nothing it still does needs the memory.
  virtual void release() {}
  // How long the source was (or has been) stopped, in milliseconds; -1 when it never ran.
  virtual double stoppedMs() const { return -1; }
  // Copies what unwinding needs of a frozen source (every thread's stack from SP upward, at most
  // `stackBytes` each and `totalBytes` in all), then releases it, so a capture pauses a live
  // process only for the copy: later reads of those bytes see the frozen state; other reads of
  // writable memory see the running process and are counted below. Post-mortem sources: release().
  virtual void releaseKeepingStacks(uint64_t stackBytes, uint64_t totalBytes) {
    (void)stackBytes;
    (void)totalBytes;
    release();
  }
  // How many reads of writable memory were served by the running process after
  // releaseKeepingStacks (not frozen state), and the ranges they covered (merged, bounded).
  virtual uint64_t readsAfterRelease() const { return 0; }
  virtual std::vector<std::pair<uint64_t, uint64_t>> rangesReadAfterRelease() const { return {}; }

  // Reads up to len bytes at addr; returns the number of bytes read from the start (0 = unreadable).
  virtual size_t readMemory(uint64_t addr, void *buf, size_t len) = 0;
  // The address ranges whose bytes the source itself holds, sorted and disjoint: a core's
  // PT_LOAD contents, a minidump's memory list, a snapshot's slices; for a live process, its
  // readable regions. Bytes readMemory serves from module files on this machine are not in it
  // (what an export writes: bt export --minidump).
  virtual std::vector<std::pair<uint64_t, uint64_t>> heldMemory() const;
  // Key/value attributes the source itself carries: a snapshot's (--attr, plugins), a
  // minidump's Crashpad annotations; none for a live process or a core.
  virtual std::vector<std::pair<std::string, std::string>> attributes() const { return {}; }
  // The same, for reads whose bytes a snapshot need not keep: the analysis' own look at memory
  // (a whole heap, code compared with its file, a mutex's owner), of which it stores only its
  // conclusions — recorded, they would also be memory a debugger could wrongly expect there.
  virtual size_t scanMemory(uint64_t addr, void *buf, size_t len) { return readMemory(addr, buf, len); }

  const ProcessFacts &process() const { return facts_; }
  const std::vector<ThreadInfo> &threads() const { return threads_; }
  const std::vector<MemoryRegion> &regions() const { return regions_; }
  const std::vector<ModuleInfo> &modules() const { return modules_; }
  // The modules in the order gdb looks symbols up: the main executable first (it holds an object
  // a copy relocation moved there), then the others as loaded.
  std::vector<const ModuleInfo *> modulesExecutableFirst() const;
  const std::vector<std::pair<uint64_t, uint64_t>> &auxv() const { return auxv_; }
  const std::optional<SignalInfo> &signal() const { return signal_; }
  std::optional<int> crashedTid() const { return crashedTid_; }
  // XCR0 of the process (which extended register sets the CPU had on: AVX, AVX-512, PKRU),
  // from the XSAVE area when the source has it.
  std::optional<uint64_t> xcr0() const { return xcr0_; }
  // What the source contradicted or lacked and what was done about it (a damaged note, a
  // signal number out of range, ...): reported with the result, never turned into an invented
  // fact.
  const std::vector<std::string> &warnings() const { return warnings_; }
  // Part of what the source should hold is missing (a truncated core; a core whose executable,
  // which holds the text the kernel left out, is missing or another build): the results are
  // shown, the warnings say what is missing, and the fronts report a distinct "partial" status.
  bool partial() const { return partial_; }

  // Compares every module's build-id with the file this machine holds for it (fileBuildId,
  // mismatch) and, with `report`, warns about each mismatch. Each source calls it once its
  // modules are known (a snapshot without `report`: its stored frames do not need the files).
  // Afterwards, allowMismatchedFiles() lets the files be used anyway.
  void checkModuleFiles(bool report = true);
  void allowMismatchedFiles();
  // True if the file holding `mod` on this machine may be read (not a mismatched build).
  static bool fileUsable(const ModuleInfo &mod) { return !mod.mismatch || mod.mismatchAllowed; }

  const MemoryRegion *regionFor(uint64_t addr) const;
  // Thread `t`'s stack as a capture keeps it: from SP minus the red zone (128 bytes), down to a
  // 512-byte boundary, upward at most `maxBytes`, within SP's mapping; nullopt when SP is in none.
  std::optional<std::pair<uint64_t, uint64_t>> stackRange(const ThreadInfo &t, uint64_t maxBytes) const;
  const ModuleInfo *moduleFor(uint64_t addr) const;
  std::optional<uint64_t> auxvValue(uint64_t type) const;
  bool readU64(uint64_t addr, uint64_t &out) {
    return readMemory(addr, &out, sizeof out) == sizeof out;
  }

protected:
  // Another file on this machine known to be the very file the process mapped (a live process's
  // /proc/PID/map_files entry), tried when the file at the module's path is another build.
  virtual std::string originalFile(const ModuleInfo &) const { return {}; }
  static std::string mismatchWarning(const ModuleInfo &m);

  ProcessFacts facts_;
  std::vector<ThreadInfo> threads_;
  std::vector<MemoryRegion> regions_;  // sorted by start
  std::vector<ModuleInfo> modules_;    // sorted by start
  std::vector<std::pair<uint64_t, uint64_t>> auxv_;
  std::optional<SignalInfo> signal_;
  std::optional<int> crashedTid_;
  std::optional<uint64_t> xcr0_;
  std::vector<std::string> warnings_;
  bool partial_ = false;
};

}  // namespace bt
