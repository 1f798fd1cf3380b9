#include "symbols/answer_cache.h"


#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include <cstring>
#include <elf.h>
#include <fstream>
#include <link.h>
#include <unistd.h>

namespace bt {

namespace {

constexpr char kMagic[] = "BTANSWERS8\n";
constexpr size_t kMaxEntries = 1 << 16;
constexpr uint64_t kMaxFile = 64u << 20;
constexpr uint32_t kMaxString = 1 << 16, kMaxChain = 256;

void putU64(std::string &o, uint64_t v) { o.append(reinterpret_cast<const char *>(&v), 8); }
void putU32(std::string &o, uint32_t v) { o.append(reinterpret_cast<const char *>(&v), 4); }
void putStr(std::string &o, const std::string &s) {
  putU32(o, uint32_t(std::min<size_t>(s.size(), kMaxString)));
  o.append(s.data(), std::min<size_t>(s.size(), kMaxString));
}

// A bounds-checked reader over the file's bytes: any overrun makes ok() false.
struct Reader {
  const std::string &b;
  size_t at = 0;
  bool ok = true;
  bool take(void *out, size_t n) {
    if (!ok || n > b.size() - at) return ok = false;
    memcpy(out, b.data() + at, n);
    at += n;
    return true;
  }
  uint64_t u64() {
    uint64_t v = 0;
    take(&v, 8);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    take(&v, 4);
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (!ok || n > kMaxString || n > b.size() - at) {
      ok = false;
      return {};
    }
    std::string s = b.substr(at, n);
    at += n;
    return s;
  }
};

int findBuildId(struct dl_phdr_info *info, size_t, void *data) {
  auto *want = static_cast<std::pair<uintptr_t, std::string> *>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && want->first >= start && want->first < start + ph.p_memsz) {
      for (int j = 0; j < info->dlpi_phnum; ++j) {
        const ElfW(Phdr) &n = info->dlpi_phdr[j];
        if (n.p_type != PT_NOTE) continue;
        const char *p = reinterpret_cast<const char *>(info->dlpi_addr + n.p_vaddr);
        size_t off = 0;
        while (off + 12 <= n.p_memsz) {
          uint32_t namesz, descsz, type;
          memcpy(&namesz, p + off, 4);
          memcpy(&descsz, p + off + 4, 4);
          memcpy(&type, p + off + 8, 4);
          size_t name = off + 12, desc = name + ((namesz + 3) & ~3u);
          if (desc + descsz > n.p_memsz) break;
          if (type == NT_GNU_BUILD_ID && namesz == 4 && !memcmp(p + name, "GNU", 4)) {
            static const char hex[] = "0123456789abcdef";
            for (uint32_t k = 0; k < descsz; ++k) {
              want->second += hex[uint8_t(p[desc + k]) >> 4];
              want->second += hex[uint8_t(p[desc + k]) & 15];
            }
            return 1;
          }
          off = desc + ((descsz + 3) & ~3u);
        }
      }
      return 1;
    }
  }
  return 0;
}

}  // namespace

const std::string &AnswerCache::engineBuildId() {
  static const std::string id = [] {
    std::pair<uintptr_t, std::string> want{reinterpret_cast<uintptr_t>(&findBuildId), ""};
    dl_iterate_phdr(findBuildId, &want);
    return want.second;
  }();
  return id;
}

AnswerCache::AnswerCache(std::string path, std::string identity)
    : path_(std::move(path)), identity_(std::move(identity)) {
  std::ifstream f(path_, std::ios::binary);
  if (!f) return;
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() > kMaxFile || bytes.compare(0, sizeof kMagic - 1, kMagic) != 0) return;
  Reader r{bytes, sizeof kMagic - 1};
  if (r.str() != identity_ || !r.ok) return;
  uint32_t n = r.u32();
  if (n > kMaxEntries) return;
  std::map<std::pair<uint64_t, uint64_t>, PcInfo> read;
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    uint64_t vaddr = r.u64(), ret = r.u64();
    PcInfo info;
    info.functionEntry = r.u64();
    info.callTarget = r.u64();
    info.callTargetName = r.str();
    uint32_t flags = r.u32(), chain = r.u32();
    info.inCompileUnit = flags & 1;
    if (chain > kMaxChain) return;
    for (uint32_t k = 0; k < chain && r.ok; ++k) {
      SourceLocation loc;
      loc.function = r.str();
      loc.file = r.str();
      loc.line = r.u32();
      loc.column = r.u32();
      loc.inlined = r.u32() & 1;
      info.chain.push_back(std::move(loc));
    }
    info.scopeUnit = r.u64();
    uint32_t scopes = r.u32();
    if (scopes > kMaxChain) return;
    for (uint32_t k = 0; k < scopes && r.ok; ++k) info.scopeDies.push_back(r.u64());
    read[{vaddr, ret}] = std::move(info);
  }
  std::map<std::pair<uint64_t, uint64_t>, std::vector<uint64_t>> chains;
  uint32_t m = r.u32();
  if (m > kMaxEntries) return;
  for (uint32_t i = 0; i < m && r.ok; ++i) {
    uint64_t first = r.u64(), callee = r.u64();
    uint32_t len = r.u32();
    if (len > kMaxChain) return;
    std::vector<uint64_t> &chain = chains[{first, callee}];
    for (uint32_t k = 0; k < len && r.ok; ++k) chain.push_back(r.u64());
  }
  std::map<uint64_t, std::optional<CallSiteInfo>> sites;
  uint32_t c = r.u32();
  if (c > kMaxEntries) return;
  for (uint32_t i = 0; i < c && r.ok; ++i) {
    uint64_t ra = r.u64();
    std::optional<CallSiteInfo> &site = sites[ra];
    if (!(r.u32() & 1)) continue;  // no call site there
    site.emplace();
    site->target = r.u64();
    site->targetName = r.str();
    site->targetExpr = r.str();
    uint32_t params = r.u32();
    if (params > kMaxChain) return;
    for (uint32_t k = 0; k < params && r.ok; ++k) {
      std::string loc = r.str();
      site->parameters.emplace_back(std::move(loc), r.str());
    }
    site->callerFrameBase = r.str();
  }
  std::set<uint64_t> sound;
  uint32_t u = r.u32();
  if (u > kMaxEntries) return;
  for (uint32_t i = 0; i < u && r.ok; ++i) sound.insert(r.u64());
  std::set<uint64_t> trees;
  uint32_t t = r.u32();
  if (t > kMaxEntries) return;
  for (uint32_t i = 0; i < t && r.ok; ++i) trees.insert(r.u64());
  std::set<uint64_t> contained;
  uint32_t sc = r.u32();
  if (sc > kMaxEntries) return;
  for (uint32_t i = 0; i < sc && r.ok; ++i) contained.insert(r.u64());
  std::optional<UnitLayout> layout;
  if (r.u32() & 1) {
    layout.emplace();
    layout->typeUnits = r.u32() & 1;
    layout->placeholderVersion = uint16_t(r.u32());
    uint32_t spans = r.u32();
    if (spans > kMaxEntries) return;
    uint64_t last = 0;
    for (uint32_t i = 0; i < spans && r.ok; ++i) {
      UnitSpan span{r.u64(), 0};
      span.end = r.u64();
      if (span.offset < last || span.end <= span.offset) return;  // in order, none empty
      last = span.end;
      layout->spans.push_back(span);
    }
  }
  std::map<uint64_t, std::string> names;
  uint32_t fn = r.u32();
  if (fn > kMaxEntries) return;
  for (uint32_t i = 0; i < fn && r.ok; ++i) {
    uint64_t entry = r.u64();
    names[entry] = r.str();
  }
  if (r.ok && r.at == bytes.size()) {  // all of it, or nothing
    answers_ = std::move(read);
    chains_ = std::move(chains);
    callSites_ = std::move(sites);
    soundUnits_ = std::move(sound);
    saneTrees_ = std::move(trees);
    selfContained_ = std::move(contained);
    unitLayout_ = std::move(layout);
    functionNames_ = std::move(names);
  }
}

bool AnswerCache::findFunctionName(uint64_t entry, std::string &out) const {
  auto it = functionNames_.find(entry);
  if (it == functionNames_.end()) return false;
  out = it->second;
  return true;
}

void AnswerCache::addFunctionName(uint64_t entry, const std::string &name) {
  if (functionNames_.size() >= kMaxEntries || name.size() > kMaxString) return;
  auto [it, fresh] = functionNames_.try_emplace(entry, name);
  if (!fresh && it->second == name) return;
  it->second = name;
  dirty_ = true;
}

void AnswerCache::setUnitLayout(const UnitLayout &layout) {
  if (layout.spans.size() > kMaxEntries) return;
  unitLayout_ = layout;
  dirty_ = true;
}

void AnswerCache::addSoundUnit(uint64_t unitOffset) {
  if (soundUnits_.size() >= kMaxEntries) return;
  dirty_ |= soundUnits_.insert(unitOffset).second;
}

void AnswerCache::addSaneTree(uint64_t unitOffset) {
  if (saneTrees_.size() >= kMaxEntries) return;
  dirty_ |= saneTrees_.insert(unitOffset).second;
}

void AnswerCache::addSelfContained(uint64_t unitOffset) {
  if (selfContained_.size() >= kMaxEntries) return;
  dirty_ |= selfContained_.insert(unitOffset).second;
}

bool AnswerCache::findChain(uint64_t firstTarget, uint64_t calleePc, std::vector<uint64_t> &out) const {
  auto it = chains_.find({firstTarget, calleePc});
  if (it == chains_.end()) return false;
  out = it->second;
  return true;
}

void AnswerCache::addChain(uint64_t firstTarget, uint64_t calleePc, const std::vector<uint64_t> &chain) {
  if (chains_.size() >= kMaxEntries || chain.size() > kMaxChain) return;
  chains_[{firstTarget, calleePc}] = chain;
  dirty_ = true;
}

bool AnswerCache::findCallSite(uint64_t returnAddress, std::optional<CallSiteInfo> &out) const {
  auto it = callSites_.find(returnAddress);
  if (it == callSites_.end()) return false;
  out = it->second;
  return true;
}

void AnswerCache::addCallSite(uint64_t returnAddress, const std::optional<CallSiteInfo> &info) {
  if (callSites_.size() >= kMaxEntries || (info && info->parameters.size() > kMaxChain)) return;
  callSites_[returnAddress] = info;
  dirty_ = true;
}

bool AnswerCache::find(uint64_t vaddr, uint64_t returnAddress, PcInfo &out) const {
  auto it = answers_.find({vaddr, returnAddress});
  if (it == answers_.end()) return false;
  out = it->second;
  return true;
}

void AnswerCache::add(uint64_t vaddr, uint64_t returnAddress, const PcInfo &info) {
  if (answers_.size() >= kMaxEntries || info.chain.size() > kMaxChain) return;
  PcInfo kept = info;
  for (SourceLocation &l : kept.chain) l.variables.clear();
  answers_[{vaddr, returnAddress}] = std::move(kept);
  dirty_ = true;
}

void AnswerCache::save() {
  if (!dirty_ || path_.empty()) return;
  dirty_ = false;
  std::string o(kMagic);
  putStr(o, identity_);
  putU32(o, uint32_t(answers_.size()));
  for (const auto &[key, info] : answers_) {
    putU64(o, key.first);
    putU64(o, key.second);
    putU64(o, info.functionEntry);
    putU64(o, info.callTarget);
    putStr(o, info.callTargetName);
    putU32(o, info.inCompileUnit ? 1 : 0);
    putU32(o, uint32_t(info.chain.size()));
    for (const SourceLocation &l : info.chain) {
      putStr(o, l.function);
      putStr(o, l.file);
      putU32(o, l.line);
      putU32(o, l.column);
      putU32(o, l.inlined ? 1 : 0);
    }
    putU64(o, info.scopeUnit);
    putU32(o, uint32_t(info.scopeDies.size()));
    for (uint64_t d : info.scopeDies) putU64(o, d);
  }
  putU32(o, uint32_t(chains_.size()));
  for (const auto &[key, chain] : chains_) {
    putU64(o, key.first);
    putU64(o, key.second);
    putU32(o, uint32_t(chain.size()));
    for (uint64_t pc : chain) putU64(o, pc);
  }
  putU32(o, uint32_t(callSites_.size()));
  for (const auto &[ra, site] : callSites_) {
    putU64(o, ra);
    putU32(o, site ? 1 : 0);
    if (!site) continue;
    putU64(o, site->target);
    putStr(o, site->targetName);
    putStr(o, site->targetExpr);
    putU32(o, uint32_t(site->parameters.size()));
    for (const auto &[loc, value] : site->parameters) {
      putStr(o, loc);
      putStr(o, value);
    }
    putStr(o, site->callerFrameBase);
  }
  putU32(o, uint32_t(soundUnits_.size()));
  for (uint64_t off : soundUnits_) putU64(o, off);
  putU32(o, uint32_t(saneTrees_.size()));
  for (uint64_t off : saneTrees_) putU64(o, off);
  putU32(o, uint32_t(selfContained_.size()));
  for (uint64_t off : selfContained_) putU64(o, off);
  putU32(o, unitLayout_ ? 1 : 0);
  if (unitLayout_) {
    putU32(o, unitLayout_->typeUnits ? 1 : 0);
    putU32(o, unitLayout_->placeholderVersion);
    putU32(o, uint32_t(unitLayout_->spans.size()));
    for (const UnitSpan &span : unitLayout_->spans) {
      putU64(o, span.offset);
      putU64(o, span.end);
    }
  }
  putU32(o, uint32_t(functionNames_.size()));
  for (const auto &[entry, name] : functionNames_) {
    putU64(o, entry);
    putStr(o, name);
  }
  if (o.size() > kMaxFile) return;
  llvm::SmallString<256> dir(path_);
  llvm::sys::path::remove_filename(dir);
  if (llvm::sys::fs::create_directories(dir)) return;
  std::string tmp = path_ + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(o.data(), std::streamsize(o.size()));
    if (!f) {
      f.close();
      unlink(tmp.c_str());
      return;
    }
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) unlink(tmp.c_str());
}

}  // namespace bt
