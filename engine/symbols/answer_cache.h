// AnswerCache: what the symbolizer answered for one module build's pcs (inline chain, function
// entry, the target of the call before a return address, tail-call chains, call sites; no
// variables), kept on
// disk next to the
// inflated sections ($XDG_CACHE_HOME/btengine/debug/<build-id>/answers), so a warm capture of pcs
// seen before parses no DWARF at all: servers' threads wait at the same few pcs run after run.
// The file is used only by the same engine build (its own build-id) and the same module and debug
// files (path, size, modification time): anything else starts empty and is rewritten. A damaged
// file is ignored, never trusted; its size and entry count are bounded.
#pragma once

#include "symbols/symbolizer.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bt {

class AnswerCache {
public:
  // Reads `path` when its identity is `identity`; otherwise starts empty.
  AnswerCache(std::string path, std::string identity);

  bool find(uint64_t vaddr, uint64_t returnAddress, PcInfo &out) const;
  void add(uint64_t vaddr, uint64_t returnAddress, const PcInfo &info);
  // ModuleSymbols::tailCallChain's answers, by (first target, callee pc).
  bool findChain(uint64_t firstTarget, uint64_t calleePc, std::vector<uint64_t> &out) const;
  void addChain(uint64_t firstTarget, uint64_t calleePc, const std::vector<uint64_t> &chain);
  // ModuleSymbols::callSite's answers (the call before a return address; nullopt: none), which
  // variables' entry values need: a warm `bt --vars` then parses each compile unit once.
  bool findCallSite(uint64_t returnAddress, std::optional<CallSiteInfo> &out) const;
  void addCallSite(uint64_t returnAddress, const std::optional<CallSiteInfo> &info);
  // Compile units (.debug_info offsets) that passed the shape check (symbols/dwarf_unit_check.h)
  // before: the files are the same (the identity says so), so the walk need not be repeated.
  bool unitSound(uint64_t unitOffset) const { return soundUnits_.count(unitOffset) != 0; }
  void addSoundUnit(uint64_t unitOffset);
  // Units whose DIE tree (as LLVM extracts it) passed ModuleSymbols::unitIsSane's walk: parents
  // before children, at most 256 deep. The same bytes give the same tree.
  bool treeSane(uint64_t unitOffset) const { return saneTrees_.count(unitOffset) != 0; }
  void addSaneTree(uint64_t unitOffset);
  // Units whose abbreviations let no DIE refer outside the unit (unitIsSelfContained): a batch
  // may read them from a SparseDebugInfo.
  bool selfContained(uint64_t unitOffset) const { return selfContained_.count(unitOffset) != 0; }
  void addSelfContained(uint64_t unitOffset);
  // The units of .debug_info (offsets and ends, headers included), whether type units are among
  // them, and the newest DWARF version below 5 of theirs: with each pc's unit known from its
  // answer, a warm capture builds its batches' sparse contexts without parsing every header.
  struct UnitLayout {
    std::vector<UnitSpan> spans;
    bool typeUnits = false;
    uint16_t placeholderVersion = 4;
  };
  const std::optional<UnitLayout> &unitLayout() const { return unitLayout_; }
  void setUnitLayout(const UnitLayout &layout);
  // ModuleSymbols::functionNameAt's answers, by function entry.
  bool findFunctionName(uint64_t entry, std::string &out) const;
  void addFunctionName(uint64_t entry, const std::string &name);
  // Writes the file (atomically: temporary file + rename) when answers were added.
  void save();

  size_t size() const { return answers_.size(); }

  // The build-id of the code running this (bt, or the Python extension), "" if unknown: answers
  // made by another build of the engine are not reused.
  static const std::string &engineBuildId();

private:
  std::string path_, identity_;
  std::map<std::pair<uint64_t, uint64_t>, PcInfo> answers_;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<uint64_t>> chains_;
  std::map<uint64_t, std::optional<CallSiteInfo>> callSites_;
  std::set<uint64_t> soundUnits_;
  std::set<uint64_t> saneTrees_;
  std::set<uint64_t> selfContained_;
  std::optional<UnitLayout> unitLayout_;
  std::map<uint64_t, std::string> functionNames_;
  bool dirty_ = false;
};

}  // namespace bt
