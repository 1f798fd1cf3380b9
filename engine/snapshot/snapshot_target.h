// SnapshotTarget: a snapshot read back as a Target. Threads, registers, regions, modules, auxv
// and the signal are the captured ones; memory reads are served from the captured slices only
// (anything else is unreadable, as in a core without those pages). The symbolized backtraces
// and everything else the snapshot carries stay available through data().
#pragma once

#include "snapshot/snapshot.h"
#include "target/target.h"

namespace bt {

class SnapshotTarget : public Target {
public:
  explicit SnapshotTarget(SnapshotData data);
  static llvm::Expected<std::unique_ptr<SnapshotTarget>> open(const std::string &path);

  const char *kind() const override { return "snapshot"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override;

  const SnapshotData &data() const { return data_; }

private:
  SnapshotData data_;
};

}  // namespace bt
