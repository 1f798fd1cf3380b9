#include "analysis/security_checks.h"

#include "support/hex.h"

#include "symbols/elf_file.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>

#include <algorithm>
#include <cstring>

namespace bt {

namespace {

std::string perms(const MemoryRegion &r) {
  return std::string(r.perms & PermRead ? "r" : "-") + (r.perms & PermWrite ? "w" : "-") +
         (r.perms & PermExec ? "x" : "-");
}

std::string name(const MemoryRegion &r) { return r.path.empty() ? "anonymous" : r.path; }

// In a module's file mappings, or in the anonymous mapping right after one (its .bss).
bool inModule(const Target &t, uint64_t a) {
  if (t.moduleFor(a)) return true;
  const MemoryRegion *r = t.regionFor(a);
  if (!r || !r->path.empty()) return false;
  for (const ModuleInfo &m : t.modules())
    if (m.end == r->start) return true;
  return false;
}

void writableExecutable(const Target &t, std::vector<Classification> &out) {
  std::vector<const MemoryRegion *> wx;
  for (const MemoryRegion &r : t.regions())
    if ((r.perms & PermWrite) && (r.perms & PermExec)) wx.push_back(&r);
  if (wx.empty()) return;
  Classification c = makeClassification("security-wx-mapping", "probably_exploitable", "writable-executable",
                             std::to_string(wx.size()) + " mapping(s) are writable and executable: "
                             "injected code can run there (or a JIT keeps its code there)");
  for (const MemoryRegion *r : wx)
    c.evidence.push_back({"mapping", hexU64(r->start) + "-" + hexU64(r->end) + " " + perms(*r) + " " + name(*r)});
  out.push_back(std::move(c));
}

void modifiedCode(Target &t, Symbolizer &symbols, const SecurityOptions &opts,
                  std::vector<Classification> &out) {
  if (llvm::StringRef(t.kind()) != "live") return;  // elsewhere the text comes from the file
  uint64_t budget = opts.maxCodeBytes;
  std::vector<uint8_t> mem(64 * 1024);
  for (const MemoryRegion &r : t.regions()) {
    if (!(r.perms & PermExec) || r.path.empty() || r.path[0] == '[') continue;
    const ModuleInfo *m = t.moduleFor(r.start);
    if (!m || !Target::fileUsable(*m)) continue;
    ModuleSymbols *ms = symbols.forModule(*m);
    const ElfFile *file = ms ? ms->binary() : nullptr;
    if (!file) continue;
    llvm::StringRef bytes = file->buffer()->getBuffer();
    uint64_t differing = 0, first = 0;
    for (uint64_t at = r.start; at < r.end && budget; at += mem.size()) {
      uint64_t off = r.fileOffset + (at - r.start);
      if (off >= bytes.size()) break;
      size_t len = size_t(std::min<uint64_t>({mem.size(), r.end - at, bytes.size() - off, budget}));
      size_t got = t.scanMemory(at, mem.data(), len);
      budget -= len;
      for (size_t i = 0; i < got; ++i)
        if (mem[i] != uint8_t(bytes[off + i])) {
          if (!differing) first = at + i;
          ++differing;
        }
    }
    if (!differing) continue;
    Classification c = makeClassification("security-modified-code", "exploitable", "code-differs-from-file",
                               std::to_string(differing) + " byte(s) of " + m->path +
                                   "'s code differ from the file, the first at " + hexU64(first) +
                                   " (patched code, or a debugger's breakpoints)");
    c.evidence.push_back({"module", m->path});
    c.evidence.push_back({"first_difference", hexU64(first)});
    c.evidence.push_back({"differing_bytes", std::to_string(differing)});
    out.push_back(std::move(c));
  }
}

void gotEntries(Target &t, Symbolizer &symbols, std::vector<Classification> &out) {
  for (const ModuleInfo &m : t.modules()) {
    if (!Target::fileUsable(m)) continue;
    ModuleSymbols *ms = symbols.forModule(m);
    const ElfFile *file = ms ? ms->binary() : nullptr;
    if (!file) continue;
    for (const char *section : {".got", ".got.plt"}) {
      const ElfSection *s = file->section(section);
      if (!s || !s->address || s->data.size() < 8) continue;
      size_t n = std::min<size_t>(s->data.size() / 8, 65536);
      std::vector<uint64_t> got(n);
      size_t read = t.scanMemory(s->address + m.loadBias, got.data(), n * 8) / 8;
      // .got.plt's first three entries are the loader's (_DYNAMIC, link map, resolver).
      for (size_t i = llvm::StringRef(section) == ".got.plt" ? 3 : 0; i < read; ++i) {
        uint64_t v = got[i];
        // Not pointers: 0, TLS module ids and offsets, negative TLS offsets.
        if (v < 0x10000 || v >= 0xffff800000000000ull) continue;
        const MemoryRegion *r = t.regionFor(v);
        // Function slots point at code, data slots at a module's objects: never elsewhere.
        if (inModule(t, v)) continue;
        uint64_t slot = s->address + m.loadBias + 8 * i;
        Classification c = makeClassification("security-got-hijack", "exploitable", "got-outside-modules",
                                   "the GOT entry at " + hexU64(slot) + " of " + m.path + " points to " +
                                       hexU64(v) + ", outside every module (" +
                                       (r ? name(*r) + " " + perms(*r) : std::string("no mapping")) +
                                       "): calls through it go there");
        c.evidence.push_back({"module", m.path});
        c.evidence.push_back({"slot", hexU64(slot)});
        c.evidence.push_back({"target", hexU64(v)});
        out.push_back(std::move(c));
        if (out.size() > 64) return;  // a corrupted table: enough said
      }
    }
  }
}

void pcOutsideModules(const Target &t, std::vector<Classification> &out) {
  for (const ThreadInfo &th : t.threads()) {
    uint64_t pc = th.regs.rip;
    if (!pc || inModule(t, pc)) continue;
    const MemoryRegion *r = t.regionFor(pc);
    if (r && r->path.size() > 1 && r->path[0] == '[' && (r->path == "[vdso]" || r->path == "[vsyscall]"))
      continue;
    Classification c = makeClassification("security-pc-outside-modules", "probably_exploitable", "pc-outside-modules",
                               "thread " + std::to_string(th.tid) + " executes at " + hexU64(pc) +
                                   ", outside every module (" +
                                   (r ? name(*r) + " " + perms(*r) : std::string("no mapping")) +
                                   "): injected code, or a JIT's");
    c.evidence.push_back({"thread", std::to_string(th.tid)});
    c.evidence.push_back({"pc", hexU64(pc)});
    out.push_back(std::move(c));
  }
}

}  // namespace

std::vector<Classification> runSecurityChecks(Target &target, Symbolizer &symbols,
                                              const SecurityOptions &opts) {
  std::vector<Classification> out;
  writableExecutable(target, out);
  pcOutsideModules(target, out);
  gotEntries(target, symbols, out);
  modifiedCode(target, symbols, opts, out);
  return out;
}

}  // namespace bt
