// Symbol-layer unit tests: gdb-style function names, debug-file search order, and lazy inflation
// of compressed debug sections with the build-id cache (on the compressed fixture binaries).
#include "symbols/answer_cache.h"
#include "symbols/debug_file_locator.h"
#include "symbols/dwarf_sections.h"
#include "symbols/elf_file.h"
#include "symbols/symbolizer.h"

#include <gtest/gtest.h>
#include <llvm/Support/Compression.h>
#include <llvm/Support/FileSystem.h>

#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace bt;

TEST(DisplayName, MatchesGdbSpelling) {
  EXPECT_EQ(displayFunctionName("main"), "main");
  EXPECT_EQ(displayFunctionName("_ZN4tmpl11AccumulatorIlE3addEl"), "tmpl::Accumulator<long>::add");
  EXPECT_EQ(displayFunctionName("_ZN4tmpl10crash_siteIlEEvT_"), "tmpl::crash_site<long>");
  // GNU closure spelling (gdb, c++filt), not LLVM's 'lambda'(int).
  EXPECT_EQ(displayFunctionName("_ZZ4mainENKUliE_clEi"), "main::{lambda(int)#1}::operator()");
  EXPECT_EQ(displayFunctionName("_ZZ4mainENKUliE0_clEi"), "main::{lambda(int)#2}::operator()");
  EXPECT_EQ(displayFunctionName("_ZZ4mainENKUlvE_clEv"), "main::{lambda()#1}::operator()");
  // Not a valid mangling: kept as is.
  EXPECT_EQ(displayFunctionName("_Zgarbage"), "_Zgarbage");
}

TEST(DebugFileLocator, SearchOrder) {
  DebugFileQuery q{"/opt/app/bin/server", "abcdef0123", "server.debug"};
  auto c = debugFileCandidates(q, {"/my/debug"});
  ASSERT_GE(c.size(), 6u);
  EXPECT_EQ(c[0], "/my/debug/.build-id/ab/cdef0123.debug");
  EXPECT_EQ(c[1], "/usr/lib/debug/.build-id/ab/cdef0123.debug");
  EXPECT_EQ(c[2], "/opt/app/bin/server.debug");
  EXPECT_EQ(c[3], "/opt/app/bin/.debug/server.debug");
  EXPECT_EQ(c[4], "/my/debug/opt/app/bin/server.debug");
  EXPECT_EQ(c[5], "/usr/lib/debug/opt/app/bin/server.debug");
  // A debuglink with a slash would escape the search directories: ignored.
  DebugFileQuery evil{"/bin/x", "", "../../etc/passwd"};
  EXPECT_TRUE(debugFileCandidates(evil, {}).empty());
}

// Compressed sections as a hostile or damaged file may hold them: every wrong one is a clear error
// (never a crash, a hang or a wrong section), the right ones inflate exactly.
static std::string compressedSection(uint32_t type, uint64_t claimed, llvm::StringRef data) {
  llvm::SmallVector<uint8_t, 0> packed;
  llvm::ArrayRef<uint8_t> in(reinterpret_cast<const uint8_t *>(data.data()), data.size());
  if (type == 1) llvm::compression::zlib::compress(in, packed);
  else llvm::compression::zstd::compress(in, packed);
  std::string raw(24, '\0');
  memcpy(raw.data(), &type, 4);
  memcpy(raw.data() + 8, &claimed, 8);
  return raw + std::string(packed.begin(), packed.end());
}

TEST(InflateSection, ExactSizesAndChecksumsOrAClearError) {
  std::string data;
  for (int i = 0; i < 300000; ++i) data += char('a' + i % 7 + (i / 1000) % 3);
  for (uint32_t type : {1u, 2u}) {
    SCOPED_TRACE(type == 1 ? "zlib" : "zstd");
    auto good = inflateSection(".debug_info", compressedSection(type, data.size(), data));
    ASSERT_TRUE(bool(good)) << llvm::toString(good.takeError());
    EXPECT_EQ((*good)->getBuffer(), data);
    auto message = [](llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> r) {
      EXPECT_FALSE(bool(r));
      return r ? std::string("inflated") : llvm::toString(r.takeError());
    };
    EXPECT_NE(message(inflateSection(".debug_info", compressedSection(type, data.size() + 1, data)))
                  .find("ends before the size its header gives"), std::string::npos);
    EXPECT_NE(message(inflateSection(".debug_info", compressedSection(type, data.size() - 1, data)))
                  .find("longer than the size its header gives"), std::string::npos);
    std::string cut = compressedSection(type, data.size(), data);
    cut.resize(cut.size() / 2);
    EXPECT_NE(message(inflateSection(".debug_info", cut)).find("cannot decompress section .debug_info"),
              std::string::npos);
    std::string garbage = compressedSection(type, data.size(), data);
    for (size_t i = 40; i < garbage.size(); i += 97) garbage[i] ^= 0x5a;
    EXPECT_NE(message(inflateSection(".debug_info", garbage)).find(".debug_info"), std::string::npos);
  }
  std::string flipped = compressedSection(1, data.size(), data);
  flipped.back() ^= 1;  // the Adler-32 at the end of the zlib stream
  EXPECT_NE(llvm::toString(inflateSection(".debug_str", flipped).takeError()).find("checksum"),
            std::string::npos);
  EXPECT_NE(llvm::toString(inflateSection(".debug_str", compressedSection(1, uint64_t(1) << 40, data))
                               .takeError()).find("absurd size"), std::string::npos);
  EXPECT_NE(llvm::toString(inflateSection(".debug_str", compressedSection(9, data.size(), data))
                               .takeError()).find("unknown compression type 9"), std::string::npos);
  EXPECT_NE(llvm::toString(inflateSection(".debug_str", "short").takeError()).find("truncated header"),
            std::string::npos);
}

// A section of many chunks goes to the cache through the background writer (two buffers
// alternating): the cached bytes must be the section's, in order, however the writes interleave
// with inflation.
TEST(InflateSection, LargeSectionsAreCachedExactly) {
  char tmpl[] = "/tmp/bt_large_section_XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl;
  // 20 MiB of numbered lines: compressible (objcopy keeps a section that does not shrink
  // uncompressed), and a chunk written twice or out of place shows.
  std::string blob;
  for (size_t line = 0; blob.size() < (20u << 20); ++line) blob += "line " + std::to_string(line) + " of the blob\n";
  std::ofstream(dir + "/blob", std::ios::binary).write(blob.data(), std::streamsize(blob.size()));
  std::ofstream(dir + "/m.c") << "int main(void) { return 0; }\n";
  std::string cmd = "cc -Wl,--build-id -o '" + dir + "/m' '" + dir + "/m.c' && objcopy --add-section .debug_str='" +
                    dir + "/blob' '" + dir + "/m' && objcopy --compress-debug-sections=zlib '" + dir + "/m'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto elf = ElfFile::open(dir + "/m");
  ASSERT_TRUE(bool(elf)) << llvm::toString(elf.takeError());
  const ElfSection *str = (*elf)->section(".debug_str");
  ASSERT_TRUE(str && str->compressed);
  DwarfSectionStats first, second;
  auto secs = loadDwarfSections(**elf, {"debug_str"}, dir + "/cache", &first);
  ASSERT_TRUE(bool(secs)) << llvm::toString(secs.takeError());
  EXPECT_EQ(first.inflated, 1u);
  EXPECT_TRUE((*secs)["debug_str"]->getBuffer() == blob);
  auto again = loadDwarfSections(**elf, {"debug_str"}, dir + "/cache", &second);
  ASSERT_TRUE(bool(again));
  EXPECT_EQ(second.fromCache, 1u);
  EXPECT_TRUE((*again)["debug_str"]->getBuffer() == blob);
  llvm::sys::fs::remove_directories(dir);
}

#ifdef BT_FIXTURE_BIN_DIR
static std::string fixture(const std::string &name) {
  std::string p = std::string(BT_FIXTURE_BIN_DIR) + "/" + name;
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? p : std::string();
}

static std::string tempDir() {
  char tmpl[] = "/tmp/bt_cache_test_XXXXXX";
  return mkdtemp(tmpl);
}

class CompressedSections : public ::testing::TestWithParam<const char *> {};

TEST_P(CompressedSections, InflatedOnlyWhenAskedAndCachedByBuildId) {
  std::string path = fixture(GetParam());
  ASSERT_FALSE(path.empty()) << "fixture " << GetParam() << " not built";
  auto elf = ElfFile::open(path);
  ASSERT_TRUE(bool(elf)) << llvm::toString(elf.takeError());
  const ElfSection *info = (*elf)->section(".debug_info");
  ASSERT_TRUE(info && info->compressed) << "fixture must have a compressed .debug_info";
  ASSERT_FALSE((*elf)->buildId().empty());

  std::string cache = tempDir();
  DwarfSectionStats first;
  auto secs = loadDwarfSections(**elf, {"debug_info", "debug_abbrev"}, cache, &first);
  ASSERT_TRUE(bool(secs)) << llvm::toString(secs.takeError());
  EXPECT_GE(first.inflated, 1u);
  EXPECT_EQ(first.fromCache, 0u);
  EXPECT_FALSE(secs->count("debug_line")) << "only requested sections are loaded";
  // The inflated .debug_info starts with a unit header of the right DWARF version.
  llvm::StringRef data = (*secs)["debug_info"]->getBuffer();
  ASSERT_GT(data.size(), 8u);
  uint16_t version;
  memcpy(&version, data.data() + 4, 2);
  EXPECT_TRUE(version == 4 || version == 5) << version;
  std::string cached = cache + "/" + (*elf)->buildId() + "/debug_info";
  struct stat st;
  ASSERT_EQ(stat(cached.c_str(), &st), 0) << cached;
  EXPECT_EQ(uint64_t(st.st_size), data.size());

  DwarfSectionStats second;
  auto again = loadDwarfSections(**elf, {"debug_info", "debug_abbrev"}, cache, &second);
  ASSERT_TRUE(bool(again));
  EXPECT_EQ(second.inflated, 0u) << "second load must come from the cache";
  EXPECT_EQ(second.fromCache, first.inflated);
  EXPECT_EQ((*again)["debug_info"]->getBuffer(), data);

  // A cache file cut short (disk full, killed writer) is ignored, not trusted.
  ASSERT_EQ(truncate(cached.c_str(), st.st_size / 2), 0);
  DwarfSectionStats third;
  auto repaired = loadDwarfSections(**elf, {"debug_info"}, cache, &third);
  ASSERT_TRUE(bool(repaired));
  EXPECT_EQ(third.inflated, 1u);
  EXPECT_EQ((*repaired)["debug_info"]->getBuffer(), data);
  llvm::sys::fs::remove_directories(cache);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CompressedSections,
                         ::testing::Values("deep_c.gcc-O2-dwarf5-pie-nofp-zlib",
                                           "deep_c.clang-O2-dwarf5-pie-nofp-zstd"));

TEST(Symbolizer, CompressedAndPlainFixturesGiveTheSameAnswer) {
  // Same source and compiler flags but -gz: the answers must not depend on compression.
  std::string plain = fixture("deep_c.gcc-O2-dwarf5-pie-nofp");
  std::string zlib = fixture("deep_c.gcc-O2-dwarf5-pie-nofp-zlib");
  ASSERT_FALSE(plain.empty() || zlib.empty());
  auto pe = ElfFile::open(plain);
  ASSERT_TRUE(bool(pe));
  SymbolizerOptions opts;  // no cache
  ModuleInfo pm{plain, plain}, zm{zlib, zlib};
  ModuleSymbols ps(pm, opts), zs(zm, opts);
  ASSERT_TRUE(ps.hasDwarf());
  ASSERT_TRUE(zs.hasDwarf());
  // Every function symbol's entry must symbolize identically.
  int compared = 0;
  for (const char *fn : {"main", "level_a", "level_b", "level_c"}) {
    uint64_t a = ps.symbolAddress(fn), b = zs.symbolAddress(fn);
    if (!a || !b) continue;
    auto x = ps.symbolize(a), y = zs.symbolize(b);
    ASSERT_FALSE(x.empty()) << fn;
    ASSERT_EQ(x.size(), y.size()) << fn;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].function, y[i].function);
      EXPECT_EQ(x[i].line, y[i].line);
      EXPECT_EQ(x[i].file, y[i].file);
    }
    ++compared;
  }
  EXPECT_GE(compared, 1);
}
#endif

TEST(AnswerCache, RoundTripsForTheSameIdentityAndIgnoresAnythingElse) {
  char tmpl[] = "/tmp/bt_answers_test_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/build/answers";
  PcInfo info;
  info.functionEntry = 0x1000;
  info.callTarget = 0x2000;
  info.callTargetName = "pause";
  info.inCompileUnit = true;
  SourceLocation inner, outer;
  inner.function = "leaf";
  inner.file = "/src/a b.c";  // any bytes in names and paths
  inner.line = 7;
  inner.column = 3;
  inner.inlined = true;
  outer.function = "ns::f(int) const";
  outer.line = 42;
  info.chain = {inner, outer};
  {
    AnswerCache c(path, "engine|a.out|1|2");
    c.add(0x1010, 0x1015, info);
    c.addChain(0x3000, 0x4000, {0x3005, 0x3105});
    CallSiteInfo site;
    site.target = 0x5000;
    site.targetName = "callee";
    site.targetExpr = std::string("\x91\x08", 2);
    site.parameters = {{std::string("\x55", 1), std::string("\x7c\x00\x00", 3)}};  // any bytes
    site.callerFrameBase = std::string("\x9c", 1);
    c.addCallSite(0x1015, site);
    c.addCallSite(0x1020, std::nullopt);  // looked up, none there: also an answer
    c.addSoundUnit(0x0);
    c.addSoundUnit(0x1234);
    c.setUnitLayout({{{0x0, 0x1234}, {0x1234, 0x2000}}, true, 3});
    c.addFunctionName(0x1000, "ns::f(int)");
    c.addFunctionName(0x1100, "");  // no DWARF name there: also an answer
    c.save();
  }
  AnswerCache same(path, "engine|a.out|1|2");
  PcInfo got;
  ASSERT_TRUE(same.find(0x1010, 0x1015, got));
  EXPECT_FALSE(same.find(0x1010, 0, got));  // another query kind: not this answer
  ASSERT_TRUE(same.find(0x1010, 0x1015, got));
  EXPECT_EQ(got.functionEntry, 0x1000u);
  EXPECT_EQ(got.callTarget, 0x2000u);
  EXPECT_EQ(got.callTargetName, "pause");
  EXPECT_TRUE(got.inCompileUnit);
  ASSERT_EQ(got.chain.size(), 2u);
  EXPECT_EQ(got.chain[0].function, "leaf");
  EXPECT_EQ(got.chain[0].file, "/src/a b.c");
  EXPECT_EQ(got.chain[0].line, 7u);
  EXPECT_EQ(got.chain[0].column, 3u);
  EXPECT_TRUE(got.chain[0].inlined);
  EXPECT_EQ(got.chain[1].function, "ns::f(int) const");
  EXPECT_FALSE(got.chain[1].inlined);
  std::vector<uint64_t> chain;
  ASSERT_TRUE(same.findChain(0x3000, 0x4000, chain));
  EXPECT_EQ(chain, (std::vector<uint64_t>{0x3005, 0x3105}));
  std::optional<CallSiteInfo> site;
  ASSERT_TRUE(same.findCallSite(0x1015, site));
  ASSERT_TRUE(site.has_value());
  EXPECT_EQ(site->target, 0x5000u);
  EXPECT_EQ(site->targetName, "callee");
  EXPECT_EQ(site->targetExpr, std::string("\x91\x08", 2));
  ASSERT_EQ(site->parameters.size(), 1u);
  EXPECT_EQ(site->parameters[0].first, std::string("\x55", 1));
  EXPECT_EQ(site->parameters[0].second, std::string("\x7c\x00\x00", 3));
  EXPECT_EQ(site->callerFrameBase, std::string("\x9c", 1));
  EXPECT_TRUE(same.unitSound(0x0));
  EXPECT_TRUE(same.unitSound(0x1234));
  EXPECT_FALSE(same.unitSound(0x1000));  // never checked (or failed): checked again
  ASSERT_TRUE(same.findCallSite(0x1020, site));
  EXPECT_FALSE(site.has_value());
  EXPECT_FALSE(same.findCallSite(0x1030, site));  // never looked up
  ASSERT_TRUE(same.unitLayout().has_value());
  ASSERT_EQ(same.unitLayout()->spans.size(), 2u);
  EXPECT_EQ(same.unitLayout()->spans[1].offset, 0x1234u);
  EXPECT_EQ(same.unitLayout()->spans[1].end, 0x2000u);
  EXPECT_TRUE(same.unitLayout()->typeUnits);
  EXPECT_EQ(same.unitLayout()->placeholderVersion, 3u);
  std::string name = "?";
  ASSERT_TRUE(same.findFunctionName(0x1000, name));
  EXPECT_EQ(name, "ns::f(int)");
  ASSERT_TRUE(same.findFunctionName(0x1100, name));
  EXPECT_EQ(name, "");
  EXPECT_FALSE(same.findFunctionName(0x1200, name));
  // Another engine build, or another file: nothing is reused.
  EXPECT_EQ(AnswerCache(path, "engine2|a.out|1|2").size(), 0u);
  EXPECT_EQ(AnswerCache(path, "engine|a.out|1|3").size(), 0u);
  // A damaged file (cut short, or garbage after the identity) is ignored, never half-read.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t(5), bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(cut));
    EXPECT_EQ(AnswerCache(path, "engine|a.out|1|2").size(), 0u) << cut;
  }
  std::string garbage = bytes;
  for (size_t i = 40; i < garbage.size(); i += 3) garbage[i] = char(0xff);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(garbage.data(), std::streamsize(garbage.size()));
  AnswerCache damaged(path, "engine|a.out|1|2");
  EXPECT_FALSE(damaged.find(0x1010, 0x1015, got) && got.chain.size() == 2 && got.chain[0].function == "leaf" &&
               got.chain[0].line != 7);
  EXPECT_FALSE(AnswerCache::engineBuildId().empty()) << "the test binary has a build-id";
  llvm::sys::fs::remove_directories(dir);
}

TEST(AnswerCache, UnitLayoutsOutOfOrderOrEmptyMakeTheFileIgnored) {
  char tmpl[] = "/tmp/bt_answers_test_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/answers";
  PcInfo info;
  info.chain.resize(1);
  info.chain[0].function = "f";
  using Spans = std::vector<UnitSpan>;
  const std::pair<Spans, bool> cases[] = {
      {{{0x100, 0x200}, {0x0, 0x100}}, false},  // out of order
      {{{0x0, 0x200}, {0x100, 0x300}}, false},  // overlapping
      {{{0x0, 0x0}}, false},                    // empty
      {{{0x0, 0x100}, {0x100, 0x200}}, true},
  };
  for (const auto &[spans, sound] : cases) {
    {
      AnswerCache c(path, "id");
      c.add(0x10, 0, info);
      c.setUnitLayout({spans, false, 4});
      c.save();
    }
    AnswerCache again(path, "id");
    EXPECT_EQ(again.size(), sound ? 1u : 0u) << spans.front().offset << " " << spans.back().end;
    EXPECT_EQ(again.unitLayout().has_value(), sound);
    llvm::sys::fs::remove(path);
  }
  llvm::sys::fs::remove_directories(dir);
}

// Symbols read on a thread of their own answer exactly as symbols read on first use, and a
// lookup made while that thread still runs waits for it (it never sees half a table).
TEST(ElfFile, PrefetchedSymbolsAnswerAsSymbolsReadOnFirstUse) {
  auto plain = ElfFile::open("/proc/self/exe");
  auto early = ElfFile::open("/proc/self/exe");
  ASSERT_TRUE(bool(plain) && bool(early));
  (*early)->prefetchSymbols();
  (*early)->prefetchSymbols();  // once is enough; twice is harmless
  const ElfSymbol *first = (*early)->symbolFor(0);  // racing the thread
  EXPECT_EQ(first, nullptr);
  size_t named = 0;
  for (uint64_t a = 0; a < 64u << 20; a += 4093) {
    const ElfSymbol *x = (*plain)->symbolFor(a), *y = (*early)->symbolFor(a);
    ASSERT_EQ(x == nullptr, y == nullptr) << a;
    if (!x) continue;
    EXPECT_EQ(x->address, y->address);
    EXPECT_EQ(x->name, y->name);
    ++named;
  }
  EXPECT_GT(named, 1000u) << "the test binary's symbol table was read";
  // Destroyed while nothing waits: the thread has ended (or is joined).
  auto unused = ElfFile::open("/proc/self/exe");
  ASSERT_TRUE(bool(unused));
  (*unused)->prefetchSymbols();
}
