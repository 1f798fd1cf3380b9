// ElfFile: one ELF file on disk (an executable, a shared library or a separate debug file), read
// through llvm::object over an mmap. Gives the build-id, .gnu_debuglink, sections (possibly
// compressed), the program headers' link-time layout and a sorted function-symbol table from
// .symtab and .dynsym for PCs without DWARF.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bt {

struct ElfSection {
  std::string name;
  llvm::StringRef data;  // raw file contents (compressed if `compressed`)
  uint64_t address = 0;  // sh_addr
  bool compressed = false;
  bool present = false;  // false for SHT_NOBITS (stripped into a debug file)
};

struct ElfSymbol {
  uint64_t address = 0;
  uint64_t size = 0;
  llvm::StringRef name;  // raw (mangled) name, in the file's string table (lives with the ElfFile)
  bool global = false;
  // A compatibility version (hidden in .gnu.version, or "name@VER" rather than "name@@VER"):
  // not what a program linked today binds to.
  bool hiddenVersion = false;
};

class ElfFile {
public:
  static llvm::Expected<std::unique_ptr<ElfFile>> open(const std::string &path);

  const std::string &path() const { return path_; }
  const std::string &buildId() const { return buildId_; }
  const std::string &debugLink() const { return debugLink_; }
  const std::vector<ElfSection> &sections() const { return sections_; }
  const llvm::MemoryBuffer *buffer() const { return buf_.get(); }
  const ElfSection *section(llvm::StringRef name) const;
  bool hasDwarf() const;
  bool isRelocatable() const { return type_ == 1; }
  // The PT_TLS segment's memory size and alignment, if the file has thread-local storage.
  std::optional<std::pair<uint64_t, uint64_t>> tlsSegment() const;

  // Nearest function symbol containing (or, failing that, preceding) a link-time address.
  const ElfSymbol *symbolFor(uint64_t vaddr) const;
  // Address of a function symbol by exact (mangled) name, 0 if none.
  uint64_t addressOf(llvm::StringRef name) const;
  // Address of a data object (STT_OBJECT) by exact name, 0 if none.
  uint64_t objectAddress(llvm::StringRef name) const;
  // Data object (STT_OBJECT) containing a link-time address, for printing pointers like gdb.
  const ElfSymbol *objectFor(uint64_t vaddr) const;
  // Starts reading the symbol tables on a thread of its own, for a file whose symbols will be
  // looked up: the first lookup then waits for the rest of the reading, if any, not all of it.
  void prefetchSymbols() const;
  ~ElfFile();
  // What was wrong with the file and left out (a symbol table larger than the file, ...).
  const std::vector<std::string> &problems() const { return problems_; }

private:
  void loadSymbols() const;
  void ensureSymbols() const;

  std::string path_;
  std::unique_ptr<llvm::MemoryBuffer> buf_;
  std::unique_ptr<llvm::object::ELF64LEObjectFile> obj_;
  std::string buildId_, debugLink_;
  std::vector<ElfSection> sections_;
  // Loaded on first symbolFor() (or prefetchSymbols): most modules never need their symbol
  // tables.
  mutable std::once_flag symbolsOnce_;
  mutable std::thread symbolsThread_;
  bool symtabBad_ = false, dynsymBad_ = false;
  std::vector<std::string> problems_;
  mutable std::vector<ElfSymbol> symbols_;  // functions, sorted by address
  mutable std::vector<ElfSymbol> objects_;  // data objects, sorted by address
  uint16_t type_ = 0;
};

}  // namespace bt
