// CoreFile: an ELF core dump (ET_CORE). Threads and registers from NT_PRSTATUS/NT_FPREGSET, process
// facts from NT_PRPSINFO, the fault from NT_SIGINFO, auxv from NT_AUXV, file mappings from NT_FILE,
// memory from PT_LOAD segments. Pages the kernel did not dump (file-backed text) are read from the
// mapped files on disk, the way gdb does. Every offset read from the file is bounds-checked: a
// corrupt core yields an error, never a crash; a truncated one (or one whose executable is
// missing) is read as far as it goes and marked partial(), with a warning saying what is missing.
#pragma once

#include "target/target.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <map>
#include <memory>

namespace bt {

class CoreFile : public Target {
public:
  // exeOverride: path of the executable when the one recorded in the core has moved.
  static llvm::Expected<std::unique_ptr<CoreFile>> open(const std::string &path,
                                                        const std::string &exeOverride = {});
  // A core already in memory (read from the kernel's core_pattern pipe); `name` names it in
  // messages.
  static llvm::Expected<std::unique_ptr<CoreFile>>
  openBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, const std::string &name,
             const std::string &exeOverride = {});

  const char *kind() const override { return "core"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override;
  std::vector<std::pair<uint64_t, uint64_t>> heldMemory() const override;


private:
  struct Segment {
    uint64_t vaddr, memsz, offset, filesz;  // filesz: the bytes present in the file
    uint32_t flags;
    uint64_t dumped;  // the bytes the kernel stored (more than filesz in a truncated core)
  };
  struct FileMapping {
    uint64_t start, end, offset;  // offset in bytes
    std::string path;
  };

  llvm::Error parse();
  // cutShort: the core ends inside the notes (truncated), so the last one may be incomplete.
  llvm::Error parseNotes(const uint8_t *p, size_t n, bool cutShort);
  size_t readFromMappedFile(uint64_t addr, void *buf, size_t len);
  std::string hostPath(const std::string &corePath) const;

  std::string path_, exeOverride_;
  std::unique_ptr<llvm::MemoryBuffer> buf_;
  std::vector<Segment> segments_;
  std::vector<FileMapping> files_;
  std::map<std::string, std::unique_ptr<llvm::MemoryBuffer>> openFiles_;
};

}  // namespace bt
