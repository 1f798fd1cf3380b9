// ELF notes (a core's PT_NOTE segment, an executable's build-id note) read one at a time from a
// buffer: name and descriptor in bounds, 4-byte padding applied, and a note that claims more bytes
// than the buffer has ends the walk (overran() then says so) instead of being read past its end.
#pragma once

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringRef.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace bt {

struct ElfNote {
  uint32_t type = 0;
  llvm::StringRef name;            // with its NUL when the note has one ("CORE\0")
  llvm::ArrayRef<uint8_t> desc;
  uint64_t offset = 0;             // of the note's header in the buffer
};

class ElfNoteReader {
public:
  ElfNoteReader(const uint8_t *data, size_t size) : p_(data), n_(size) {}
  // The next note; nullopt at the end, or at a note that overruns the buffer.
  std::optional<ElfNote> next();
  bool overran() const { return overran_; }
  uint64_t offset() const { return off_; }  // where the walk stopped

private:
  const uint8_t *p_;
  size_t n_;
  uint64_t off_ = 0;
  bool overran_ = false;
};

}  // namespace bt
