#include "symbols/symbolizer.h"

#include "support/error.h"
#include "symbols/answer_cache.h"
#include "symbols/breakpad_symbol_store.h"
#include "symbols/debuginfod_client.h"
#include "symbols/call_sites.h"
#include "symbols/debug_file_locator.h"
#include "symbols/dwarf_sections.h"
#include "symbols/dwarf_unit_check.h"
#include "symbols/elf_file.h"
#include "symbols/gdb_names.h"
#include "support/fault_guard.h"
#include "target/breakpad_ids.h"

#include <llvm/Support/Path.h>

#include <llvm/DebugInfo/DWARF/DWARFCompileUnit.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>

namespace bt {

using namespace llvm;

static const std::vector<std::string> kSymbolizationSections = {
    "debug_info",   "debug_abbrev",   "debug_line",     "debug_line_str", "debug_str",
    "debug_str_offsets", "debug_addr", "debug_ranges", "debug_rnglists", "debug_aranges"};
// Location lists are needed for variables only: not inflated for plain backtraces.
static const std::vector<std::string> kVariableSections = {"debug_loc", "debug_loclists"};

// When several line-table rows share an address, LLVM reports the last one; gdb reports the
// last *statement* row at that address (symtab.c, find_pc_sect_line: "if PREV is not a
// statement, scan backwards for one at the same address"). Follow gdb, so `bt` and gdb agree
// on the innermost line of a frame.
static void applyGdbLineRule(DWARFContext &ctx, DWARFCompileUnit *cu, uint64_t vaddr, SourceLocation &loc) {
  if (!cu) return;
  const DWARFDebugLine::LineTable *lt = ctx.getLineTableForUnit(static_cast<DWARFUnit *>(cu));
  if (!lt) return;
  uint32_t idx = lt->lookupAddress({vaddr, object::SectionedAddress::UndefSection});
  if (idx == lt->UnknownRowIndex || idx >= lt->Rows.size()) return;
  uint32_t best = idx;
  if (!lt->Rows[best].IsStmt) {
    uint32_t t = best;
    while (t > 0 && lt->Rows[t - 1].Address.Address == lt->Rows[t].Address.Address &&
           lt->Rows[t - 1].Line != 0 && !lt->Rows[t].IsStmt)
      --t;
    if (lt->Rows[t].IsStmt) best = t;
  }
  if (best == idx) return;
  const DWARFDebugLine::Row &row = lt->Rows[best];
  std::string file;
  if (lt->getFileNameByIndex(row.File, cu->getCompilationDir(),
                             DILineInfoSpecifier::FileLineInfoKind::AbsoluteFilePath, file))
    loc.file = file;
  loc.line = row.Line;
  loc.column = row.Column;
}

ModuleSymbols::ModuleSymbols(const ModuleInfo &mod, const SymbolizerOptions &opts,
                             BreakpadSymbolStore *store, DebuginfodClient *debuginfod)
    : opts_(opts) {
  openFiles(mod, debuginfod);
  // With variables, entry values and printed pointers look symbols up in every module with
  // frames (27,700 symbols took 9 ms of the main thread on the 507 MB server).
  if (opts_.variables && binary_) binary_->prefetchSymbols();
  if (hasDwarf() || !store || store->empty()) return;
  // A .sym file names the build the process ran, whatever file is here (even another build).
  std::string buildId = mod.buildId.empty() && binary_ ? binary_->buildId() : mod.buildId;
  breakpad_ = store->find(sys::path::filename(mod.path).str(), breakpadDebugId(buildId), warnings_);
  breakpadBase_ = mod.start - mod.loadBias;
}

void ModuleSymbols::openFiles(const ModuleInfo &mod, DebuginfodClient *debuginfod) {
  const std::string &path = mod.hostPath.empty() ? mod.path : mod.hostPath;
  // The build the process ran, fetched by build-id when the file here is missing or another
  // build (whose symbols would name the wrong functions).
  auto fetched = [&](bool debug) -> std::unique_ptr<ElfFile> {
    if (!debuginfod || !debuginfod->enabled() || mod.buildId.empty()) return nullptr;
    auto p = debug ? debuginfod->debugInfo(mod.buildId, warnings_) : debuginfod->executable(mod.buildId, warnings_);
    if (!p) return nullptr;
    auto f = ElfFile::open(*p);
    if (!f) {
      warnings_.push_back(toString(f.takeError()));
      return nullptr;
    }
    if ((*f)->buildId() != mod.buildId) return nullptr;  // a server's mistake: not this build
    return std::move(*f);
  };
  if (!Target::fileUsable(mod)) {
    binary_ = fetched(false);
  } else if (auto bin = ElfFile::open(path)) {
    binary_ = std::move(*bin);
  } else {
    std::string why = toString(bin.takeError());
    binary_ = fetched(false);
    if (!binary_) warnings_.push_back(why);
  }
  // Said, since the target has warned that the file here is missing or another build.
  if (binary_ && binary_->path() != path)
    warnings_.push_back(mod.path + ": the build the process ran (" + mod.buildId +
                        ") was fetched from debuginfod: its symbols and unwind tables are used");
  if (!binary_) return;
  for (const std::string &p : binary_->problems()) warnings_.push_back(p);
  if (binary_->hasDwarf()) return;
  DebugFileQuery q{path, binary_->buildId().empty() ? mod.buildId : binary_->buildId(),
                   binary_->debugLink()};
  for (const std::string &cand : debugFileCandidates(q, opts_.debugDirs)) {
    struct stat st;
    if (stat(cand.c_str(), &st) != 0 || cand == path) continue;
    auto dbg = ElfFile::open(cand);
    if (!dbg) {
      warnings_.push_back(toString(dbg.takeError()));
      continue;
    }
    if (!q.buildId.empty() && !(*dbg)->buildId().empty() && (*dbg)->buildId() != q.buildId)
      continue;  // a debug file for another build of this binary
    if (!(*dbg)->hasDwarf()) continue;
    debug_ = std::move(*dbg);
    break;
  }
  if (!debug_ && q.buildId == mod.buildId)
    if (auto dbg = fetched(true); dbg && dbg->hasDwarf()) debug_ = std::move(dbg);
}

ModuleSymbols::~ModuleSymbols() {
  // A module whose DWARF raised warnings (corrupt units, faults) answers slowly every time, so
  // that the warnings are reported every time too.
  if (answers_ && warnings_.empty() && !dwarfBroken_) answers_->save();
}

AnswerCache *ModuleSymbols::answers() {
  if (answersTried_) return answers_.get();
  answersTried_ = true;
  // Answers from a .sym file are binary searches already, and depend on a file the identity
  // below does not name.
  if (opts_.cacheDir.empty() || !binary_ || binary_->buildId().empty() || breakpad_ ||
      AnswerCache::engineBuildId().empty())
    return nullptr;
  // Whose answers they are: this engine build, this file and the debug file found for it.
  std::string identity = AnswerCache::engineBuildId();
  for (const ElfFile *f : {binary_.get(), debug_.get()}) {
    struct stat st;
    if (!f) continue;
    if (stat(f->path().c_str(), &st) != 0) return nullptr;
    identity += "|" + f->path() + "|" + std::to_string(st.st_size) + "|" +
                std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  }
  answers_ = std::make_unique<AnswerCache>(
      opts_.cacheDir + "/" + binary_->buildId() + "/answers", identity);
  return answers_.get();
}

// A cached answer that says where its scope DIEs are, or null.
static const PcInfo *scopesOf(const PcInfo *known) {
  return known && !known->scopeDies.empty() ? known : nullptr;
}

std::vector<PcInfo> ModuleSymbols::symbolizeBatch(const std::vector<PcQuery> &queries) {
  // Answers without variables come from the answer cache when this build's pcs were seen before;
  // the others are computed from the DWARF, and remembered. With variables, a cached answer
  // still saves finding the pc's scope DIEs (and reading the unit's line table).
  AnswerCache *memo = answers();
  if (!memo) return computeBatch(queries);
  std::vector<PcInfo> out(queries.size());
  std::vector<size_t> todo;
  std::vector<PcInfo> cached;
  cached.reserve(queries.size());
  std::vector<const PcInfo *> known;
  for (size_t i = 0; i < queries.size(); ++i) {
    bool found = memo->find(queries[i].vaddr, queries[i].returnAddress, out[i]);
    if (found && !queries[i].visit) continue;
    todo.push_back(i);
    known.push_back(found ? &cached.emplace_back(std::move(out[i])) : nullptr);
  }
  if (todo.empty()) return out;
  std::vector<PcQuery> rest;
  for (size_t i : todo) rest.push_back(queries[i]);
  std::vector<PcInfo> computed = computeBatch(rest, known);
  bool complete = !(opts_.interrupted && opts_.interrupted()) && !dwarfBroken_;
  for (size_t k = 0; k < todo.size(); ++k) {
    const PcQuery &q = queries[todo[k]];
    if (complete && !scopesOf(known[k])) memo->add(q.vaddr, q.returnAddress, computed[k]);  // without variables
    out[todo[k]] = std::move(computed[k]);
  }
  return out;
}

const std::string &ModuleSymbols::debugFilePath() const {
  static const std::string none;
  const ElfFile *f = debugFile();
  return f && f->hasDwarf() ? f->path() : none;
}

bool ModuleSymbols::hasDwarf() const {
  const ElfFile *f = debugFile();
  return f && f->hasDwarf();
}

bool ModuleSymbols::loadSections() {
  if (sectionsTried_) return !sections_.empty();
  sectionsTried_ = true;
  const ElfFile *f = debugFile();
  if (!f || !f->hasDwarf()) return false;
  std::vector<std::string> names = kSymbolizationSections;
  if (opts_.variables) names.insert(names.end(), kVariableSections.begin(), kVariableSections.end());
  auto secs = loadDwarfSections(*f, names, opts_.cacheDir);
  if (!secs) {
    warnings_.push_back(f->path() + ": " + toString(secs.takeError()));
    return false;
  }
  sections_ = std::move(*secs);
  return !sections_.empty();
}

std::unique_ptr<DWARFContext> ModuleSymbols::scratchContext(std::vector<std::string> *errors, StringRef info) {
  if (!loadSections()) return nullptr;
  // Malformed DWARF produces recoverable errors: keep them as warnings, never abort.
  std::vector<std::string> *sink = errors ? errors : &warnings_;
  auto onError = [sink](Error e) {
    if (sink->size() < kMaxDwarfErrors) sink->push_back(toString(std::move(e)));
    else consumeError(std::move(e));
  };
  // Views of the same mmapped sections: creating a context copies nothing (LLVM keeps the
  // buffers' bytes, not the buffers).
  if (info.data()) {
    StringMap<std::unique_ptr<MemoryBuffer>> views;
    for (auto &e : sections_)
      views[e.first()] = MemoryBuffer::getMemBuffer(e.first() == "debug_info" ? info : e.second->getBuffer(),
                                                    e.first(), false);
    return DWARFContext::create(views, /*AddrSize=*/8, /*isLittleEndian=*/true, onError, onError);
  }
  return DWARFContext::create(sections_, /*AddrSize=*/8, /*isLittleEndian=*/true, onError, onError);
}

bool ModuleSymbols::unitLayoutKnown() {
  if (!unitSpans_)
    if (AnswerCache *memo = answers(); memo && memo->unitLayout()) {
      unitSpans_ = memo->unitLayout()->spans;
      typeUnitsInInfo_ = memo->unitLayout()->typeUnits;
      placeholderVersion_ = memo->unitLayout()->placeholderVersion;
    }
  return unitSpans_.has_value();
}

std::unique_ptr<SparseDebugInfo> ModuleSymbols::sparseInfoFor(const std::vector<uint64_t> &units) {
  auto sec = sections_.find("debug_info");
  if (sec == sections_.end() || !sec->second) return nullptr;
  if (!unitLayoutKnown() && !index_) return nullptr;
  StringRef info = sec->second->getBuffer();
  bool contained = true;
  AnswerCache *memo = answers();
  std::string fault;
  // Known from an earlier run, or parsed by the index already (it found the batch's units):
  // listing the units and reading their abbreviations parses nothing else.
  bool ok = runGuarded(
      [&] {
        if (!unitSpans_) {
          std::vector<UnitSpan> spans;
          uint16_t version = 2;
          for (const auto &u : index_->info_section_units()) {
            spans.push_back({u->getOffset(), u->getNextUnitOffset()});
            typeUnitsInInfo_ |= u->isTypeUnit();
            version = std::max<uint16_t>(version, u->getVersion());
          }
          placeholderVersion_ = std::min<uint16_t>(version, 4);
          unitSpans_ = std::move(spans);
          if (memo) memo->setUnitLayout({*unitSpans_, typeUnitsInInfo_, placeholderVersion_});
        }
        for (uint64_t off : units) {
          auto [it, fresh] = selfContained_.try_emplace(off, false);
          if (fresh && memo && memo->selfContained(off)) {
            it->second = true;  // an earlier run read the same abbreviations
          } else if (fresh) {
            DWARFContext *idx = index();  // this unit's verdict is not known: its abbreviations
            if (DWARFUnit *u = idx ? idx->getCompileUnitForOffset(off) : nullptr)
              it->second = unitIsSelfContained(*u, typeUnitsInInfo_);
            if (it->second && memo) memo->addSelfContained(off);
          }
          contained &= it->second;
        }
      },
      &fault);
  if (!ok) {
    (void)index_.release();  // faulted inside LLVM: its state is unknown
    markDwarfBroken(fault);
    return nullptr;
  }
  if (!contained) return nullptr;
  if (!infoFileTried_) {
    infoFileTried_ = true;
    infoFile_ = mappedFileOf(info);
  }
  auto sparse = SparseDebugInfo::build(info, *unitSpans_, units, placeholderVersion_, infoFile_.get());
  if (!sparse) {
    consumeError(sparse.takeError());
    return nullptr;
  }
  return std::move(*sparse);
}

// Made on first need, which may be in the middle of a batch (a printed function pointer): it
// parses every unit header then, and the pages the kernel mapped around them (~64 KiB each,
// 80 MB for 1,200 units), which nothing reads again, are dropped at once.
DWARFContext *ModuleSymbols::index() {
  if (index_ || dwarfBroken_) return index_.get();
  index_ = scratchContext();
  if (!index_) return nullptr;
  std::string fault;
  if (!runGuarded([&] { (void)index_->getNumCompileUnits(); }, &fault)) {
    (void)index_.release();  // faulted inside LLVM: its state is unknown
    markDwarfBroken(fault);
    return nullptr;
  }
  releaseMappedPages();
  return index_.get();
}

// Touched pages of mmapped debug info count in our RSS until unmapped; they are clean file
// pages, so dropping them costs only a page-cache refault if a later batch needs them again.
void ModuleSymbols::releaseMappedPages() {
  auto drop = [](const MemoryBuffer *mb) {
    if (!mb || mb->getBufferKind() != MemoryBuffer::MemoryBuffer_MMap) return;
    uintptr_t start = reinterpret_cast<uintptr_t>(mb->getBufferStart());
    uintptr_t end = start + mb->getBufferSize();
    uintptr_t page = 4096;
    uintptr_t a = (start + page - 1) & ~(page - 1), b = end & ~(page - 1);
    if (b > a) madvise(reinterpret_cast<void *>(a), b - a, MADV_DONTNEED);
  };
  if (const ElfFile *f = debugFile()) drop(f->buffer());
  for (auto &e : sections_) drop(e.second.get());
}

// The parent/depth walk on LLVM's flat DIE array (the DIEs extracted): why the tree is not
// safe for LLVM's recursive walks, or nullopt. Touches nothing but `cu`.
static std::optional<std::string> treeProblem(DWARFCompileUnit &cu) {
  constexpr unsigned kMaxDepth = 256;
  unsigned n = cu.getNumDIEs();
  std::vector<uint16_t> depth(n, 0);
  for (unsigned i = 0; i < n; ++i) {
    DWARFDie die = cu.getDIEAtIndex(i);
    DWARFDie parent = die.getParent();
    if (!parent) continue;
    uint32_t p = cu.getDIEIndex(parent);
    if (p >= i) return std::string("a DIE's parent follows it");
    depth[i] = depth[p] + 1;
    if (depth[i] > kMaxDepth) return std::string("DIEs nested more than 256 deep");
  }
  return std::nullopt;
}

// LLVM dereferences the unit DIE without checking it exists.
static bool unitDieReadable(DWARFCompileUnit &cu) {
  return cu.getNumDIEs() != 0 && cu.getUnitDIE(false).isValid();  // extracts the DIEs
}

// LLVM walks DIE trees recursively (DWARFUnit::updateAddressDieMap, inlined chains): corrupt
// abbreviations can nest thousands of DIEs and overflow the stack. Check the tree's shape on
// LLVM's flat DIE array first, and leave a unit that fails to the symbol table.
bool ModuleSymbols::unitIsSane(DWARFContext &ctx, uint64_t unitOffset) {
  // Our own bounded walk first: LLVM's DIE extraction trusts the lengths it reads. It reads the
  // context's own .debug_info (a batch's SparseDebugInfo holds the same unit at the same offset).
  StringRef info;
  ctx.getDWARFObj().forEachInfoSections([&](const DWARFSection &s) { info = s.Data; });
  if (!unitShapeOk(unitOffset, info)) return false;
  DWARFCompileUnit *cu = ctx.getCompileUnitForOffset(unitOffset);
  if (!cu) return false;
  if (!unitDieReadable(*cu)) {
    noteCorruptUnit(unitOffset, "its DIEs cannot be read");
    return false;
  }
  if (auto known = unitTrees_.find(unitOffset); known != unitTrees_.end()) return known->second;
  AnswerCache *memo = answers();
  if (memo && memo->treeSane(unitOffset)) return unitTrees_[unitOffset] = true;  // an earlier run
  return recordTree(unitOffset, treeProblem(*cu));
}

bool ModuleSymbols::recordTree(uint64_t unitOffset, const std::optional<std::string> &why) {
  if (why) noteCorruptUnit(unitOffset, why->c_str());
  else if (AnswerCache *memo = answers()) memo->addSaneTree(unitOffset);
  return unitTrees_[unitOffset] = !why;
}

bool ModuleSymbols::unitShapeOk(uint64_t unitOffset, StringRef infoBytes) {
  auto known = unitShapes_.find(unitOffset);
  if (known != unitShapes_.end()) return known->second;
  // Checked in an earlier run on these very files (the answer cache's identity).
  AnswerCache *memo = answers();
  if (memo && memo->unitSound(unitOffset)) return unitShapes_[unitOffset] = true;
  StringRef info, abbrev;
  if (!shapeInputs(info, abbrev)) return unitShapes_[unitOffset] = false;
  if (infoBytes.size() == info.size()) info = infoBytes;
  return recordShape(unitOffset, checkUnitShape(info, abbrev, unitOffset));
}

bool ModuleSymbols::shapeInputs(StringRef &info, StringRef &abbrev) const {
  auto i = sections_.find("debug_info"), a = sections_.find("debug_abbrev");
  if (i == sections_.end() || a == sections_.end() || !i->second || !a->second) return false;
  info = i->second->getBuffer();
  abbrev = a->second->getBuffer();
  return true;
}

bool ModuleSymbols::recordShape(uint64_t unitOffset, const std::optional<std::string> &why) {
  if (why) noteCorruptUnit(unitOffset, why->c_str());
  else if (AnswerCache *memo = answers()) memo->addSoundUnit(unitOffset);
  return unitShapes_[unitOffset] = !why;
}

void ModuleSymbols::noteCorruptUnit(uint64_t unitOffset, const char *why) {
  const ElfFile *f = debugFile();
  char buf[64];
  snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)unitOffset);
  warnings_.push_back((f ? f->path() : std::string("?")) + ": corrupt DWARF in the unit at " +
                      buf + " (" + why + "); using the symbol table there");
}

// DWARFContext::getInliningInfoForAddress within a unit already known to cover the address: the
// same frames (names, call files and lines, the innermost line from the line table) without
// the context's module-wide address ranges, which every fresh context would build again.
// `chain` receives the scope DIEs the frames come from (innermost first).
static DIInliningInfo inliningInfoInUnit(DWARFContext &ctx, DWARFCompileUnit &cu, uint64_t vaddr,
                                         const DILineInfoSpecifier &spec, SmallVectorImpl<DWARFDie> &chain) {
  DIInliningInfo out;
  object::SectionedAddress addr{vaddr, object::SectionedAddress::UndefSection};
  cu.getInlinedChainForAddress(vaddr, chain);
  const DWARFDebugLine::LineTable *lt = ctx.getLineTableForUnit(&cu);
  if (chain.empty()) {
    DILineInfo frame;
    if (lt && lt->getFileLineInfoForAddress(addr, cu.getCompilationDir(), spec.FLIKind, frame))
      out.addFrame(frame);
    return out;
  }
  uint32_t callFile = 0, callLine = 0, callColumn = 0, callDiscriminator = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    DWARFDie &fn = chain[i];
    DILineInfo frame;
    if (const char *name = fn.getSubroutineName(spec.FNKind)) frame.FunctionName = name;
    if (i == 0) {
      if (lt) lt->getFileLineInfoForAddress(addr, cu.getCompilationDir(), spec.FLIKind, frame);
    } else {
      if (lt) lt->getFileNameByIndex(callFile, cu.getCompilationDir(), spec.FLIKind, frame.FileName);
      frame.Line = callLine;
      frame.Column = callColumn;
      frame.Discriminator = callDiscriminator;
    }
    if (i + 1 < chain.size()) fn.getCallerFrame(callFile, callLine, callColumn, callDiscriminator);
    out.addFrame(frame);
  }
  return out;
}

PcInfo ModuleSymbols::answer(DWARFContext &ctx, DWARFCompileUnit *cu, const PcQuery &q) {
  PcInfo info;
  DILineInfoSpecifier spec(DILineInfoSpecifier::FileLineInfoKind::AbsoluteFilePath,
                           DINameKind::LinkageName);
  if (!cu) return info;
  SmallVector<DWARFDie, 4> dies;
  DIInliningInfo inl = inliningInfoInUnit(ctx, *cu, q.vaddr, spec, dies);
  uint32_t n = inl.getNumberOfFrames();
  for (uint32_t i = 0; i < n; ++i) {
    const DILineInfo &li = inl.getFrame(i);
    SourceLocation loc;
    if (li.FunctionName != DILineInfo::BadString) loc.function = displayFunctionName(li.FunctionName);
    if (li.FileName != DILineInfo::BadString) loc.file = li.FileName;
    loc.line = li.Line;
    loc.column = li.Column;
    loc.inlined = i + 1 < n;
    info.chain.push_back(std::move(loc));
  }
  if (!info.chain.empty() && info.chain.back().function.empty()) info.chain.clear();
  if (info.chain.empty()) return info;
  // Names from the DIEs themselves: LLVM reports bare DW_AT_names when there is no linkage name.
  if (dies.size() == info.chain.size()) {
    for (size_t i = 0; i < dies.size(); ++i)
      if (std::string name = functionNameForDie(dies[i]); !name.empty())
        info.chain[i].function = std::move(name);
    if (q.visit) (*q.visit)(ctx, dies, info.chain);
    info.scopeUnit = cu->getOffset();
    for (const DWARFDie &d : dies) info.scopeDies.push_back(d.getOffset());
  }
  applyGdbLineRule(ctx, cu, q.vaddr, info.chain.front());
  DWARFDie fn = subprogramAt(*cu, q.vaddr);
  info.functionEntry = dieFunctionEntry(fn).value_or(0);
  if (q.returnAddress && fn) {
    std::vector<CallSite> sites;
    collectCallSites(fn, sites);
    for (const CallSite &cs : sites)
      if (cs.returnPc == q.returnAddress && !cs.tail) {
        info.callTarget = callSiteTarget(cs, *this).value_or(0);
        if (!info.callTarget) info.callTargetName = callSiteTargetName(cs);
      }
  }
  return info;
}

PcInfo ModuleSymbols::answerFromScopes(DWARFContext &ctx, DWARFCompileUnit *cu, const PcQuery &q,
                                      const PcInfo &known) {
  if (!cu || cu->getOffset() != known.scopeUnit || known.scopeDies.size() != known.chain.size())
    return answer(ctx, cu, q);
  // Checked as LLVM would have found them: each covers the pc, and each is inside the next.
  SmallVector<DWARFDie, 4> dies;
  for (uint64_t off : known.scopeDies) {
    DWARFDie d = off >= cu->getOffset() && off < cu->getNextUnitOffset() ? cu->getDIEForOffset(off) : DWARFDie();
    if (!d || (d.getTag() != dwarf::DW_TAG_subprogram && d.getTag() != dwarf::DW_TAG_inlined_subroutine) ||
        !d.addressRangeContainsAddress(q.vaddr))
      return answer(ctx, cu, q);
    if (!dies.empty()) {
      DWARFDie p = dies.back().getParent();
      for (int depth = 0; p && p != d && depth < 256; ++depth) p = p.getParent();
      if (p != d) return answer(ctx, cu, q);
    }
    dies.push_back(d);
  }
  PcInfo info = known;
  (*q.visit)(ctx, dies, info.chain);
  return info;
}

void ModuleSymbols::markDwarfBroken(const std::string &fault) {
  dwarfBroken_ = true;
  const ElfFile *f = debugFile();
  warnings_.push_back((f ? f->path() : std::string("?")) + ": corrupt DWARF (reading it raised " +
                      fault + "); using the symbol table for this module");
}

// A batch's DWARF context, prepared by whichever thread claims its task first, or not at all
// (its units are then read by their first use). The task works on this context alone (nothing
// of LLVM's is shared between contexts), under the fault guard.
ModuleSymbols::BatchContext::~BatchContext() {
  if (worker.joinable()) worker.join();
  if (claimed_.load()) waitDone();
  if (!extracted) abandon();
}

bool ModuleSymbols::BatchContext::tryRun() {
  bool expected = false;
  if (!hasTask || !claimed_.compare_exchange_strong(expected, true)) return false;
  extracted = runGuarded([&] {
    for (Unit &u : units) {
      if (u.checkShape && (u.shape = checkUnitShape(taskInfo, taskAbbrev, u.offset), *u.shape)) continue;
      DWARFCompileUnit *cu = ctx->getCompileUnitForOffset(u.offset);
      if (!cu || !unitDieReadable(*cu)) continue;  // the reading thread says so
      if (u.checkTree && (u.tree = treeProblem(*cu), *u.tree)) continue;
      if (!u.warmPc) continue;
      SmallVector<DWARFDie, 4> chain;
      cu->getInlinedChainForAddress(u.warmPc, chain);
      if (u.lineTable) (void)ctx->getLineTableForUnit(cu);
    }
  });
  {
    std::lock_guard<std::mutex> lock(doneMutex_);
    done_ = true;
  }
  doneCv_.notify_all();
  return true;
}

bool ModuleSymbols::BatchContext::taskDone() {
  if (!hasTask) return true;
  std::lock_guard<std::mutex> lock(doneMutex_);
  return done_;
}

void ModuleSymbols::BatchContext::waitDone() {
  if (!hasTask) return;
  std::unique_lock<std::mutex> lock(doneMutex_);
  doneCv_.wait(lock, [&] { return done_; });
}

bool ModuleSymbols::BatchContext::finish() {
  if (worker.joinable()) worker.join();
  if (hasTask && !tryRun()) waitDone();
  if (!extracted) abandon();
  return extracted;
}

void ModuleSymbols::BatchContext::abandon() {
  (void)ctx.release();  // faulted inside LLVM: its state is unknown, never destroyed
}

ModuleSymbols::BatchHelper::BatchHelper()
    : thread_([this] {
        for (;;) {
          std::shared_ptr<BatchContext> b;
          {
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            b = std::move(queue_.front());
            queue_.pop_front();
          }
          b->tryRun();
        }
      }) {}

ModuleSymbols::BatchHelper::~BatchHelper() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_one();
  thread_.join();
}

void ModuleSymbols::BatchHelper::offer(std::shared_ptr<BatchContext> b) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(b));
  }
  cv_.notify_one();
}

// The task gives each unit what its first use on the reading thread would do, in the same
// order and behind the same checks: our shape walk (unless known), LLVM's extraction, the tree
// walk (unless known), then, for a pc without a cached answer, LLVM's address-to-DIE map and
// the unit's line table. The checks' verdicts are recorded on the reading thread (finishBatch).
std::unique_ptr<ModuleSymbols::BatchContext> ModuleSymbols::prepareBatch(const std::vector<BatchUnit> &units,
                                                                      Preparation how) {
  auto b = std::make_unique<BatchContext>();
  std::vector<uint64_t> offsets;
  for (const BatchUnit &u : units) offsets.push_back(u.offset);
  if (loadSections()) b->info = sparseInfoFor(offsets);
  if (dwarfBroken_) return b;
  b->ctx = scratchContext(&b->errors, b->info ? b->info->bytes() : StringRef());
  StringRef info, abbrev;
  if (!b->ctx || how == Preparation::Here || !shapeInputs(info, abbrev)) return b;
  if (b->info) info = b->info->bytes();  // the same units at the same offsets: its pages, not the file's
  AnswerCache *memo = answers();
  for (const BatchUnit &u : units) {
    BatchContext::Unit unit;
    unit.offset = u.offset;
    auto shape = unitShapes_.find(u.offset);
    if (shape != unitShapes_.end() && !shape->second) continue;  // known bad: nothing to prepare
    unit.checkShape = shape == unitShapes_.end() && !(memo && memo->unitSound(u.offset));
    auto tree = unitTrees_.find(u.offset);
    if (tree != unitTrees_.end() && !tree->second) continue;
    unit.checkTree = tree == unitTrees_.end() && !(memo && memo->treeSane(u.offset));
    unit.warmPc = u.warmPc;
    unit.lineTable = u.lineTable;
    b->units.push_back(unit);
  }
  b->taskInfo = info;
  b->taskAbbrev = abbrev;
  b->hasTask = true;
  if (how == Preparation::Thread) b->worker = std::thread([b = b.get()] { b->tryRun(); });
  return b;
}

bool ModuleSymbols::endBatch(BatchContext &b, bool ok, const std::string &fault) {
  for (std::string &w : b.errors)
    if (warnings_.size() < kMaxDwarfErrors) warnings_.push_back(std::move(w));
  b.errors.clear();
  if (ok) return true;
  // LLVM faulted on this DWARF: abandon the context (its state is unknown) and use the symbol
  // table for the whole module from now on.
  bool hadContext = b.ctx != nullptr;
  if (hadContext) b.abandon();
  if (!dwarfBroken_) markDwarfBroken(hadContext ? fault : std::string("no DWARF context"));
  return false;
}

bool ModuleSymbols::finishBatch(BatchContext &b) {
  if (!b.finish()) return false;
  for (const BatchContext::Unit &u : b.units) {
    if (u.shape && !recordShape(u.offset, *u.shape)) continue;
    if (u.tree) recordTree(u.offset, *u.tree);
  }
  b.units.clear();
  return true;
}

std::vector<PcInfo> ModuleSymbols::computeBatch(const std::vector<PcQuery> &queries,
                                                const std::vector<const PcInfo *> &known) {
  std::vector<PcInfo> out(queries.size());
  std::map<uint64_t, std::vector<size_t>> byUnit;
  // A warm capture knows each pc's compile unit from its cached answer, and the units from the
  // answer cache: it needs no index (which parses every unit header and .debug_aranges, a tenth
  // of a warm --vars on the 507 MB server).
  // A pc no unit covered (crt1's _start) stays outside them.
  bool unitsKnown = !dwarfBroken_ && known.size() == queries.size() && unitLayoutKnown() &&
                    std::all_of(known.begin(), known.end(), [](const PcInfo *k) {
                      return k && (scopesOf(k) ? k->scopeUnit != UINT64_MAX : !k->inCompileUnit);
                    });
  if (unitsKnown)
    for (size_t i = 0; i < queries.size(); ++i)
      if (scopesOf(known[i])) byUnit[known[i]->scopeUnit].push_back(i);
  // Otherwise queries are grouped by the compile unit the index finds (it parses only unit
  // headers and aranges).
  DWARFContext *idx = dwarfBroken_ || unitsKnown ? nullptr : index();
  if (idx) {
    std::string fault;
    bool ok = runGuarded(
        [&] {
          for (size_t i = 0; i < queries.size(); ++i)
            if (DWARFCompileUnit *cu = idx->getCompileUnitForCodeAddress(queries[i].vaddr))
              byUnit[cu->getOffset()].push_back(i);
        },
        &fault);
    if (!ok) {
      (void)index_.release();
      byUnit.clear();
      markDwarfBroken(fault);
    }
    // Finding the units read .debug_aranges (and, for a unit without aranges, its DIEs): pages
    // no batch reads again. The index dropped its header pages when it was made.
    releaseMappedPages();
  }
  auto stop = [this] { return opts_.interrupted && opts_.interrupted(); };
  if (!byUnit.empty()) {
    using UnitIt = std::map<uint64_t, std::vector<size_t>>::iterator;
    constexpr size_t kUnitsPerBatch = 8;
    auto batchAfter = [&](UnitIt from) {
      for (size_t n = 0; n < kUnitsPerBatch && from != byUnit.end(); ++n) ++from;
      return from;
    };
    // Extracting the DIEs of a batch's units is most of the work (72% of a warm --vars on a
    // 300-unit server). The batches after the one being answered are prepared: a helper thread
    // extracts them in order, and this thread, when the helper is still on the batch it needs,
    // extracts a later one the helper has not started rather than wait. Each batch in flight
    // holds its DIEs; its context reads a SparseDebugInfo of its units where it can, not every
    // unit header of the module. The order of the answers, and so of the warnings, is fixed
    // whichever thread extracted a batch.
    auto prepare = [&](UnitIt from, UnitIt to, Preparation how) {
      std::vector<BatchUnit> units;
      for (auto u = from; u != to; ++u) {
        BatchUnit unit{u->first, 0, true};
        for (size_t i : u->second)
          if (!(i < known.size() && scopesOf(known[i]))) {
            unit.warmPc = queries[i].vaddr;  // a pc without a cached answer
            break;
          }
        units.push_back(unit);
      }
      return std::shared_ptr<BatchContext>(prepareBatch(units, how));
    };
    constexpr size_t kAhead = 2;  // batches prepared after the one answered
    UnitIt it = byUnit.begin(), prepared = it;
    std::deque<std::shared_ptr<BatchContext>> window;  // front: the batch at `it`
    std::optional<BatchHelper> helper;                 // stops before the window is freed
    while (!dwarfBroken_ && !stop()) {
      for (; prepared != byUnit.end() && window.size() <= kAhead && !dwarfBroken_;) {
        UnitIt to = batchAfter(prepared);
        std::shared_ptr<BatchContext> b = prepare(prepared, to, Preparation::Shared);
        if (!window.empty()) (helper ? *helper : helper.emplace()).offer(b);  // the first: here
        window.push_back(std::move(b));
        prepared = to;
      }
      if (window.empty() || dwarfBroken_) break;
      BatchContext &ahead = *window.front();
      while (!ahead.tryRun() && !ahead.taskDone()) {
        bool helped = false;
        for (size_t k = 1; k < window.size() && !helped; ++k) helped = window[k]->tryRun();
        if (!helped) ahead.waitDone();
      }
      UnitIt batchEnd = batchAfter(it);
      std::shared_ptr<BatchContext> cur = window.front();
      if (!finishBatch(*cur)) cur = prepare(it, batchEnd, Preparation::Here);  // faulted there: again here
      DWARFContext *ctx = cur->ctx.get();
      std::string fault;
      bool ok = ctx != nullptr;
      // Answered in slices, each under the fault guard, so an interruption is polled (outside
      // the guard) however many pcs one compile unit holds.
      constexpr size_t kQueriesPerSlice = 64;
      for (auto u = it; u != batchEnd && ok && !stop(); ++u) {
        bool sane = false;
        ok = runGuarded([&] { sane = unitIsSane(*ctx, u->first); }, &fault);
        if (!ok || !sane) continue;  // not sane: the symbol table below
        const std::vector<size_t> &idxs = u->second;
        for (size_t k = 0; k < idxs.size() && ok && !stop(); k += kQueriesPerSlice)
          ok = runGuarded(
              [&] {
                for (size_t j = k; j < std::min(idxs.size(), k + kQueriesPerSlice); ++j) {
                  DWARFCompileUnit *cu = ctx->getCompileUnitForOffset(u->first);
                  const PcInfo *hint = idxs[j] < known.size() ? scopesOf(known[idxs[j]]) : nullptr;
                  out[idxs[j]] = hint ? answerFromScopes(*ctx, cu, queries[idxs[j]], *hint)
                                      : answer(*ctx, cu, queries[idxs[j]]);
                  out[idxs[j]].inCompileUnit = true;
                }
              },
              &fault);
      }
      if (!endBatch(*cur, ok, fault)) {
        // The partial answers go too: the symbol table answers for the whole module now.
        for (auto u = it; u != batchEnd; ++u)
          for (size_t i : u->second) out[i] = PcInfo{};
        break;
      }
      it = batchEnd;
      cur.reset();
      window.pop_front();  // frees this batch's DIEs and line tables
      releaseMappedPages();
    }
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!out[i].chain.empty()) continue;
    if (breakpad_ && answerFromBreakpad(queries[i].vaddr, out[i])) continue;
    for (const ElfFile *f : {binary_.get(), debug_.get()}) {
      if (!f) continue;
      if (const ElfSymbol *sym = f->symbolFor(queries[i].vaddr)) {
        SourceLocation loc;
        loc.function = displayFunctionName(sym->name);
        out[i].chain.push_back(std::move(loc));
        out[i].functionEntry = sym->address;
        break;
      }
    }
  }
  return out;
}

bool ModuleSymbols::answerFromBreakpad(uint64_t vaddr, PcInfo &out) const {
  if (vaddr < breakpadBase_) return false;
  uint64_t rel = vaddr - breakpadBase_;
  for (const BreakpadSymbols::Location &l : breakpad_->lookup(rel)) {
    SourceLocation loc;
    loc.function = breakpadFunctionName(l.function);
    loc.file = l.file;
    loc.line = l.line;
    loc.inlined = l.inlined;
    out.chain.push_back(std::move(loc));
  }
  if (!out.chain.empty()) {
    out.functionEntry = breakpad_->functionStart(rel).value_or(0);
    if (out.functionEntry) out.functionEntry += breakpadBase_;
    return true;
  }
  // PUBLIC records: names without sizes, so only when no ELF symbol table here knows better.
  if (binary_) return false;
  auto pub = breakpad_->publicSymbol(rel);
  if (!pub) return false;
  SourceLocation loc;
  loc.function = breakpadFunctionName(pub->first);
  out.chain.push_back(std::move(loc));
  out.functionEntry = pub->second + breakpadBase_;
  return true;
}

std::vector<SourceLocation> ModuleSymbols::symbolize(uint64_t vaddr) {
  return std::move(symbolizeBatch({PcQuery{vaddr, 0}}).front().chain);
}

Symbolizer::Symbolizer(SymbolizerOptions opts)
    : opts_(std::move(opts)),
      store_(std::make_unique<BreakpadSymbolStore>(opts_.symbolStores)),
      debuginfod_(std::make_unique<DebuginfodClient>(opts_.cacheDir, opts_.offline)) {}
Symbolizer::~Symbolizer() = default;
Symbolizer::Symbolizer(Symbolizer &&) = default;

ModuleSymbols *Symbolizer::forModule(const ModuleInfo &mod) {
  std::string key = mod.hostPath.empty() ? mod.path : mod.hostPath;
  if (!Target::fileUsable(mod)) key += " (another build)";  // a different answer: no symbols
  auto it = cache_.find(key);
  if (it == cache_.end())
    it = cache_.emplace(key, std::make_unique<ModuleSymbols>(mod, opts_, store_.get(), debuginfod_.get())).first;
  return it->second.get();
}

std::vector<SourceLocation> Symbolizer::symbolize(const Target &t, uint64_t pc, bool exact) {
  uint64_t lookup = exact ? pc : pc - 1;
  const ModuleInfo *mod = t.moduleFor(lookup);
  if (!mod) return {};
  return forModule(*mod)->symbolize(lookup - mod->loadBias);
}

std::vector<PcInfo> Symbolizer::symbolizeAll(const Target &t,
                                             const std::vector<RuntimeQuery> &queries) {
  std::vector<PcInfo> out(queries.size());
  std::map<const ModuleInfo *, std::vector<size_t>> byModule;
  for (size_t i = 0; i < queries.size(); ++i) {
    uint64_t lookup = queries[i].exact ? queries[i].pc : queries[i].pc - 1;
    if (const ModuleInfo *mod = t.moduleFor(lookup)) byModule[mod].push_back(i);
  }
  // Visitors (variables) ask for callers' call sites (entry values): look them all up first,
  // in batches, rather than one compile unit at a time on demand.
  bool visiting = std::any_of(queries.begin(), queries.end(),
                              [](const RuntimeQuery &q) { return q.visit != nullptr; });
  if (visiting)
    for (auto &[mod, idx] : byModule) {
      std::vector<uint64_t> returns;
      for (size_t i : idx)
        if (!queries[i].exact) returns.push_back(queries[i].pc - mod->loadBias);
      forModule(*mod)->prefillCallSites(returns);
    }
  for (auto &[mod, idx] : byModule) {
    std::vector<PcQuery> qs;
    for (size_t i : idx) {
      const RuntimeQuery &r = queries[i];
      PcQuery q;
      q.vaddr = (r.exact ? r.pc : r.pc - 1) - mod->loadBias;
      q.returnAddress = r.exact ? 0 : r.pc - mod->loadBias;
      q.visit = r.visit;
      qs.push_back(q);
    }
    std::vector<PcInfo> res = forModule(*mod)->symbolizeBatch(qs);
    for (size_t k = 0; k < idx.size(); ++k) {
      PcInfo &pi = res[k];
      if (pi.functionEntry) pi.functionEntry += mod->loadBias;
      if (pi.callTarget) pi.callTarget += mod->loadBias;
      out[idx[k]] = std::move(pi);
    }
  }
  return out;
}

std::vector<std::string> Symbolizer::warnings() const {
  std::vector<std::string> all;
  for (auto &[k, m] : cache_)
    for (auto &w : m->warnings()) all.push_back(w);
  return all;
}

}  // namespace bt
