// SparseDebugInfo: a context over it must see the kept units exactly as a context over the whole
// .debug_info does (every DIE: offset, tag, name), the others as units without DIEs, and nothing
// may be kept that could refer outside itself (gcc -flto's DW_FORM_ref_addr).
#include "symbols/dwarf_sections.h"
#include "symbols/elf_file.h"
#include "symbols/sparse_debug_info.h"

#include <gtest/gtest.h>
#include <llvm/DebugInfo/DWARF/DWARFCompileUnit.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/Support/FileSystem.h>

#include <cstdlib>
#include <fstream>

using namespace bt;

namespace {

std::string g_dir;

std::string build(const std::string &name, const std::string &flags) {
  std::string exe = g_dir + "/" + name;
  std::string cmd = "cc " + flags + " -o '" + exe + "' '" + g_dir + "/a.c' '" + g_dir + "/b.c' '" + g_dir + "/c.c'";
  return std::system(cmd.c_str()) == 0 ? exe : std::string();
}

struct Dwarf {
  std::unique_ptr<ElfFile> elf;
  llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> sections;
  std::vector<std::string> errors;

  explicit Dwarf(const std::string &path) {
    auto f = ElfFile::open(path);
    if (!f) {
      errors.push_back(llvm::toString(f.takeError()));
      return;
    }
    elf = std::move(*f);
    auto s = loadDwarfSections(*elf, {"debug_info", "debug_abbrev", "debug_str", "debug_line", "debug_line_str",
                                      "debug_str_offsets", "debug_addr", "debug_rnglists", "debug_loclists"},
                               "");
    if (s) sections = std::move(*s);
    else errors.push_back(llvm::toString(s.takeError()));
  }
  llvm::StringRef info() { return sections["debug_info"]->getBuffer(); }
  // A context over these sections, .debug_info replaced by `infoBytes` when given.
  std::unique_ptr<llvm::DWARFContext> context(llvm::StringRef infoBytes = {}) {
    llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> views;
    for (auto &e : sections)
      views[e.first()] = llvm::MemoryBuffer::getMemBuffer(
          e.first() == "debug_info" && infoBytes.data() ? infoBytes : e.second->getBuffer(), e.first(), false);
    auto onError = [this](llvm::Error e) { errors.push_back(llvm::toString(std::move(e))); };
    return llvm::DWARFContext::create(views, 8, true, onError, onError);
  }
};

std::vector<UnitSpan> spansOf(llvm::DWARFContext &ctx) {
  std::vector<UnitSpan> spans;
  for (const auto &u : ctx.info_section_units()) spans.push_back({u->getOffset(), u->getNextUnitOffset()});
  return spans;
}

// Every DIE of the unit at `offset`: offset, tag and name.
std::vector<std::string> diesOf(llvm::DWARFContext &ctx, uint64_t offset) {
  std::vector<std::string> out;
  llvm::DWARFCompileUnit *cu = ctx.getCompileUnitForOffset(offset);
  if (!cu) return out;
  for (unsigned i = 0; i < cu->getNumDIEs(); ++i) {
    llvm::DWARFDie d = cu->getDIEAtIndex(i);
    const char *n = d.getShortName();
    out.push_back(std::to_string(d.getOffset()) + " " + std::to_string(unsigned(d.getTag())) + " " +
                  (n ? n : ""));
  }
  return out;
}

}  // namespace

class SparseDebugInfoTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/bt_sparse_info_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    g_dir = dir;
    std::ofstream(g_dir + "/a.c") << "struct S { int a; };\nint f(struct S *s);\nint g(int);\n"
                                     "int main(void) { struct S s = {1}; return f(&s) + g(2); }\n";
    std::ofstream(g_dir + "/b.c") << "struct S { int a; };\n"
                                     "__attribute__((noinline)) int f(struct S *s) { return s->a * 2; }\n";
    std::ofstream(g_dir + "/c.c") << "struct T { long x, y; } t = {1, 2};\n"
                                     "__attribute__((noinline)) int g(int k) { return k + (int)t.y; }\n";
  }
  static void TearDownTestSuite() { llvm::sys::fs::remove_directories(g_dir); }
};

TEST_F(SparseDebugInfoTest, KeptUnitsAreExactAndTheOthersEmpty) {
  for (const char *flags : {"-g -O0", "-gdwarf-4 -O2"}) {
    SCOPED_TRACE(flags);
    std::string exe = build("plain", flags);
    ASSERT_FALSE(exe.empty());
    Dwarf d(exe);
    ASSERT_TRUE(d.errors.empty()) << d.errors.front();
    auto full = d.context();
    std::vector<UnitSpan> spans = spansOf(*full);
    ASSERT_GE(spans.size(), 3u);
    uint64_t mid = spans[1].offset;
    for (const auto &u : full->info_section_units()) EXPECT_TRUE(unitIsSelfContained(*u, false));

    // Mapped from the file (the ELF file's mapping: its sections are not compressed), and copied.
    std::unique_ptr<MappedFile> file = mappedFileOf(d.info());
    ASSERT_TRUE(file) << "the section is a mapping of the executable";
    for (const MappedFile *backing : {static_cast<const MappedFile *>(file.get()), static_cast<const MappedFile *>(nullptr)}) {
      SCOPED_TRACE(backing ? "mapped" : "copied");
      auto sparse = SparseDebugInfo::build(d.info(), spans, {mid}, 4, backing);
      ASSERT_TRUE(bool(sparse)) << llvm::toString(sparse.takeError());
      llvm::StringRef bytes = (*sparse)->bytes();
      ASSERT_EQ(bytes.size(), d.info().size());
      EXPECT_EQ(bytes.substr(spans[1].offset, spans[1].end - spans[1].offset),
                d.info().substr(spans[1].offset, spans[1].end - spans[1].offset));
      EXPECT_NE(bytes.substr(0, spans[0].end), d.info().substr(0, spans[0].end));
      auto ctx = d.context(bytes);
      std::vector<std::string> want = diesOf(*full, mid), got = diesOf(*ctx, mid);
      EXPECT_GT(want.size(), 5u);
      EXPECT_EQ(got, want);
      // The other units are there only as placeholders: no unit DIE, nothing named.
      for (size_t i : {size_t(0), size_t(2)}) {
        llvm::DWARFCompileUnit *cu = ctx->getCompileUnitForOffset(spans[i].offset);
        ASSERT_TRUE(cu);
        EXPECT_FALSE(cu->getUnitDIE(false).isValid() && cu->getUnitDIE(false).getTag() != 0);
        EXPECT_FALSE(diesOf(*full, spans[i].offset).empty());
      }
      EXPECT_TRUE(d.errors.empty()) << d.errors.front();
    }
  }
}

TEST_F(SparseDebugInfoTest, UnitsThatReferOutsideThemselvesAreNotSelfContained) {
  // gcc -flto: the link-time unit's concrete functions name their abstract origins in the
  // compile-time units with DW_FORM_ref_addr.
  std::string exe = build("lto", "-g -O2 -flto");
  ASSERT_FALSE(exe.empty());
  Dwarf d(exe);
  ASSERT_TRUE(d.errors.empty()) << d.errors.front();
  auto full = d.context();
  size_t contained = 0, not_contained = 0;
  for (const auto &u : full->info_section_units()) (unitIsSelfContained(*u, false) ? contained : not_contained)++;
  EXPECT_GE(not_contained, 1u);
  EXPECT_GE(contained, 1u);
}

TEST(SparseDebugInfo, BadSpansAreErrorsNotGuesses) {
  std::string info(100, '\x01');
  // A kept offset that is no unit's.
  EXPECT_FALSE(bool(SparseDebugInfo::build(info, {{0, 50}, {50, 100}}, {10})));
  // A gap too small for a placeholder (units are never that small: the spans are wrong).
  auto small = SparseDebugInfo::build(info, {{0, 50}, {50, 55}, {55, 100}}, {0, 55});
  ASSERT_FALSE(bool(small));
  EXPECT_NE(llvm::toString(small.takeError()).find("a gap of 5 bytes"), std::string::npos);
  // Overlapping or out of the section.
  EXPECT_FALSE(bool(SparseDebugInfo::build(info, {{0, 50}, {40, 100}}, {0})));
  EXPECT_FALSE(bool(SparseDebugInfo::build(info, {{0, 150}}, {0})));
  // A good one: the kept unit's bytes, a placeholder header elsewhere (length, version 4, the
  // 8-byte address size, a null entry).
  auto ok = SparseDebugInfo::build(info, {{0, 50}, {50, 100}}, {50});
  ASSERT_TRUE(bool(ok)) << llvm::toString(ok.takeError());
  llvm::StringRef b = (*ok)->bytes();
  EXPECT_EQ(b.substr(50), llvm::StringRef(info).substr(50));
  uint32_t length;
  memcpy(&length, b.data(), 4);
  EXPECT_EQ(length, 46u);
  EXPECT_EQ(uint8_t(b[4]), 4);
  EXPECT_EQ(uint8_t(b[10]), 8);
  EXPECT_EQ(uint8_t(b[11]), 0);
}
