// SparseDebugInfo: a copy of .debug_info that holds only some of its units, each at its own
// offset, with placeholder units (a header and no DIEs) in the gaps between them. A batch's
// llvm::DWARFContext over it parses a few unit headers instead of every header in the section,
// and touches only the pages of the units the batch reads: with 1,200 units, every fresh context
// parsed all the headers (19% of a warm --vars) and the kernel's fault-around mapped ~80 MB of
// .debug_info around them. Only for units that refer to no DIE outside themselves
// (unitIsSelfContained): a reference into a placeholder would find nothing there.
#pragma once

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <memory>

namespace llvm {
class DWARFUnit;
}

namespace bt {

struct UnitSpan {
  uint64_t offset = 0, end = 0;  // [offset, end): the unit, header included
};

// The file a section's bytes are a mapping of, opened again: the same file (device and inode)
// at `offset`.
struct MappedFile {
  int fd = -1;
  uint64_t offset = 0;
  MappedFile() = default;
  MappedFile(int fd, uint64_t offset) : fd(fd), offset(offset) {}
  MappedFile(MappedFile &&o) noexcept : fd(o.fd), offset(o.offset) { o.fd = -1; }
  MappedFile &operator=(MappedFile &&o) noexcept;
  ~MappedFile();
};
// Null when `bytes` are not all one mapping of a file that can be opened again (a section
// inflated into memory, a file deleted or replaced since).
std::unique_ptr<MappedFile> mappedFileOf(llvm::StringRef bytes);

class SparseDebugInfo {
public:
  // `units`: the section's units, sorted and not overlapping (as a context over the whole section
  // parsed them); `keep`: the offsets of the units to keep, each one of `units`. `version`: the
  // DWARF version of the placeholders' headers (2 to 4; their layout is the same). With `file`
  // (the file `info` maps), the kept units' pages are mapped from it, privately: no copy, and
  // clean pages the kernel can drop; without, they are copied.
  static llvm::Expected<std::unique_ptr<SparseDebugInfo>> build(llvm::StringRef info,
                                                                llvm::ArrayRef<UnitSpan> units,
                                                                llvm::ArrayRef<uint64_t> keep,
                                                                uint16_t version = 4,
                                                                const MappedFile *file = nullptr);
  ~SparseDebugInfo();
  SparseDebugInfo(const SparseDebugInfo &) = delete;
  SparseDebugInfo &operator=(const SparseDebugInfo &) = delete;
  llvm::StringRef bytes() const { return {static_cast<const char *>(map_) + skew_, size_}; }
  // A placeholder's header and its null unit DIE: the smallest gap it fills.
  static constexpr uint64_t kPlaceholderSize = 12;

private:
  SparseDebugInfo(void *map, size_t skew, size_t size, size_t mapped)
      : map_(map), skew_(skew), size_(size), mapped_(mapped) {}
  void *map_;
  size_t skew_, size_, mapped_;
};

// True when no DIE of `unit` can refer to a DIE outside it: its abbreviations use none of
// DW_FORM_ref_addr, DW_FORM_GNU_ref_alt and DW_FORM_indirect, nor DW_FORM_ref_sig8 when the
// section holds type units (`typeUnitsInInfo`). False when its abbreviations cannot be read.
bool unitIsSelfContained(llvm::DWARFUnit &unit, bool typeUnitsInInfo);

}  // namespace bt
