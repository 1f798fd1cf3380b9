#include "symbols/breakpad_writer.h"

#include "support/error.h"
#include "support/fault_guard.h"
#include "support/temp_file.h"
#include "symbols/debug_file_locator.h"
#include "symbols/dwarf_sections.h"
#include "symbols/dwarf_unit_check.h"
#include "symbols/elf_file.h"
#include "symbols/gdb_names.h"
#include "target/breakpad_ids.h"

#include <llvm/DebugInfo/DWARF/DWARFCompileUnit.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFDataExtractor.h>
#include <llvm/DebugInfo/DWARF/DWARFDebugFrame.h>
#include <llvm/DebugInfo/DWARF/DWARFDebugLine.h>
#include <llvm/Demangle/Demangle.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/Path.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

namespace bt {

using namespace llvm;

namespace {

constexpr uint64_t kPageMask = ~uint64_t(0xfff);
constexpr uint32_t kNoFile = UINT32_MAX - 1;  // a FILE id never defined: the reader says ""
constexpr unsigned kMaxDieDepth = 256;
constexpr size_t kUnitsPerBatch = 32;
constexpr size_t kMaxWarnings = 20;

const char *const kRegNames[17] = {"$rax", "$rdx", "$rcx", "$rbx", "$rsi", "$rdi", "$rbp", "$rsp", "$r8",
                                   "$r9",  "$r10", "$r11", "$r12", "$r13", "$r14", "$r15", "$rip"};
constexpr uint32_t kRaColumn = 16;

struct Range {
  uint64_t lo, hi;  // [lo, hi), link-time
};

struct Segment {
  uint64_t vaddr, memsz;
  bool exec;
};

struct LineRec {
  uint64_t addr, size;
  uint32_t line, file;
};

struct InlineRec {
  uint32_t depth, callLine, callFile, origin;
  std::vector<Range> ranges;
};

struct FuncRec {
  uint64_t addr, size;  // link-time
  std::string name;
  bool multiple = false;
  uint64_t unit = 0;  // offset of its compile unit
  std::vector<LineRec> lines;
  std::vector<InlineRec> inlines;
};

struct PublicRec {
  uint64_t addr;
  std::string name;
  bool multiple = false;
};

void appendHex(std::string &out, uint64_t v) {
  char buf[17];
  int n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) out += buf[--n];
}

// One line of text per record: a name must not hold a line break (nor, from damaged strings,
// other control characters). Other bytes are kept: the format has no encoding.
std::string oneLine(std::string s) {
  for (char &c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    else if ((unsigned char)c < 0x20 || c == 0x7f) c = '?';
  s = StringRef(s).trim().str();
  return s.empty() ? "<name omitted>" : s;
}

// LLVM writes a clone's suffix as one group, "f(int) (.isra.0.part.1)"; the GNU demangler (and
// so dump_syms) one bracket per clone, "f(int) [clone .isra.0] [clone .part.1]".
std::string gnuCloneSuffixes(std::string s) {
  if (s.size() < 5 || s.back() != ')') return s;
  size_t open = s.rfind(" (.");
  if (open == std::string::npos || s.find(')', open) != s.size() - 1) return s;
  StringRef suffix = StringRef(s).slice(open + 2, s.size() - 1);  // ".isra.0.part.1"
  std::string out = s.substr(0, open);
  SmallVector<StringRef, 8> parts;
  suffix.drop_front().split(parts, '.');
  std::string group;
  for (StringRef p : parts) {
    bool number = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return isdigit((unsigned char)c); });
    if (!number && !group.empty()) {
      out += " [clone " + group + "]";
      group.clear();
    }
    group += "." + p.str();
  }
  if (!group.empty()) out += " [clone " + group + "]";
  return out;
}

// dump_syms's spelling of a function: the whole demangled name with its parameter list.
std::string fullDemangle(StringRef name) {
  if (size_t at = name.find('@'); at != StringRef::npos && at > 0) name = name.take_front(at);  // name@VER
  if (!name.starts_with("_Z")) return name.str();
  char *d = itaniumDemangle(std::string_view(name.data(), name.size()));
  if (!d) return name.str();
  std::string out(d);
  free(d);
  return gnuClosureNames(gnuCloneSuffixes(std::move(out)));
}

std::string dieName(DWARFDie die) {
  if (const char *ln = die.getLinkageName(); ln && *ln) return oneLine(fullDemangle(ln));
  return oneLine(functionNameForDie(die));
}

// Sorted, merged.
void normalize(std::vector<Range> &rs) {
  std::sort(rs.begin(), rs.end(), [](const Range &a, const Range &b) { return a.lo < b.lo; });
  std::vector<Range> out;
  for (const Range &r : rs) {
    if (r.lo >= r.hi) continue;
    if (!out.empty() && r.lo <= out.back().hi) out.back().hi = std::max(out.back().hi, r.hi);
    else out.push_back(r);
  }
  rs = std::move(out);
}

class SymWriter {
public:
  SymWriter(const BreakpadWriteOptions &opts, std::vector<std::string> &warnings)
      : opts_(opts), warnings_(warnings) {}

  Error open(const std::string &path);
  const BreakpadModuleIdentity &identity() const { return id_; }
  void readDwarf();
  void readUnits(const ElfFile *f, const std::vector<uint64_t> &units,
                 const std::function<std::unique_ptr<DWARFContext>()> &makeContext);
  void readPublics();
  void readCfi();
  BreakpadWriteStats write(raw_ostream &os);

private:
  void warn(std::string w) {
    if (warnings_.size() < kMaxWarnings) warnings_.push_back(std::move(w));
    else if (warnings_.size() == kMaxWarnings) warnings_.push_back("(more warnings left out)");
  }
  bool inExec(uint64_t a) const {
    for (const Segment &s : segments_)
      if (s.exec && a >= s.vaddr && a - s.vaddr < s.memsz) return true;
    return false;
  }
  void findDebugFile();
  bool unitSane(DWARFCompileUnit &cu, uint64_t off);
  void readUnit(DWARFContext &ctx, DWARFCompileUnit &cu);
  void readSubprogram(DWARFDie die, DWARFCompileUnit &cu, const std::vector<LineRec> &unitLines,
                      const std::function<uint32_t(uint64_t)> &fileId,
                      const std::unordered_map<uint32_t, std::vector<Range>> &inlineRanges);
  uint32_t fileId(const std::string &path);
  uint32_t originId(const std::string &name);
  void collectSymbols(const ElfFile &f, std::map<uint64_t, std::vector<std::pair<std::string, bool>>> &out);
  void readFrames(StringRef data, uint64_t sectionAddr, bool isEH, const std::string &what,
                  std::vector<Range> &covered, bool skipCovered);
  void translateFde(const dwarf::FDE &fde, bool skipCovered, std::vector<Range> &covered,
                    std::vector<Range> &mine);

  const BreakpadWriteOptions &opts_;
  std::vector<std::string> &warnings_;
  BreakpadModuleIdentity id_;
  std::unique_ptr<ElfFile> binary_, debug_;
  std::vector<Segment> segments_;
  uint64_t base_ = 0;
  bool dwarfBroken_ = false;
  llvm::StringMap<std::unique_ptr<MemoryBuffer>> sections_;

  std::vector<std::string> files_;
  std::unordered_map<std::string, uint32_t> fileIds_;
  std::vector<std::string> origins_;
  std::unordered_map<std::string, uint32_t> originIds_;
  std::vector<FuncRec> funcs_;
  std::vector<PublicRec> publics_;
  std::string cfiText_;
  size_t cfiInits_ = 0, cfiRecords_ = 0;
};

Error SymWriter::open(const std::string &path) {
  // Plain words for the commonest mistake (LLVM's are about object file formats).
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    char magic[4] = {};
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? ::read(fd, magic, 4) : -1;
    if (fd >= 0) ::close(fd);
    if (n >= 0 && (n < 4 || memcmp(magic, "\x7f" "ELF", 4) != 0))
      return makeError(ErrorKind::BadInput, "{0}: not an ELF file", path);
  }
  auto bin = ElfFile::open(path);
  if (!bin) return bin.takeError();
  binary_ = std::move(*bin);
  auto obj = object::ELF64LEObjectFile::create(binary_->buffer()->getMemBufferRef());
  if (!obj) return makeError(ErrorKind::BadInput, "{0}: not a 64-bit ELF file: {1}", path, toString(obj.takeError()));
  const auto &elf = obj->getELFFile();
  const auto &hdr = elf.getHeader();
  if (hdr.e_machine != ELF::EM_X86_64)
    return makeError(ErrorKind::BadInput, "{0}: not an x86-64 ELF file (e_machine {1})", path, hdr.e_machine);
  if (hdr.e_type == ELF::ET_CORE)
    return makeError(ErrorKind::BadInput, "{0}: a core file, not an executable or shared library", path);
  if (hdr.e_type != ELF::ET_EXEC && hdr.e_type != ELF::ET_DYN)
    return makeError(ErrorKind::BadInput,
                     "{0}: not an executable or shared library (ELF type {1}): symbols are written for "
                     "linked files only",
                     path, hdr.e_type);
  auto phdrs = elf.program_headers();
  if (!phdrs) return makeError(ErrorKind::BadInput, "{0}: bad program headers: {1}", path, toString(phdrs.takeError()));
  bool any = false;
  uint64_t lowest = UINT64_MAX;
  for (const auto &ph : *phdrs) {
    if (ph.p_type != ELF::PT_LOAD) continue;
    any = true;
    lowest = std::min<uint64_t>(lowest, ph.p_vaddr);
    segments_.push_back(Segment{ph.p_vaddr, ph.p_memsz, (ph.p_flags & ELF::PF_X) != 0});
  }
  if (!any) return makeError(ErrorKind::BadInput, "{0}: no loadable segment (PT_LOAD)", path);
  base_ = lowest & kPageMask;
  if (binary_->buildId().empty())
    return makeError(ErrorKind::BadInput,
                     "{0}: no GNU build-id, so no Breakpad debug id can be made for it (link with "
                     "-Wl,--build-id)",
                     path);
  id_.name = sys::path::filename(path).str();
  id_.debugId = breakpadDebugId(binary_->buildId());
  id_.codeId = breakpadCodeId(binary_->buildId());
  if (id_.debugId.empty())
    return makeError(ErrorKind::BadInput, "{0}: its build-id cannot be read as a Breakpad id", path);
  for (const std::string &p : binary_->problems()) warn(p);
  return Error::success();
}

// The same search as the symbolizer's: the binary's own DWARF, else a build-id file or the
// .gnu_debuglink name, with the same build-id.
void SymWriter::findDebugFile() {
  if (binary_->hasDwarf()) return;
  DebugFileQuery q{binary_->path(), binary_->buildId(), binary_->debugLink()};
  for (const std::string &cand : debugFileCandidates(q, opts_.debugDirs)) {
    struct stat st;
    if (stat(cand.c_str(), &st) != 0 || cand == binary_->path()) continue;
    auto dbg = ElfFile::open(cand);
    if (!dbg) {
      warn(toString(dbg.takeError()));
      continue;
    }
    if (!(*dbg)->buildId().empty() && (*dbg)->buildId() != q.buildId) continue;
    if (!(*dbg)->hasDwarf()) continue;
    debug_ = std::move(*dbg);
    return;
  }
}

uint32_t SymWriter::fileId(const std::string &path) {
  auto [it, added] = fileIds_.emplace(path, uint32_t(files_.size()));
  if (added) files_.push_back(path);
  return it->second;
}

uint32_t SymWriter::originId(const std::string &name) {
  auto [it, added] = originIds_.emplace(name, uint32_t(origins_.size()));
  if (added) origins_.push_back(name);
  return it->second;
}

// The checks the symbolizer makes before LLVM walks a unit's DIE tree recursively: its DIEs
// can be read and nest at most 256 deep.
bool SymWriter::unitSane(DWARFCompileUnit &cu, uint64_t off) {
  unsigned n = cu.getNumDIEs();
  auto bad = [&](const char *why) {
    warn(formatv("{0}: corrupt DWARF in the unit at {1:x} ({2}): its functions are left out",
                 (debug_ ? debug_ : binary_)->path(), off, why)
             .str());
    return false;
  };
  if (n == 0 || !cu.getUnitDIE(false).isValid()) return bad("its DIEs cannot be read");
  std::vector<uint16_t> depth(n, 0);
  for (unsigned i = 0; i < n; ++i) {
    DWARFDie parent = cu.getDIEAtIndex(i).getParent();
    if (!parent) continue;
    uint32_t p = cu.getDIEIndex(parent);
    if (p >= i) return bad("a DIE's parent follows it");
    depth[i] = depth[p] + 1;
    if (depth[i] > kMaxDieDepth) return bad("DIEs nested more than 256 deep");
  }
  return true;
}

void SymWriter::readDwarf() {
  findDebugFile();
  const ElfFile *f = debug_ ? debug_.get() : binary_.get();
  if (!f->hasDwarf()) {
    warn(binary_->path() + ": no DWARF (not in the file, no separate debug file found" +
         (opts_.debugDirs.empty() ? std::string(": --debug-dir?") : std::string()) +
         "): public symbols and CFI only");
    return;
  }
  static const std::vector<std::string> kSections = {
      "debug_info", "debug_abbrev", "debug_line", "debug_line_str", "debug_str", "debug_str_offsets",
      "debug_addr", "debug_ranges", "debug_rnglists", "debug_aranges"};
  auto secs = loadDwarfSections(*f, kSections, opts_.cacheDir);
  if (!secs) {
    warn(f->path() + ": " + toString(secs.takeError()));
    return;
  }
  sections_ = std::move(*secs);
  auto info = sections_.find("debug_info"), abbrev = sections_.find("debug_abbrev");
  if (info == sections_.end() || abbrev == sections_.end()) return;
  auto onError = [this, f](Error e) { warn(f->path() + ": " + toString(std::move(e))); };
  std::function<std::unique_ptr<DWARFContext>()> makeContext = [&] {
    return DWARFContext::create(sections_, /*AddrSize=*/8, /*isLittleEndian=*/true, onError, onError);
  };
  // The compile units' offsets (headers only).
  std::vector<uint64_t> units;
  {
    std::unique_ptr<DWARFContext> ctx = makeContext();
    std::string fault;
    if (!runGuarded(
            [&] {
              for (const auto &u : ctx->compile_units()) units.push_back(u->getOffset());
            },
            &fault)) {
      (void)ctx.release();  // its state is unknown: abandoned, not destroyed
      warn(f->path() + ": corrupt DWARF (reading its unit headers raised " + fault + "): no functions");
      return;
    }
  }
  readUnits(f, units, makeContext);
  if (dwarfBroken_ || funcs_.empty()) return;
  // One address, two units: the linker points a discarded copy's DWARF (a COMDAT function
  // emitted by several units) at the kept copy, whose code it may not describe. The unit LLVM
  // finds for the address (DWARFContext::getCompileUnitForCodeAddress, as the symbolizer does)
  // keeps its FUNC there, so that the .sym names what the DWARF reading names.
  std::unique_ptr<DWARFContext> index = makeContext();
  std::vector<bool> drop(funcs_.size(), false);
  std::string fault;
  if (!runGuarded(
          [&] {
            for (size_t i = 0; i < funcs_.size(); ++i)
              if (DWARFCompileUnit *cu = index->getCompileUnitForCodeAddress(funcs_[i].addr))
                drop[i] = cu->getOffset() != funcs_[i].unit;
          },
          &fault)) {
    (void)index.release();
    warn(f->path() + ": corrupt DWARF (looking its units' ranges up raised " + fault +
         "): functions described by two units are kept as read");
    return;
  }
  size_t kept = 0;
  for (size_t i = 0; i < funcs_.size(); ++i) {
    if (drop[i]) continue;
    if (kept != i) funcs_[kept] = std::move(funcs_[i]);
    ++kept;
  }
  funcs_.resize(kept);
}

void SymWriter::readUnits(const ElfFile *f, const std::vector<uint64_t> &units,
                          const std::function<std::unique_ptr<DWARFContext>()> &makeContext) {
  auto info = sections_.find("debug_info"), abbrev = sections_.find("debug_abbrev");
  StringRef infoData = info->second->getBuffer(), abbrevData = abbrev->second->getBuffer();
  for (size_t b = 0; b < units.size() && !dwarfBroken_; b += kUnitsPerBatch) {
    // A context per batch: its parsed DIEs and line tables are freed before the next.
    std::unique_ptr<DWARFContext> ctx = makeContext();
    for (size_t k = b; k < std::min(units.size(), b + kUnitsPerBatch); ++k) {
      uint64_t off = units[k];
      if (std::optional<std::string> why = checkUnitShape(infoData, abbrevData, off)) {
        warn(formatv("{0}: corrupt DWARF in the unit at {1:x} ({2}): its functions are left out", f->path(),
                     off, *why)
                 .str());
        continue;
      }
      std::string fault;
      bool ok = runGuarded(
          [&] {
            DWARFCompileUnit *cu = ctx->getCompileUnitForOffset(off);
            if (cu && unitSane(*cu, off)) readUnit(*ctx, *cu);
          },
          &fault);
      if (!ok) {
        (void)ctx.release();
        dwarfBroken_ = true;
        warn(formatv("{0}: corrupt DWARF (reading the unit at {1:x} raised {2}): the units after it are left out",
                     f->path(), off, fault)
                 .str());
        break;
      }
    }
  }
}

void SymWriter::readUnit(DWARFContext &ctx, DWARFCompileUnit &cu) {
  const DWARFDebugLine::LineTable *lt = ctx.getLineTableForUnit(&cu);
  std::string compDir = cu.getCompilationDir() ? cu.getCompilationDir() : "";
  std::unordered_map<uint64_t, uint32_t> ids;  // the unit's file index -> FILE id
  std::function<uint32_t(uint64_t)> unitFile = [&](uint64_t index) -> uint32_t {
    auto it = ids.find(index);
    if (it != ids.end()) return it->second;
    std::string name;
    uint32_t id = kNoFile;
    if (lt && lt->getFileNameByIndex(index, compDir, DILineInfoSpecifier::FileLineInfoKind::AbsoluteFilePath, name))
      id = fileId(oneLine(name));
    ids.emplace(index, id);
    return id;
  };
  // The unit's line records: per address, the row LLVM finds there (the last one at that
  // address), moved back to the last statement row at that address as gdb and the symbolizer do
  // (symbolizer.cpp, applyGdbLineRule), so both readings name the same line.
  std::vector<LineRec> lines;
  if (lt) {
    const auto &rows = lt->Rows;
    for (const auto &seq : lt->Sequences) {
      if (!seq.isValid() || seq.LastRowIndex > rows.size() || !inExec(seq.LowPC)) continue;
      unsigned end = seq.LastRowIndex - 1;  // the end_sequence row
      for (unsigned i = seq.FirstRowIndex; i < end;) {
        unsigned j = i;
        while (j + 1 < end && rows[j + 1].Address.Address == rows[i].Address.Address) ++j;
        uint64_t addr = rows[i].Address.Address, next = rows[j + 1].Address.Address;
        if (next > addr) {
          uint32_t best = j;
          if (!rows[best].IsStmt) {
            uint32_t t = best;
            while (t > 0 && rows[t - 1].Address.Address == rows[t].Address.Address && rows[t - 1].Line != 0 &&
                   !rows[t].IsStmt)
              --t;
            if (rows[t].IsStmt) best = t;
          }
          lines.push_back(LineRec{addr, next - addr, rows[best].Line, unitFile(rows[best].File)});
        }
        i = j + 1;
      }
    }
    std::stable_sort(lines.begin(), lines.end(), [](const LineRec &a, const LineRec &b) { return a.addr < b.addr; });
  }
  // Where each inlined call is in force: LLVM's inline chain for an address
  // (DWARFUnit::getInlinedChainForAddress, which the symbolizer uses) is the subroutine DIE its
  // address map gives there and that DIE's inlined parents. The map is built in DIE order, each
  // subroutine's ranges over those before it (DWARFUnit::updateAddressDieMap); it is rebuilt
  // here the same way, so that the .sym's INLINE ranges give the same chains, also where the
  // DWARF's ranges overlap or a call's ranges leave its parent's.
  std::map<uint64_t, std::pair<uint64_t, uint32_t>> dieMap;  // low -> (high, DIE index)
  unsigned n = cu.getNumDIEs();
  for (unsigned i = 0; i < n; ++i) {
    DWARFDie die = cu.getDIEAtIndex(i);
    if (die.getTag() != dwarf::DW_TAG_subprogram && die.getTag() != dwarf::DW_TAG_inlined_subroutine) continue;
    auto ranges = die.getAddressRanges();
    if (!ranges) {
      consumeError(ranges.takeError());
      continue;
    }
    for (const auto &r : *ranges) {
      if (r.LowPC == r.HighPC) continue;
      auto b = dieMap.upper_bound(r.LowPC);
      if (b != dieMap.begin() && r.LowPC < (--b)->second.first) {
        if (r.HighPC < b->second.first) dieMap[r.HighPC] = b->second;
        if (r.LowPC > b->first) dieMap[b->first].first = r.LowPC;
      }
      dieMap[r.LowPC] = std::make_pair(r.HighPC, i);
    }
  }
  std::unordered_map<uint32_t, std::vector<Range>> inlineRanges;  // inlined call's DIE index -> ranges
  for (auto it = dieMap.begin(); it != dieMap.end(); ++it) {
    uint64_t lo = it->first, hi = it->second.first;
    if (auto next = std::next(it); next != dieMap.end()) hi = std::min(hi, next->first);
    if (lo >= hi) continue;
    for (DWARFDie d = cu.getDIEAtIndex(it->second.second); d && d.getTag() != dwarf::DW_TAG_subprogram;
         d = d.getParent())
      if (d.getTag() == dwarf::DW_TAG_inlined_subroutine) inlineRanges[cu.getDIEIndex(d)].push_back(Range{lo, hi});
  }
  for (unsigned i = 0; i < n; ++i) {
    DWARFDie die = cu.getDIEAtIndex(i);
    if (die.getTag() == dwarf::DW_TAG_subprogram) readSubprogram(die, cu, lines, unitFile, inlineRanges);
  }
}

void SymWriter::readSubprogram(DWARFDie die, DWARFCompileUnit &cu, const std::vector<LineRec> &unitLines,
                               const std::function<uint32_t(uint64_t)> &unitFile,
                               const std::unordered_map<uint32_t, std::vector<Range>> &inlineRanges) {
  auto ranges = die.getAddressRanges();
  if (!ranges) {
    consumeError(ranges.takeError());
    return;
  }
  std::vector<Range> pieces;
  for (const auto &r : *ranges)
    if (r.LowPC != 0 && r.LowPC < r.HighPC && inExec(r.LowPC)) pieces.push_back(Range{r.LowPC, r.HighPC});
  normalize(pieces);
  if (pieces.empty()) return;
  std::string name = dieName(die);

  // The inlined calls, outermost first (a parent before its children); lexical blocks are
  // transparent, nested functions are functions of their own.
  struct Node {
    int parent;
    uint32_t depth, callLine, callFile, origin;
    std::vector<Range> ranges;
  };
  std::vector<Node> nodes;
  std::vector<std::pair<DWARFDie, int>> stack;  // (DIE whose children to visit, inline node or -1)
  stack.emplace_back(die, -1);
  while (!stack.empty()) {
    auto [d, parent] = stack.back();
    stack.pop_back();
    // Children pushed in reverse so that they are visited in order.
    std::vector<DWARFDie> kids;
    for (DWARFDie c : d.children()) kids.push_back(c);
    for (size_t k = kids.size(); k-- > 0;) {
      DWARFDie c = kids[k];
      dwarf::Tag tag = c.getTag();
      if (tag == dwarf::DW_TAG_subprogram) continue;
      if (tag != dwarf::DW_TAG_inlined_subroutine) {
        if (c.hasChildren()) stack.emplace_back(c, parent);
        continue;
      }
      Node node{parent, parent < 0 ? 0u : nodes[parent].depth + 1, 0, 0, 0, {}};
      if (auto r = inlineRanges.find(cu.getDIEIndex(c)); r != inlineRanges.end()) node.ranges = r->second;
      normalize(node.ranges);
      node.callLine = uint32_t(dwarf::toUnsigned(c.find(dwarf::DW_AT_call_line), 0));
      node.callFile = unitFile(dwarf::toUnsigned(c.find(dwarf::DW_AT_call_file), 0));
      node.origin = originId(dieName(c));
      nodes.push_back(std::move(node));
      if (c.hasChildren()) stack.emplace_back(c, int(nodes.size() - 1));
    }
  }
  // One FUNC per contiguous range, with its lines and the inlined calls inside it.
  for (const Range &piece : pieces) {
    FuncRec f;
    f.unit = cu.getOffset();
    f.addr = piece.lo;
    f.size = piece.hi - piece.lo;
    f.name = name;
    auto it = std::upper_bound(unitLines.begin(), unitLines.end(), piece.lo,
                               [](uint64_t a, const LineRec &l) { return a < l.addr; });
    if (it != unitLines.begin() && std::prev(it)->addr + std::prev(it)->size > piece.lo) --it;
    for (; it != unitLines.end() && it->addr < piece.hi; ++it) {
      uint64_t lo = std::max(it->addr, piece.lo), hi = std::min(it->addr + it->size, piece.hi);
      if (lo >= hi) continue;
      // Adjacent records of one line merged (the rows of a line's statements, views).
      if (!f.lines.empty() && f.lines.back().addr + f.lines.back().size == lo && f.lines.back().line == it->line &&
          f.lines.back().file == it->file)
        f.lines.back().size += hi - lo;
      else
        f.lines.push_back(LineRec{lo, hi - lo, it->line, it->file});
    }
    for (const Node &n : nodes) {
      InlineRec in{n.depth, n.callLine, n.callFile, n.origin, {}};
      for (const Range &r : n.ranges) {
        uint64_t lo = std::max(r.lo, piece.lo), hi = std::min(r.hi, piece.hi);
        if (lo < hi) in.ranges.push_back(Range{lo, hi});
      }
      if (!in.ranges.empty()) f.inlines.push_back(std::move(in));
    }
    funcs_.push_back(std::move(f));
  }
}

// Function symbols of .symtab and .dynsym by address: (raw name, global).
void SymWriter::collectSymbols(const ElfFile &f,
                               std::map<uint64_t, std::vector<std::pair<std::string, bool>>> &out) {
  auto obj = object::ELF64LEObjectFile::create(f.buffer()->getMemBufferRef());
  if (!obj) {
    consumeError(obj.takeError());
    return;
  }
  const auto &elf = obj->getELFFile();
  uint64_t fileSize = f.buffer()->getBufferSize();
  // A symbol table larger than the file would be walked entry by entry (ElfFile refuses it too).
  bool symtabOk = true, dynsymOk = true;
  if (auto shdrs = elf.sections()) {
    for (const auto &sh : *shdrs) {
      if (sh.sh_type != ELF::SHT_SYMTAB && sh.sh_type != ELF::SHT_DYNSYM) continue;
      bool sane = sh.sh_offset <= fileSize && sh.sh_size <= fileSize - sh.sh_offset &&
                  sh.sh_size % sizeof(ELF::Elf64_Sym) == 0 && sh.sh_entsize == sizeof(ELF::Elf64_Sym);
      (sh.sh_type == ELF::SHT_SYMTAB ? symtabOk : dynsymOk) &= sane;
    }
  } else {
    consumeError(shdrs.takeError());
    return;
  }
  auto add = [&](const object::ELFSymbolRef &sym) {
    Expected<object::SymbolRef::Type> type = sym.getType();
    if (!type || *type != object::SymbolRef::ST_Function) {
      if (!type) consumeError(type.takeError());
      return;
    }
    Expected<uint64_t> addr = sym.getAddress();
    Expected<StringRef> name = sym.getName();
    if (!addr || !name || *addr == 0 || name->empty() || !inExec(*addr)) {
      if (!addr) consumeError(addr.takeError());
      if (!name) consumeError(name.takeError());
      return;
    }
    auto &v = out[*addr];
    std::pair<std::string, bool> e{name->str(), sym.getBinding() != ELF::STB_LOCAL};
    if (std::find(v.begin(), v.end(), e) == v.end()) v.push_back(std::move(e));
  };
  if (symtabOk)
    for (const object::ELFSymbolRef &sym : obj->symbols()) add(sym);
  if (dynsymOk)
    for (const object::ELFSymbolRef &sym : obj->getDynamicSymbolIterators()) add(sym);
}

void SymWriter::readPublics() {
  std::map<uint64_t, std::vector<std::pair<std::string, bool>>> syms;
  collectSymbols(*binary_, syms);
  if (debug_) collectSymbols(*debug_, syms);
  std::vector<Range> covered;
  for (const FuncRec &f : funcs_) covered.push_back(Range{f.addr, f.addr + f.size});
  normalize(covered);
  for (auto &[addr, names] : syms) {
    auto it = std::upper_bound(covered.begin(), covered.end(), addr,
                               [](uint64_t a, const Range &r) { return a < r.lo; });
    if (it != covered.begin() && addr < std::prev(it)->hi) continue;
    // The global name first, as the symbol tables' readers prefer it.
    std::stable_sort(names.begin(), names.end(), [](const auto &a, const auto &b) { return a.second && !b.second; });
    std::set<std::string> distinct;
    for (const auto &n : names) distinct.insert(StringRef(n.first).split('@').first.str());
    publics_.push_back(PublicRec{addr, oneLine(fullDemangle(names.front().first)), distinct.size() > 1});
  }
}

// --------------------------------------------------------------------------------------------
// CFI

// One row's rules as Breakpad postfix text, or nullopt when Breakpad cannot express it.
// `undefinedRegs` gets the registers the row leaves undefined (not expressible either, but
// harmless unless an earlier row of the same record had a rule for them).
std::optional<std::map<std::string, std::string>> translateRow(const dwarf::UnwindRow &row,
                                                               std::set<std::string> &undefinedRegs) {
  using dwarf::UnwindLocation;
  std::map<std::string, std::string> out;
  const UnwindLocation &cfa = row.getCFAValue();
  if (cfa.getLocation() != UnwindLocation::RegPlusOffset || cfa.getRegister() >= 17 ||
      !(cfa == UnwindLocation::createIsRegisterPlusOffset(cfa.getRegister(), cfa.getOffset())))
    return std::nullopt;
  out[".cfa"] = std::string(kRegNames[cfa.getRegister()]) + " " + std::to_string(cfa.getOffset()) + " +";
  for (uint32_t r = 0; r < 17; ++r) {
    std::optional<UnwindLocation> loc = row.getRegisterLocations().getRegisterLocation(r);
    if (!loc) continue;
    std::string name = r == kRaColumn ? ".ra" : kRegNames[r];
    std::string off = std::to_string(loc->getOffset());
    switch (loc->getLocation()) {
      case UnwindLocation::Unspecified:
        break;
      case UnwindLocation::Undefined:
        // The return address undefined: the outermost frame (_start, clone's child).
        if (r == kRaColumn) out[name] = "0";
        else undefinedRegs.insert(name);
        break;
      case UnwindLocation::Same:
        out[name] = kRegNames[r];
        break;
      case UnwindLocation::CFAPlusOffset:
        if (*loc == UnwindLocation::createAtCFAPlusOffset(loc->getOffset())) out[name] = ".cfa " + off + " + ^";
        else if (*loc == UnwindLocation::createIsCFAPlusOffset(loc->getOffset())) out[name] = ".cfa " + off + " +";
        else return std::nullopt;
        break;
      case UnwindLocation::RegPlusOffset: {
        uint32_t b = loc->getRegister();
        if (b >= 17) return std::nullopt;
        if (*loc == UnwindLocation::createAtRegisterPlusOffset(b, loc->getOffset()))
          out[name] = std::string(kRegNames[b]) + " " + off + " + ^";
        else if (*loc == UnwindLocation::createIsRegisterPlusOffset(b, loc->getOffset()))
          out[name] = loc->getOffset() == 0 ? std::string(kRegNames[b]) : std::string(kRegNames[b]) + " " + off + " +";
        else
          return std::nullopt;
        break;
      }
      case UnwindLocation::Constant:
        out[name] = std::to_string(loc->getConstant());
        break;
      case UnwindLocation::DWARFExpr:
      default:
        return std::nullopt;
    }
  }
  if (!out.count(".ra")) return std::nullopt;  // Breakpad needs a .ra rule
  return out;
}

void appendRules(std::string &out, const std::map<std::string, std::string> &rules, bool all,
                 const std::map<std::string, std::string> *prev) {
  // .cfa first, then .ra, then the registers: dump_syms's order.
  auto emit = [&](const std::string &reg, const std::string &expr) {
    out += ' ';
    out += reg;
    out += ": ";
    out += expr;
  };
  for (const char *special : {".cfa", ".ra"}) {
    auto it = rules.find(special);
    if (it == rules.end()) continue;
    if (all || !prev->count(special) || prev->at(special) != it->second) emit(it->first, it->second);
  }
  for (const auto &[reg, expr] : rules) {
    if (reg == ".cfa" || reg == ".ra") continue;
    if (all || !prev->count(reg) || prev->at(reg) != expr) emit(reg, expr);
  }
  if (!all)  // a rule dropped (DW_CFA_restore to the CIE's nothing): the register is unchanged
    for (const auto &[reg, expr] : *prev)
      if (!rules.count(reg) && reg[0] == '$') emit(reg, reg);
}

void SymWriter::translateFde(const dwarf::FDE &fde, bool skipCovered, std::vector<Range> &covered,
                             std::vector<Range> &mine) {
  uint64_t start = fde.getInitialLocation(), size = fde.getAddressRange();
  if (size == 0 || start == 0 || start + size < start || !inExec(start)) return;
  const dwarf::CIE *cie = fde.getLinkedCIE();
  if (!cie || cie->getReturnAddressRegister() != kRaColumn) return;
  mine.push_back(Range{start, start + size});
  if (skipCovered) {
    auto it = std::upper_bound(covered.begin(), covered.end(), start,
                               [](uint64_t a, const Range &r) { return a < r.lo; });
    if (it != covered.begin() && start < std::prev(it)->hi) return;  // .eh_frame has it
  }
  auto table = dwarf::UnwindTable::create(&fde);
  if (!table) {
    consumeError(table.takeError());
    return;
  }
  uint64_t end = start + size;
  std::string text;
  std::optional<uint64_t> blockStart;
  std::map<std::string, std::string> prev;
  auto close = [&](uint64_t at) {
    if (!blockStart) return;
    std::string init = "STACK CFI INIT ";
    appendHex(init, *blockStart - base_);
    init += ' ';
    appendHex(init, at - *blockStart);
    init += text;
    cfiText_ += init;
    blockStart.reset();
    text.clear();
  };
  for (size_t k = 0; k < table->size(); ++k) {
    const dwarf::UnwindRow &row = (*table)[k];
    if (!row.hasAddress()) continue;
    uint64_t a = std::max(row.getAddress(), start);
    uint64_t next = end;
    if (k + 1 < table->size() && (*table)[k + 1].hasAddress()) next = std::min((*table)[k + 1].getAddress(), end);
    if (a >= next) continue;
    std::set<std::string> undefinedRegs;
    auto rules = translateRow(row, undefinedRegs);
    bool lost = false;  // a register with a rule before is undefined now: not expressible as a change
    if (rules && blockStart)
      for (const std::string &r : undefinedRegs) lost |= prev.count(r) > 0;
    if (!rules || lost) close(a);
    if (!rules) continue;
    if (!blockStart) {
      blockStart = a;
      std::string init;
      appendRules(init, *rules, true, nullptr);
      text = init + "\n";
      ++cfiInits_;
      ++cfiRecords_;
    } else {
      std::string delta;
      appendRules(delta, *rules, false, &prev);
      if (!delta.empty()) {
        text += "STACK CFI ";
        appendHex(text, a - base_);
        text += delta;
        text += '\n';
        ++cfiRecords_;
      }
    }
    prev = std::move(*rules);
  }
  close(end);
}

void SymWriter::readFrames(StringRef data, uint64_t sectionAddr, bool isEH, const std::string &what,
                           std::vector<Range> &covered, bool skipCovered) {
  // Parsed under the fault guard; a frame table whose parsing faulted is abandoned.
  auto *frames = new DWARFDebugFrame(Triple::x86_64, isEH, sectionAddr);
  std::vector<Range> mine;
  std::string cfiBefore = cfiText_;
  size_t initsBefore = cfiInits_, recordsBefore = cfiRecords_;
  std::string fault;
  std::optional<std::string> parseError;
  bool ok = runGuarded(
      [&] {
        DWARFDataExtractor ext(data, /*IsLittleEndian=*/true, /*AddressSize=*/8);
        if (Error e = frames->parse(ext)) parseError = toString(std::move(e));
        for (const dwarf::FrameEntry &entry : frames->entries())
          if (const auto *fde = dyn_cast<dwarf::FDE>(&entry)) translateFde(*fde, skipCovered, covered, mine);
      },
      &fault);
  if (!ok) {
    // Nothing from this section: what was translated before the fault is not trusted either.
    cfiText_ = std::move(cfiBefore);
    cfiInits_ = initsBefore, cfiRecords_ = recordsBefore;
    warn(binary_->path() + ": " + what + " raised " + fault + " while read: its CFI is left out");
    return;  // `frames` leaks: its state is unknown
  }
  if (parseError) warn(binary_->path() + ": " + what + ": " + *parseError + " (the entries before it are used)");
  delete frames;
  covered.insert(covered.end(), mine.begin(), mine.end());
  normalize(covered);
}

void SymWriter::readCfi() {
  std::vector<Range> covered;
  if (const ElfSection *eh = binary_->section(".eh_frame"); eh && eh->present && !eh->data.empty()) {
    if (eh->compressed) warn(binary_->path() + ": a compressed .eh_frame is not read");
    else readFrames(eh->data, eh->address, true, ".eh_frame", covered, false);
  }
  for (const ElfFile *f : {binary_.get(), debug_.get()}) {
    if (!f) continue;
    const ElfSection *df = f->section(".debug_frame");
    if (!df || !df->present || df->data.empty()) continue;
    std::unique_ptr<MemoryBuffer> inflated;
    StringRef data = df->data;
    if (df->compressed) {
      auto mb = inflateSection(".debug_frame", df->data);
      if (!mb) {
        warn(f->path() + ": .debug_frame: " + toString(mb.takeError()));
        continue;
      }
      inflated = std::move(*mb);
      data = inflated->getBuffer();
    }
    readFrames(data, 0, false, ".debug_frame", covered, true);
    break;
  }
}

// --------------------------------------------------------------------------------------------

BreakpadWriteStats SymWriter::write(raw_ostream &os) {
  BreakpadWriteStats st;
  st.module = id_;
  if (debug_ || binary_->hasDwarf()) st.dwarfFile = (debug_ ? debug_ : binary_)->path();
  // Several functions at one address (identical code folded, an assembler's aliases): one FUNC,
  // marked `m`. The last in DIE order is kept, the one LLVM's address map (and so the
  // symbolizer) names there.
  std::stable_sort(funcs_.begin(), funcs_.end(), [](const FuncRec &a, const FuncRec &b) { return a.addr < b.addr; });
  std::vector<FuncRec> funcs;
  for (FuncRec &f : funcs_) {
    if (!funcs.empty() && funcs.back().addr == f.addr) {
      bool multiple = funcs.back().multiple || funcs.back().name != f.name;
      funcs.back() = std::move(f);
      funcs.back().multiple = multiple;
      continue;
    }
    funcs.push_back(std::move(f));
  }
  funcs_.clear();
  uint64_t bytes = 0;
  std::string buf;
  auto flush = [&](bool force) {
    if (!force && buf.size() < (1u << 20)) return;
    os << buf;
    bytes += buf.size();
    buf.clear();
  };
  buf += "MODULE Linux x86_64 " + id_.debugId + " " + id_.name + "\n";
  buf += "INFO CODE_ID " + StringRef(id_.codeId).upper() + "\n";
  for (size_t i = 0; i < files_.size(); ++i) {
    buf += "FILE " + std::to_string(i) + " " + files_[i] + "\n";
    flush(false);
  }
  for (size_t i = 0; i < origins_.size(); ++i) {
    buf += "INLINE_ORIGIN " + std::to_string(i) + " " + origins_[i] + "\n";
    flush(false);
  }
  for (const FuncRec &f : funcs) {
    buf += f.multiple ? "FUNC m " : "FUNC ";
    appendHex(buf, f.addr - base_);
    buf += ' ';
    appendHex(buf, f.size);
    buf += " 0 ";
    buf += f.name;
    buf += '\n';
    for (const InlineRec &in : f.inlines) {
      buf += "INLINE " + std::to_string(in.depth) + " " + std::to_string(in.callLine) + " " +
             std::to_string(in.callFile) + " " + std::to_string(in.origin);
      for (const Range &r : in.ranges) {
        buf += ' ';
        appendHex(buf, r.lo - base_);
        buf += ' ';
        appendHex(buf, r.hi - r.lo);
      }
      buf += '\n';
      ++st.inlines;
    }
    for (const LineRec &l : f.lines) {
      appendHex(buf, l.addr - base_);
      buf += ' ';
      appendHex(buf, l.size);
      buf += ' ' + std::to_string(l.line) + ' ' + std::to_string(l.file) + '\n';
    }
    st.lines += f.lines.size();
    flush(false);
  }
  for (const PublicRec &p : publics_) {
    buf += p.multiple ? "PUBLIC m " : "PUBLIC ";
    appendHex(buf, p.addr - base_);
    buf += " 0 ";
    buf += p.name;
    buf += '\n';
    flush(false);
  }
  flush(true);
  os << cfiText_;
  bytes += cfiText_.size();
  st.files = files_.size();
  st.functions = funcs.size();
  st.inlineOrigins = origins_.size();
  st.publics = publics_.size();
  st.cfiInits = cfiInits_;
  st.cfiRecords = cfiRecords_;
  st.bytes = bytes;
  return st;
}

}  // namespace

Expected<BreakpadModuleIdentity> breakpadIdentity(const std::string &elfPath) {
  std::vector<std::string> warnings;
  BreakpadWriteOptions opts;
  SymWriter w(opts, warnings);
  if (Error e = w.open(elfPath)) return std::move(e);
  return w.identity();
}

Expected<BreakpadWriteStats> writeBreakpadSymbols(const std::string &elfPath, raw_ostream &os,
                                                  const BreakpadWriteOptions &opts,
                                                  std::vector<std::string> &warnings) {
  SymWriter w(opts, warnings);
  if (Error e = w.open(elfPath)) return std::move(e);
  w.readDwarf();
  w.readPublics();
  if (opts.cfi) w.readCfi();
  return w.write(os);
}

Expected<BreakpadWriteStats> writeBreakpadSymbolFile(const std::string &elfPath, const std::string &outPath,
                                                     const BreakpadWriteOptions &opts,
                                                     std::vector<std::string> &warnings) {
  // A bad input fails before the output is touched, an unwritable output before the work.
  SymWriter w(opts, warnings);
  if (Error e = w.open(elfPath)) return std::move(e);
  llvm::Expected<TempFile> file = createTempFileNextTo(outPath, 0644);
  if (!file) return file.takeError();
  int fd = file->fd;
  const std::string &tmp = file->path;
  w.readDwarf();
  w.readPublics();
  if (opts.cfi) w.readCfi();
  BreakpadWriteStats stats;
  std::error_code ec;
  {
    raw_fd_ostream os(fd, /*shouldClose=*/false);
    stats = w.write(os);
    os.flush();
    ec = os.error();
    os.clear_error();
  }
  if (!ec && ::fsync(fd) != 0) ec = std::error_code(errno, std::generic_category());
  if (::close(fd) != 0 && !ec) ec = std::error_code(errno, std::generic_category());
  if (!ec && ::rename(tmp.c_str(), outPath.c_str()) != 0) ec = std::error_code(errno, std::generic_category());
  if (ec) {
    ::unlink(tmp.c_str());
    return makeError(ErrorKind::Generic, "writing {0}: {1}", outPath, ec.message());
  }
  return stats;
}

}  // namespace bt
