// The Breakpad symbol writer (symbols/breakpad_writer.h): the .sym of this test binary parses
// back with its MODULE id and a known function; on the fixture binaries, every address of every
// FUNC gives through the .sym what the symbolizer gives through DWARF (function, file, line,
// inline chain), and every STACK CFI rule recovers, on a made-up register and memory state, what
// the unwinder's own CFI reader (unwind/cfi.h) recovers from .eh_frame; rows Breakpad cannot
// express (DWARF expressions) have no rule at all. Errors are clear.
#include "support/error.h"
#include "symbols/breakpad_symbols.h"
#include "symbols/breakpad_writer.h"
#include "symbols/elf_file.h"
#include "symbols/gdb_names.h"
#include "symbols/symbolizer.h"
#include "target/breakpad_ids.h"
#include "unwind/breakpad_cfi.h"
#include "unwind/cfi.h"

#include <gtest/gtest.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>
#include <sstream>

using namespace bt;

namespace bpw_test {
// A function this binary surely has, with a name and a line to look for.
__attribute__((noinline)) int breakpadWriterMarker(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;  // kMarkerLine
}
constexpr uint32_t kMarkerLine = __LINE__ - 2;
}  // namespace bpw_test

namespace {

std::string symText(const std::string &path, const BreakpadWriteOptions &opts, BreakpadWriteStats *stats = nullptr,
                    std::vector<std::string> *warningsOut = nullptr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  std::vector<std::string> warnings;
  auto st = writeBreakpadSymbols(path, os, opts, warnings);
  EXPECT_TRUE(bool(st)) << (st ? "" : llvm::toString(st.takeError()));
  os.flush();
  if (st && stats) *stats = *st;
  if (warningsOut) *warningsOut = warnings;
  return text;
}

std::string selfPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

}  // namespace

TEST(BreakpadWriter, TheTestBinaryItselfParsesBackWithItsIdAndAKnownFunction) {
  std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  auto elf = ElfFile::open(self);
  ASSERT_TRUE(bool(elf)) << llvm::toString(elf.takeError());
  ASSERT_FALSE((*elf)->buildId().empty()) << "the test binary has no build-id";
  BreakpadWriteStats stats;
  std::string text = symText(self, {}, &stats);
  auto syms = BreakpadSymbols::parse(text);
  ASSERT_TRUE(bool(syms)) << llvm::toString(syms.takeError());
  EXPECT_EQ(syms->malformedLines(), 0u);
  EXPECT_EQ(syms->os(), "Linux");
  EXPECT_EQ(syms->arch(), "x86_64");
  EXPECT_EQ(syms->debugId(), breakpadDebugId((*elf)->buildId()));
  EXPECT_EQ(syms->codeId(), breakpadCodeId((*elf)->buildId()));
  EXPECT_EQ(syms->name(), llvm::sys::path::filename(self).str());
  EXPECT_EQ(syms->functionCount(), stats.functions);
  EXPECT_GT(stats.lines, 1000u);
  EXPECT_GT(stats.cfiInits, 100u);
  EXPECT_EQ(stats.bytes, text.size());

  // The marker by its module-relative address (the mapping's start is the module's base).
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void *>(&bpw_test::breakpadWriterMarker), &info), 0);
  uint64_t rel = reinterpret_cast<uintptr_t>(&bpw_test::breakpadWriterMarker) -
                 reinterpret_cast<uintptr_t>(info.dli_fbase);
  EXPECT_EQ(syms->functionStart(rel), std::optional<uint64_t>(rel));
  std::vector<BreakpadSymbols::Location> chain = syms->lookup(rel);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].function, "bpw_test::breakpadWriterMarker(int)");  // dump_syms's spelling
  EXPECT_EQ(breakpadFunctionName(chain[0].function), "bpw_test::breakpadWriterMarker");
  EXPECT_EQ(llvm::sys::path::filename(chain[0].file), "breakpad_writer_test.cpp");
  // One of the marker's line records is its return statement's.
  bool returnLine = false;
  for (uint64_t a = rel; a == rel || syms->functionStart(a) == std::optional<uint64_t>(rel); ++a)
    returnLine |= syms->lookup(a)[0].line == bpw_test::kMarkerLine;
  EXPECT_TRUE(returnLine);
  // Its CFI at entry: the return address just pushed.
  auto rules = syms->cfiRules(rel);
  ASSERT_TRUE(rules.has_value());
  EXPECT_EQ((*rules)[".cfa"], "$rsp 8 +");
  EXPECT_EQ((*rules)[".ra"], ".cfa -8 + ^");
}

TEST(BreakpadWriter, ClearErrors) {
  std::string dir = testing::TempDir();
  std::string text = dir + "/bpw_not_elf.txt";
  std::ofstream(text) << "hello, this is not an ELF file\n";
  for (auto [path, kind, words] :
       {std::tuple<std::string, ErrorKind, std::string>{dir + "/bpw_no_such_file", ErrorKind::MissingFile,
                                                        "no such file"},
        {text, ErrorKind::BadInput, "not an ELF file"},
        {dir, ErrorKind::BadInput, "not a regular file"}}) {
    std::string out;
    llvm::raw_string_ostream os(out);
    std::vector<std::string> warnings;
    auto st = writeBreakpadSymbols(path, os, {}, warnings);
    ASSERT_FALSE(bool(st)) << path;
    ErrorReport r = takeErrorReport(st.takeError());
    EXPECT_EQ(r.kind, kind) << r.message;
    EXPECT_NE(r.message.find(words), std::string::npos) << r.message;
    EXPECT_TRUE(out.empty());
    auto id = breakpadIdentity(path);
    EXPECT_FALSE(bool(id));
    llvm::consumeError(id.takeError());
  }
  // Into a file: nothing is left behind when the input is bad, or the directory is missing.
  std::vector<std::string> warnings;
  auto st = writeBreakpadSymbolFile(text, dir + "/bpw_out.sym", {}, warnings);
  EXPECT_FALSE(bool(st));
  llvm::consumeError(st.takeError());
  struct stat sb;
  EXPECT_NE(stat((dir + "/bpw_out.sym").c_str(), &sb), 0);
  st = writeBreakpadSymbolFile(selfPath(), dir + "/bpw_missing_dir/x.sym", {}, warnings);
  ASSERT_FALSE(bool(st));
  EXPECT_EQ(takeErrorReport(st.takeError()).kind, ErrorKind::MissingFile);
  unlink(text.c_str());
}

#ifdef BT_FIXTURE_BIN_DIR

namespace {

// Every fixture binary of the C and C++ programs, every variant.
std::vector<std::string> fixtureNames() {
  std::vector<std::string> out;
  if (DIR *d = opendir(BT_FIXTURE_BIN_DIR)) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      for (const char *p : {"deep_c.", "recursion_c.", "sighandler_c.", "libc_crash_c.", "vars_c.", "threads_cpp.",
                            "templates_cpp.", "vars_cpp."})
        if (n.rfind(p, 0) == 0) out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) out.push_back("(no fixtures built)");
  // More binaries to check the same way, by absolute path (e.g. /lib/x86_64-linux-gnu/libc.so.6
  // with its debug file installed): BT_BREAKPAD_WRITER_EXTRA=path:path.
  if (const char *extra = getenv("BT_BREAKPAD_WRITER_EXTRA")) {
    llvm::SmallVector<llvm::StringRef, 4> paths;
    llvm::StringRef(extra).split(paths, ':', -1, false);
    for (llvm::StringRef p : paths) out.push_back(p.str());
  }
  return out;
}

struct Func {
  uint64_t addr, size;
};

std::vector<Func> funcRecords(const std::string &text) {
  std::vector<Func> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("FUNC ", 0) != 0) continue;
    std::istringstream f(line.substr(5));
    std::string a, n;
    f >> a;
    if (a == "m") f >> a;
    f >> n;
    out.push_back(Func{std::stoull(a, nullptr, 16), std::stoull(n, nullptr, 16)});
  }
  return out;
}

// The .sym's name (dump_syms's spelling) read back as the reader does, against the symbolizer's,
// but for one difference of the reader (breakpadFunctionName), pinned by cause:
// - return-type-around-name: a function returning a pointer to function or member is spelled
//   with its name inside the return type ("void (W::*&std::__get_helper<...>(...))"), which the
//   reader cannot take apart.
std::map<std::string, size_t> pinned;
bool sameFunction(const std::string &symName, const std::string &dwarfName) {
  std::string read = breakpadFunctionName(symName);
  if (read == dwarfName) return true;
  size_t at = symName.find(dwarfName + "(");
  if (at != std::string::npos && at > 0 && symName.find('(') < at) {
    ++pinned["return-type-around-name"];
    return true;
  }
  return false;
}

// A made-up callee state: distinct register values and memory that is a function of its address.
uint64_t regValue(int r) { return r == 7 ? 0x7ffd00001000ull : 0x1000000ull + 0x10000ull * (r + 1); }
uint64_t memValue(uint64_t a) { return (a * 0x9E3779B97F4A7C15ull) ^ 0x5a5a; }

}  // namespace

class BreakpadWriterFixtures : public ::testing::TestWithParam<std::string> {};

TEST_P(BreakpadWriterFixtures, EveryAddressAgreesWithDwarfAndEhFrame) {
  std::string path = GetParam()[0] == '/' ? GetParam() : std::string(BT_FIXTURE_BIN_DIR) + "/" + GetParam();
  struct stat sb;
  ASSERT_EQ(stat(path.c_str(), &sb), 0) << "fixture " << path << " not built";
  BreakpadWriteOptions opts;
  opts.debugDirs = {std::string(BT_FIXTURE_BIN_DIR) + "/../debug"};
  std::string text = symText(path, opts);
  auto syms = BreakpadSymbols::parse(text);
  ASSERT_TRUE(bool(syms)) << llvm::toString(syms.takeError());
  EXPECT_EQ(syms->malformedLines(), 0u);

  auto elf = ElfFile::open(path);
  ASSERT_TRUE(bool(elf));
  auto obj = llvm::object::ELF64LEObjectFile::create((*elf)->buffer()->getMemBufferRef());
  ASSERT_TRUE(bool(obj));
  uint64_t base = UINT64_MAX;
  auto phdrs = obj->getELFFile().program_headers();
  ASSERT_TRUE(bool(phdrs));
  for (const auto &ph : *phdrs)
    if (ph.p_type == llvm::ELF::PT_LOAD) base = std::min<uint64_t>(base, ph.p_vaddr);
  base &= ~uint64_t(0xfff);

  // Symbols: every byte of every FUNC, through the symbolizer (DWARF) and through the .sym.
  ModuleInfo mod;
  mod.path = path;
  mod.start = base;
  mod.buildId = (*elf)->buildId();
  SymbolizerOptions so;
  so.debugDirs = opts.debugDirs;
  ModuleSymbols ms(mod, so);
  ASSERT_TRUE(ms.hasDwarf());
  std::vector<PcQuery> queries;
  for (const Func &f : funcRecords(text))
    for (uint64_t a = f.addr; a < f.addr + f.size; ++a) queries.push_back(PcQuery{base + a, 0, nullptr});
  ASSERT_GT(queries.size(), 100u);
  std::vector<PcInfo> dwarf = ms.symbolizeBatch(queries);
  size_t bad = 0, inlined = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    std::vector<BreakpadSymbols::Location> sym = syms->lookup(queries[i].vaddr - base);
    const std::vector<SourceLocation> &dw = dwarf[i].chain;
    bool same = sym.size() == dw.size();
    for (size_t k = 0; same && k < dw.size(); ++k)
      same = sameFunction(sym[k].function, dw[k].function) && sym[k].file == dw[k].file &&
             sym[k].line == dw[k].line && sym[k].inlined == dw[k].inlined;
    inlined += dw.size() > 1;
    if (!same && ++bad <= 5) {
      auto text = [](const std::string &fn, const std::string &file, uint32_t line, bool inl) {
        return " | " + fn + " " + file + ":" + std::to_string(line) + (inl ? " (inl)" : "");
      };
      std::string d, s;
      for (const auto &l : dw) d += text(l.function, l.file, l.line, l.inlined);
      for (const auto &l : sym) s += text(breakpadFunctionName(l.function), l.file, l.line, l.inlined);
      ADD_FAILURE() << std::hex << queries[i].vaddr << ": DWARF" << d << "\n  .sym" << s;
    }
  }
  EXPECT_EQ(bad, 0u) << "of " << queries.size() << " addresses";
  for (const auto &[cause, n] : pinned) RecordProperty("pinned-" + cause, std::to_string(n));
  pinned.clear();
  if (GetParam().find("-O2-") != std::string::npos && GetParam().rfind("vars_c", 0) == 0) {
    EXPECT_GT(inlined, 0u) << "an -O2 vars_c has inlined calls";
  }

  // CFI: every address of every FUNC, .eh_frame's row (our reader) against the .sym's rules.
  CfiSection eh, hdr, none;
  if (const ElfSection *s = (*elf)->section(".eh_frame")) eh = {s->data, s->address, true};
  if (const ElfSection *s = (*elf)->section(".eh_frame_hdr")) hdr = {s->data, s->address, true};
  CfiTable table(eh, hdr, none);
  std::map<std::string, uint64_t> callee;
  static const char *const kNames[17] = {"$rax", "$rdx", "$rcx", "$rbx", "$rsi", "$rdi", "$rbp", "$rsp", "$r8",
                                         "$r9",  "$r10", "$r11", "$r12", "$r13", "$r14", "$r15", "$rip"};
  for (int r = 0; r < 17; ++r) callee[kNames[r]] = regValue(r);
  MemoryReader read = [](uint64_t a, void *buf, size_t n) {
    uint64_t v = memValue(a);
    memcpy(buf, &v, std::min<size_t>(n, 8));
    return n;
  };
  size_t compared = 0, expressions = 0, cfiBad = 0;
  for (const PcQuery &q : queries) {
    std::optional<CfiRow> row = table.rowFor(q.vaddr);
    auto rules = syms->cfiRules(q.vaddr - base);
    auto fail = [&](const std::string &why) {
      if (++cfiBad <= 5) ADD_FAILURE() << std::hex << q.vaddr << ": " << why;
    };
    if (!row) {
      if (rules) fail("STACK CFI where .eh_frame has no row");
      continue;
    }
    bool expr = row->cfaIsExpr || row->returnAddressReg != 16;
    for (const RegRule &r : row->regs) expr |= r.kind == RegRule::Expression || r.kind == RegRule::ValExpression;
    if (expr) {
      ++expressions;
      if (rules) fail("STACK CFI for a row Breakpad cannot express");
      continue;
    }
    if (!rules) {
      fail("no STACK CFI for an expressible row");
      continue;
    }
    auto caller = applyBreakpadCfi(*rules, callee, read);
    if (!caller) {
      fail(llvm::toString(caller.takeError()));
      continue;
    }
    uint64_t cfa = regValue(row->cfaReg) + row->cfaOffset;
    auto value = [&](int r) -> std::optional<uint64_t> {
      const RegRule &rule = row->regs[r];
      switch (rule.kind) {
        case RegRule::Unspecified:
        case RegRule::SameValue: return regValue(r);
        case RegRule::Offset: return memValue(cfa + rule.offset);
        case RegRule::ValOffset: return cfa + rule.offset;
        case RegRule::Register: return regValue(rule.reg);
        default: return std::nullopt;  // undefined
      }
    };
    std::string why;
    if ((*caller)["$rsp"] != cfa) why += " rsp";
    std::optional<uint64_t> ra = row->regs[16].kind == RegRule::Undefined ? std::optional<uint64_t>(0) : value(16);
    if (!ra || (*caller)["$rip"] != *ra) why += " rip";
    for (int r : {3, 6, 12, 13, 14, 15}) {
      std::optional<uint64_t> want = value(r);
      if (!want) continue;
      auto it = caller->find(kNames[r]);
      uint64_t got = it == caller->end() ? regValue(r) : it->second;  // no rule: kept, as the unwinder does
      if (got != *want) why += std::string(" ") + kNames[r];
    }
    if (!why.empty()) fail("caller's" + why + " differ");
    ++compared;
  }
  EXPECT_EQ(cfiBad, 0u);
  EXPECT_GT(compared, queries.size() / 2) << expressions << " rows with expressions";

  // Without CFI: no STACK records, the rest the same.
  BreakpadWriteOptions noCfi = opts;
  noCfi.cfi = false;
  std::string bare = symText(path, noCfi);
  EXPECT_EQ(bare.find("STACK CFI"), std::string::npos);
  EXPECT_EQ(bare, text.substr(0, text.find("STACK CFI")));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BreakpadWriterFixtures, ::testing::ValuesIn(fixtureNames()),
                         [](const auto &info) {
                           std::string n = info.param;
                           for (char &c : n)
                             if (!isalnum((unsigned char)c)) c = '_';
                           return n;
                         });

#endif  // BT_FIXTURE_BIN_DIR
