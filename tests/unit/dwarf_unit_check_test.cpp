// Unit tests of the DWARF unit shape check on hand-built units: a sound DWARF 4 and DWARF 5 unit
// pass; a block running past the unit, an undefined abbreviation, an unknown form, a unit
// longer than the section and an abbreviation table past its section are each refused.
#include "symbols/dwarf_unit_check.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <gtest/gtest.h>

#include <string>

using namespace bt;
using namespace llvm::dwarf;

namespace {

std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char *>(&v), 4); }
std::string le16(uint16_t v) { return std::string(reinterpret_cast<const char *>(&v), 2); }

// Abbrev 1: DW_TAG_compile_unit, children, DW_AT_name string, DW_AT_language data2.
// Abbrev 2: DW_TAG_variable, no children, DW_AT_location exprloc, DW_AT_name strp.
std::string abbrevs(uint8_t locationForm = DW_FORM_exprloc) {
  std::string a;
  a += "\x01"; a += char(DW_TAG_compile_unit); a += "\x01";
  a += char(DW_AT_name); a += char(DW_FORM_string);
  a += char(DW_AT_language); a += char(DW_FORM_data2);
  a += std::string("\0\0", 2);
  a += "\x02"; a += char(DW_TAG_variable); a += std::string("\0", 1);
  a += char(DW_AT_location); a += char(locationForm);
  a += char(DW_AT_name); a += char(DW_FORM_strp);
  a += std::string("\0\0", 2);
  a += std::string("\0", 1);
  return a;
}

std::string dies(const std::string &exprLength = "\x01") {
  std::string d;
  d += "\x01"; d += std::string("x.c\0", 4); d += le16(0x1d);
  d += "\x02"; d += exprLength; d += "\x54"; d += le32(0);
  d += std::string("\0", 1);  // end of the unit DIE's children
  return d;
}

std::string unit(int version, const std::string &body) {
  std::string h = le16(uint16_t(version));
  if (version >= 5) h += std::string("\x01\x08", 2) + le32(0);  // DW_UT_compile, addr 8, abbrev 0
  else h += le32(0) + "\x08";
  std::string rest = h + body;
  return le32(uint32_t(rest.size())) + rest;
}

}  // namespace

TEST(DwarfUnitCheck, SoundUnitsPass) {
  for (int v : {2, 4, 5}) {
    std::string info = unit(v, dies());
    EXPECT_EQ(checkUnitShape(info, abbrevs(), 0), std::nullopt) << "DWARF " << v;
    // The second of two units, by its offset.
    std::string two = info + unit(v, dies());
    EXPECT_EQ(checkUnitShape(two, abbrevs(), info.size()), std::nullopt);
  }
}

TEST(DwarfUnitCheck, DamagedUnitsAreRefused) {
  std::string a = abbrevs();
  // The fuzzing find: a location block whose length runs far past the unit.
  auto bad = checkUnitShape(unit(4, dies("\xff\xff\xff\xff\x0f")), a, 0);
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, "an attribute runs past the unit");
  std::string undefined = dies();
  undefined[7] = '\x07';  // the variable DIE's abbreviation code
  bad = checkUnitShape(unit(4, undefined), a, 0);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("undefined abbreviation 7"), std::string::npos) << *bad;
  bad = checkUnitShape(unit(4, dies()), abbrevs(0x7e), 0);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("unknown form"), std::string::npos) << *bad;
  std::string longer = unit(4, dies());
  longer[0] = '\x70';
  bad = checkUnitShape(longer, a, 0);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("past the end of .debug_info"), std::string::npos) << *bad;
  bad = checkUnitShape(unit(4, dies()), a.substr(0, 6), 0);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("abbreviation table runs past"), std::string::npos) << *bad;
  bad = checkUnitShape(unit(9, dies()), a, 0);
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("version 9"), std::string::npos) << *bad;
}
