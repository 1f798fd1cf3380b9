#include "target/elf_notes.h"

#include <cstring>

namespace bt {

std::optional<ElfNote> ElfNoteReader::next() {
  if (overran_ || off_ + 12 > n_) return std::nullopt;
  uint32_t namesz, descsz, type;
  memcpy(&namesz, p_ + off_, 4);
  memcpy(&descsz, p_ + off_ + 4, 4);
  memcpy(&type, p_ + off_ + 8, 4);
  uint64_t name = off_ + 12;
  uint64_t desc = name + ((uint64_t(namesz) + 3) & ~3ull);
  uint64_t next = desc + ((uint64_t(descsz) + 3) & ~3ull);
  if (desc > n_ || desc + descsz > n_) {
    overran_ = true;
    return std::nullopt;
  }
  ElfNote note;
  note.type = type;
  note.name = llvm::StringRef(reinterpret_cast<const char *>(p_ + name), namesz);
  note.desc = llvm::ArrayRef<uint8_t>(p_ + desc, descsz);
  note.offset = off_;
  // The padding of the last note may be missing: the walk then ends.
  off_ = next;
  return note;
}

}  // namespace bt
