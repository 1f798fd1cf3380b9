// Unit tests of the value printer (engine/vars/value_printer) on synthetic values: the types come
// from a small C file compiled here (`cc -g -c`, DWARF read with LLVM), the bytes are written by
// the test, and memory behind pointers comes from a map — so every rendering rule (structs,
// bit-fields, enums and flag enums, arrays and repeats, strings, pointers with targets, floats,
// bools, the element limit, unreadable memory) is checked without a process or a core.
#include "vars/value_printer.h"

#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/Object/ObjectFile.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

using namespace bt;

namespace {

const char kSource[] = R"(
struct point { int x; int y; };
enum color { RED, GREEN = 5, BLUE };
enum flags { FA = 1, FB = 2, FC = 4 };
struct bits { unsigned a : 3; int b : 5; };
struct point g_point;
enum color g_color;
enum flags g_flags;
int g_arr[4];
int g_zero[16];
int g_matrix[2][3];
char g_str[8];
double g_double;
struct bits g_bits;
const char *g_ptr;
struct point *g_pp;
_Bool g_bool;
int g_big[300];
struct n0 { int v[50]; };
struct n1 { struct n0 a; };
struct n2 { struct n1 a; };
struct n3 { struct n2 a; };
struct n4 { struct n3 a; };
struct n5 { struct n4 a; int after; };
struct n5 g_nested;
)";

class ValuePrinterTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/bt_value_printer_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    dir_ = dir;
    std::ofstream(dir_ + "/types.c") << kSource;
    std::string cmd = "cc -g -O0 -c -o '" + dir_ + "/types.o' '" + dir_ + "/types.c'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto obj = llvm::object::ObjectFile::createObjectFile(dir_ + "/types.o");
    ASSERT_TRUE(bool(obj)) << llvm::toString(obj.takeError());
    owner_ = new llvm::object::OwningBinary<llvm::object::ObjectFile>(std::move(*obj));
    ctx_ = llvm::DWARFContext::create(*owner_->getBinary()).release();
  }
  static void TearDownTestSuite() {
    delete ctx_;
    delete owner_;
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // The DW_AT_type of global `name`.
  llvm::DWARFDie typeOfGlobal(const char *name) {
    for (const auto &cu : ctx_->compile_units())
      for (const llvm::DWARFDebugInfoEntry &e : cu->dies()) {
        llvm::DWARFDie d(cu.get(), &e);
        if (d.getTag() == llvm::dwarf::DW_TAG_variable && d.getShortName() &&
            !strcmp(d.getShortName(), name))
          return d.getAttributeValueAsReferencedDie(llvm::dwarf::DW_AT_type);
      }
    ADD_FAILURE() << "no global " << name;
    return {};
  }

  template <typename T> static std::string bytesOf(const T &v) {
    return std::string(reinterpret_cast<const char *>(&v), sizeof v);
  }

  std::string show(const char *global, const std::string &bytes, PrintLimits limits = {}) {
    PrintContext pc;
    pc.read = [this](uint64_t addr, void *buf, size_t len) -> size_t {
      size_t n = 0;
      for (; n < len; ++n) {
        auto it = memory_.find(addr + n);
        if (it == memory_.end()) break;
        static_cast<char *>(buf)[n] = it->second;
      }
      return n;
    };
    pc.symbolize = [](uint64_t addr, bool) -> std::string {
      return addr == 0x401000 ? "<main>" : "";
    };
    pc.limits = limits;
    return formatValue(typeOfGlobal(global), bytes, std::nullopt, pc);
  }

  void poke(uint64_t addr, const std::string &bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) memory_[addr + i] = bytes[i];
  }

  static std::string dir_;
  static llvm::object::OwningBinary<llvm::object::ObjectFile> *owner_;
  static llvm::DWARFContext *ctx_;
  std::map<uint64_t, char> memory_;
};

std::string ValuePrinterTest::dir_;
llvm::object::OwningBinary<llvm::object::ObjectFile> *ValuePrinterTest::owner_ = nullptr;
llvm::DWARFContext *ValuePrinterTest::ctx_ = nullptr;

}  // namespace

TEST_F(ValuePrinterTest, StructsAndBitFields) {
  int32_t p[2] = {1, -2};
  EXPECT_EQ(show("g_point", std::string(reinterpret_cast<char *>(p), 8)), "{x = 1, y = -2}");
  // a = 5 (3 bits), b = -3 (5 bits, signed): 0b11101'101
  uint32_t bits = 5u | (uint32_t(-3 & 31) << 3);
  EXPECT_EQ(show("g_bits", bytesOf(bits)), "{a = 5, b = -3}");
}

TEST_F(ValuePrinterTest, EnumsAndFlagEnums) {
  EXPECT_EQ(show("g_color", bytesOf(int32_t(5))), "GREEN");
  EXPECT_EQ(show("g_color", bytesOf(int32_t(6))), "BLUE");
  EXPECT_EQ(show("g_color", bytesOf(int32_t(9))), "9");
  EXPECT_EQ(show("g_flags", bytesOf(int32_t(5))), "(FA | FC)");
  EXPECT_EQ(show("g_flags", bytesOf(int32_t(0))), "0");
  EXPECT_EQ(show("g_flags", bytesOf(int32_t(9))), "(FA | unknown: 0x8)");
}

TEST_F(ValuePrinterTest, ArraysRepeatsAndTheElementLimit) {
  int32_t a[4] = {1, 2, 3, 4};
  EXPECT_EQ(show("g_arr", std::string(reinterpret_cast<char *>(a), 16)), "{1, 2, 3, 4}");
  EXPECT_EQ(show("g_zero", std::string(64, '\0')), "{0 <repeats 16 times>}");
  int32_t m[6] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(show("g_matrix", std::string(reinterpret_cast<char *>(m), 24)), "{{1, 2, 3}, {4, 5, 6}}");
  std::string big;
  for (int32_t i = 0; i < 300; ++i) big += bytesOf(i);
  std::string shown = show("g_big", big);
  EXPECT_EQ(shown.rfind("{0, 1, 2, ", 0), 0u) << shown;
  EXPECT_NE(shown.find("199..."), std::string::npos) << shown.substr(shown.size() - 40);
  PrintLimits few;
  few.elements = 3;
  EXPECT_EQ(show("g_arr", std::string(reinterpret_cast<char *>(a), 16), few), "{1, 2, 3...}");
}

TEST_F(ValuePrinterTest, TheOutputBudgetCountsEachCharacterOnce) {
  // Five structs around an array, then a member: about 250 characters. Counted once each they fit
  // in 400; counting every level's whole text again (about 1300) cut `after` off.
  std::string bytes;
  std::string numbers;
  for (int32_t i = 0; i < 50; ++i) {
    bytes += bytesOf(i);
    numbers += (i ? ", " : "") + std::to_string(i);
  }
  bytes += bytesOf(int32_t(7));
  std::string whole = "{a = {a = {a = {a = {a = {v = {" + numbers + "}}}}}}, after = 7}";
  PrintLimits roomy;
  roomy.maxOutput = 400;
  EXPECT_EQ(show("g_nested", bytes, roomy), whole);
  // Smaller than the value: it is still cut.
  PrintLimits tight;
  tight.maxOutput = 100;
  std::string cut = show("g_nested", bytes, tight);
  EXPECT_NE(cut.find("..."), std::string::npos) << cut;
  EXPECT_EQ(cut.find("after = 7"), std::string::npos) << cut;
  EXPECT_LT(cut.size(), whole.size()) << cut;
}

TEST_F(ValuePrinterTest, CharArraysAreStrings) {
  EXPECT_EQ(show("g_str", std::string("hi\0\0\0\0\0\0", 8)), "\"hi\\000\\000\\000\\000\\000\"");
  EXPECT_EQ(show("g_str", std::string("a\"b\n\x01xyz", 8)), "\"a\\\"b\\n\\001xyz\"");
}

TEST_F(ValuePrinterTest, PointersShowTheirTargetWhenItIsAString) {
  poke(0x2000, std::string("text\0", 5));
  EXPECT_EQ(show("g_ptr", bytesOf(uint64_t(0x2000))), "0x2000 \"text\"");
  EXPECT_EQ(show("g_ptr", bytesOf(uint64_t(0))), "0x0");
  // Unreadable memory behind a char pointer: gdb's wording.
  EXPECT_EQ(show("g_ptr", bytesOf(uint64_t(0x9000))),
            "0x9000 <error: Cannot access memory at address 0x9000>");
  EXPECT_EQ(show("g_pp", bytesOf(uint64_t(0x3000))), "0x3000");
}

TEST_F(ValuePrinterTest, FloatsAndBools) {
  EXPECT_EQ(show("g_double", bytesOf(1.5)), "1.5");
  EXPECT_EQ(show("g_double", bytesOf(0.1)), "0.10000000000000001");
  EXPECT_EQ(show("g_bool", std::string(1, '\1')), "true");
  EXPECT_EQ(show("g_bool", std::string(1, '\0')), "false");
}
