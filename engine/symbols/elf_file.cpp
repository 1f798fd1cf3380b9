#include "symbols/elf_file.h"

#include "target/elf_notes.h"

#include <cstring>
#include <llvm/ADT/StringExtras.h>

#include "support/error.h"
#include "support/fault_guard.h"

#include <llvm/Object/ELF.h>

#include <algorithm>

#include <sys/stat.h>

namespace bt {

using namespace llvm;
using namespace llvm::object;

Expected<std::unique_ptr<ElfFile>> ElfFile::open(const std::string &path) {
  // Module paths come from cores, minidumps and snapshots: a FIFO or a device there must not
  // block (or be read) like a file.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return makeError(ErrorKind::BadInput, "{0}: not a regular file", path);
  auto mb = MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!mb) {
    if (mb.getError() == std::errc::no_such_file_or_directory)
      return makeError(ErrorKind::MissingFile, "{0}: no such file", path);
    return makeError(ErrorKind::BadInput, "{0}: {1}", path, mb.getError().message());
  }
  auto obj = ELF64LEObjectFile::create((*mb)->getMemBufferRef());
  if (!obj)
    return makeError(ErrorKind::BadInput, "{0}: not a 64-bit ELF file: {1}", path,
                     toString(obj.takeError()));
  std::unique_ptr<ElfFile> f(new ElfFile);
  f->path_ = path;
  f->buf_ = std::move(*mb);
  f->obj_ = std::make_unique<ELF64LEObjectFile>(std::move(*obj));
  const auto &elf = f->obj_->getELFFile();
  f->type_ = elf.getHeader().e_type;

  for (const SectionRef &sec : f->obj_->sections()) {
    ElfSection s;
    Expected<StringRef> name = sec.getName();
    if (!name) {
      consumeError(name.takeError());
      continue;
    }
    s.name = name->str();
    s.address = sec.getAddress();
    ELFSectionRef esec(sec);
    s.compressed = (esec.getFlags() & ELF::SHF_COMPRESSED) != 0;
    s.present = esec.getType() != ELF::SHT_NOBITS;
    if (esec.getType() == ELF::SHT_SYMTAB || esec.getType() == ELF::SHT_DYNSYM) {
      // A symbol table claiming more entries than the file holds would have LLVM walk (and
      // build an error for) every claimed entry: minutes on a hostile size. Checked once here.
      uint64_t off = esec.getOffset(), size = esec.getSize();
      uint64_t fileSize = f->buf_->getBufferSize();
      bool sane = off <= fileSize && size <= fileSize - off && size % sizeof(ELF::Elf64_Sym) == 0;
      if (auto hdr = elf.getSection(sec.getIndex()); hdr && *hdr)
        sane = sane && (*hdr)->sh_entsize == sizeof(ELF::Elf64_Sym);
      else if (!hdr)
        consumeError(hdr.takeError());
      if (!sane) {
        (esec.getType() == ELF::SHT_SYMTAB ? f->symtabBad_ : f->dynsymBad_) = true;
        f->problems_.push_back(path + ": " + s.name + " claims " + std::to_string(size) +
                               " bytes at offset " + std::to_string(off) + " in a file of " +
                               std::to_string(fileSize) + ": its symbols are ignored");
      }
    }
    if (s.present) {
      Expected<StringRef> data = sec.getContents();
      if (!data) {
        consumeError(data.takeError());
        s.present = false;
      } else {
        s.data = *data;
      }
    }
    if (s.name == ".gnu_debuglink" && s.present) {
      size_t n = strnlen(s.data.data(), s.data.size());
      f->debugLink_ = std::string(s.data.data(), n);
    }
    if (s.name == ".note.gnu.build-id" && s.present && s.data.size() >= 16) {
      ElfNoteReader notes(reinterpret_cast<const uint8_t *>(s.data.data()), s.data.size());
      if (std::optional<ElfNote> note = notes.next())
        f->buildId_ = llvm::toHex(note->desc, /*LowerCase=*/true);
    }
    f->sections_.push_back(std::move(s));
  }
  return std::move(f);
}

const ElfSection *ElfFile::section(StringRef name) const {
  for (auto &s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

bool ElfFile::hasDwarf() const {
  const ElfSection *s = section(".debug_info");
  return s && s->present && !s->data.empty();
}

ElfFile::~ElfFile() {
  if (symbolsThread_.joinable()) symbolsThread_.join();
}

void ElfFile::ensureSymbols() const {
  std::call_once(symbolsOnce_, [this] {
    // Guarded like any parse of a file that may change under its mapping (SIGBUS): a table
    // read halfway is no table.
    if (!runGuarded([this] { loadSymbols(); })) {
      symbols_.clear();
      objects_.clear();
    }
  });
}

void ElfFile::prefetchSymbols() const {
  if (!symbolsThread_.joinable()) symbolsThread_ = std::thread([this] { ensureSymbols(); });
}

void ElfFile::loadSymbols() const {
  const ElfSection *versym = section(".gnu.version");
  auto add = [&](const ELFSymbolRef &sym, bool dynamic) {
    Expected<SymbolRef::Type> type = sym.getType();
    if (!type || (*type != SymbolRef::ST_Function && *type != SymbolRef::ST_Data)) {
      if (!type) consumeError(type.takeError());
      return;
    }
    bool isFunction = *type == SymbolRef::ST_Function;
    Expected<uint64_t> addr = sym.getAddress();
    Expected<StringRef> name = sym.getName();
    if (!addr || !name || *addr == 0 || name->empty()) {
      if (!addr) consumeError(addr.takeError());
      if (!name) consumeError(name.takeError());
      return;
    }
    bool hidden = false;
    if (size_t at = name->find('@'); at != StringRef::npos) {
      hidden = name->substr(at, 2) != "@@";  // .symtab spells versions into the name
    } else if (dynamic && versym && versym->present) {
      uint64_t index = sym.getRawDataRefImpl().d.b;  // the symbol's index in .dynsym
      if ((index + 1) * 2 <= versym->data.size()) {
        uint16_t v;
        memcpy(&v, versym->data.data() + index * 2, 2);
        hidden = v & 0x8000;  // VERSYM_HIDDEN
      }
    }
    ElfSymbol s{*addr, sym.getSize(), *name, sym.getBinding() != ELF::STB_LOCAL};
    s.hiddenVersion = hidden;
    (isFunction ? symbols_ : objects_).push_back(std::move(s));
  };
  if (!symtabBad_)
    for (const ELFSymbolRef &sym : obj_->symbols()) add(sym, false);
  if (!dynsymBad_)
    for (const ELFSymbolRef &sym : obj_->getDynamicSymbolIterators()) add(sym, true);
  // Aliases share an address; all are kept (addressOf needs them) and the preferred one (sized,
  // global) sorts first among them, which is the one symbolFor reports.
  auto order = [](const ElfSymbol &a, const ElfSymbol &b) {
    if (a.address != b.address) return a.address < b.address;
    if ((a.size != 0) != (b.size != 0)) return a.size != 0;
    return a.global && !b.global;
  };
  std::stable_sort(symbols_.begin(), symbols_.end(), order);
  std::stable_sort(objects_.begin(), objects_.end(), order);
}

// The preferred symbol (sorted first among aliases) at the greatest address <= vaddr.
static const ElfSymbol *atOrBefore(const std::vector<ElfSymbol> &v, uint64_t vaddr) {
  auto it = std::upper_bound(v.begin(), v.end(), vaddr,
                             [](uint64_t a, const ElfSymbol &s) { return a < s.address; });
  if (it == v.begin()) return nullptr;
  --it;
  while (it != v.begin() && std::prev(it)->address == it->address) --it;
  return &*it;
}

const ElfSymbol *ElfFile::symbolFor(uint64_t vaddr) const {
  ensureSymbols();
  const ElfSymbol *s = atOrBefore(symbols_, vaddr);
  // A sized symbol ends; an unsized one extends to the next (as gdb's minimal symbols do).
  if (s && s->size != 0 && vaddr >= s->address + s->size) return nullptr;
  return s;
}

const ElfSymbol *ElfFile::objectFor(uint64_t vaddr) const {
  ensureSymbols();
  const ElfSymbol *s = atOrBefore(objects_, vaddr);
  // Objects have sizes; one past the end belongs to no object.
  if (s && vaddr >= s->address + std::max<uint64_t>(s->size, 1)) return nullptr;
  return s;
}

uint64_t ElfFile::addressOf(llvm::StringRef name) const {
  ensureSymbols();
  // Rare (tail-call reconstruction only): a linear scan keeps memory flat. The default version
  // of a versioned name ("name@@VER", or unhidden in .dynsym) is what a program binds to, e.g.
  // pthread_cond_timedwait@@GLIBC_2.3.2, not the GLIBC_2.2.5 compatibility function.
  uint64_t compat = 0;
  for (const ElfSymbol &s : symbols_) {
    llvm::StringRef n = s.name;
    if (!n.starts_with(name) || (n.size() > name.size() && n[name.size()] != '@')) continue;
    if (!s.hiddenVersion) return s.address;
    if (!compat) compat = s.address;
  }
  return compat;
}

uint64_t ElfFile::objectAddress(llvm::StringRef name) const {
  ensureSymbols();
  // Rare (the analysis asks for one or two globals of the C library): a linear scan.
  for (const ElfSymbol &s : objects_)
    if (s.name == name) return s.address;
  return 0;
}

std::optional<std::pair<uint64_t, uint64_t>> ElfFile::tlsSegment() const {
  auto phdrs = obj_->getELFFile().program_headers();
  if (!phdrs) {
    llvm::consumeError(phdrs.takeError());
    return std::nullopt;
  }
  for (const auto &ph : *phdrs)
    if (ph.p_type == llvm::ELF::PT_TLS) return std::make_pair(uint64_t(ph.p_memsz), uint64_t(ph.p_align));
  return std::nullopt;
}

}  // namespace bt
