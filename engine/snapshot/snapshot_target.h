// SnapshotTarget: a snapshot read back as a Target. Threads, registers, regions, modules, auxv
// and the signal are the captured ones; memory reads are served from the captured slices, and
// file-backed mappings (code, read-only data) from the module's file when this machine has the
// same build (build-id checked), as gdb reads a core's missing text pages; anything else is
// unreadable. The symbolized backtraces and everything else the snapshot carries stay
// available through data().
#pragma once

#include "snapshot/snapshot.h"
#include "target/target.h"

#include <llvm/Support/MemoryBuffer.h>

#include <map>
#include <memory>

namespace bt {

// Of a snapshot's stored frames and a re-unwind of it here (`fresh`, on `here`, the snapshot
// target): the stored ones (rendered values, nothing to walk) win unless every module they name
// is the same build here, by build-id, and the re-unwind knows at least as much — names, source
// lines, variables (a split-debug build without its debug files still names every function).
bool storedFramesWin(const Target &here, const std::vector<ThreadBacktrace> &stored,
                     const std::vector<ThreadBacktrace> &fresh);

class SnapshotTarget : public Target {
public:
  explicit SnapshotTarget(SnapshotData data);
  static llvm::Expected<std::unique_ptr<SnapshotTarget>> open(const std::string &path);

  const char *kind() const override { return "snapshot"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override;
  std::vector<std::pair<uint64_t, uint64_t>> heldMemory() const override;
  std::vector<std::pair<std::string, std::string>> attributes() const override { return data_.attributes; }
  // What the capture read from the running process after letting it go, and how many reads
  // since this snapshot was opened touched it (a variable rendered from it is marked).
  std::vector<std::pair<uint64_t, uint64_t>> rangesReadAfterRelease() const override {
    return data_.memoryReadAfterRelease;
  }
  uint64_t readsAfterRelease() const override { return readsAfterRelease_; }

  const SnapshotData &data() const { return data_; }
  // Everything but the memory slices (which can be large): what a reader keeps of a snapshot
  // after the target itself is gone.
  SnapshotData dataWithoutMemory() const;

private:
  size_t readSlices(uint64_t addr, void *buf, size_t len);
  size_t readFromModuleFile(uint64_t addr, void *buf, size_t len);

  SnapshotData data_;
  uint64_t readsAfterRelease_ = 0;
  struct ModuleFile {
    std::unique_ptr<llvm::MemoryBuffer> data;  // null: missing or another build
    uint64_t relroStart = 0, relroEnd = 0;     // runtime range relocated at load (not the file's)
  };
  std::map<std::string, ModuleFile> files_;  // by path
};

}  // namespace bt
