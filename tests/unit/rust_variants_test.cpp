// Rust enums in the Value model (TypeInfo::variants, Value::variant) on DWARF written here: an
// LLVM IR module with the debug metadata rustc emits for enums (a struct holding a
// DW_TAG_variant_part, its discriminant an artificial member, one DW_TAG_variant per variant),
// compiled with llc-19 and read with LLVM, plus layouts rustc never writes (two default
// variants, with and without a discriminant) as hostile DWARF would. Values are made from
// bytes written by the test, so every rule is checked without a process: the discriminant's
// DW_AT_discr_value read with its type's signedness (an i32 of -3 is DW_FORM_data1 0xfd), a
// discriminant naming no variant is an error, and the unresolvable layouts are errors too,
// never a guess.
#include "vars/rust_printers.h"
#include "vars/value.h"

#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/Object/ObjectFile.h>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

using namespace bt;

namespace {

// rustc's metadata for `#[repr(i32)] enum Tagged { A(u8) = -3, B(u16) = 5 }` (from
// `rustc --emit=llvm-ir -g`, trimmed), then the hostile variations of it.
const char kModule[] = R"(
@g_tagged = global [8 x i8] zeroinitializer, align 4, !dbg !0
@g_twodefaults = global [8 x i8] zeroinitializer, align 4, !dbg !30
@g_nodiscr = global [8 x i8] zeroinitializer, align 4, !dbg !40
@g_one = global [8 x i8] zeroinitializer, align 4, !dbg !50
@g_plain = global [8 x i8] zeroinitializer, align 4, !dbg !60

!llvm.module.flags = !{!24, !25}
!llvm.dbg.cu = !{!27}

!0 = !DIGlobalVariableExpression(var: !1, expr: !DIExpression())
!1 = distinct !DIGlobalVariable(name: "g_tagged", scope: !2, file: !3, line: 1, type: !4, isLocal: false, isDefinition: true)
!2 = !DINamespace(name: "e", scope: null)
!3 = !DIFile(filename: "e.rs", directory: "/tmp")
!4 = !DICompositeType(tag: DW_TAG_structure_type, name: "Tagged", scope: !2, file: !3, size: 64, align: 32, elements: !6, identifier: "tagged")
!6 = !{!7}
!7 = !DICompositeType(tag: DW_TAG_variant_part, scope: !4, file: !3, size: 64, align: 32, elements: !8, identifier: "tagged-part", discriminator: !20)
!8 = !{!9, !15}
!9 = !DIDerivedType(tag: DW_TAG_member, name: "A", scope: !7, file: !3, baseType: !10, size: 64, align: 32, extraData: i32 -3)
!10 = !DICompositeType(tag: DW_TAG_structure_type, name: "A", scope: !4, file: !3, size: 64, align: 32, elements: !11, identifier: "tagged-a")
!11 = !{!12}
!12 = !DIDerivedType(tag: DW_TAG_member, name: "__0", scope: !10, file: !3, baseType: !13, size: 8, align: 8, offset: 32)
!13 = !DIBasicType(name: "u8", size: 8, encoding: DW_ATE_unsigned)
!15 = !DIDerivedType(tag: DW_TAG_member, name: "B", scope: !7, file: !3, baseType: !16, size: 64, align: 32, extraData: i32 5)
!16 = !DICompositeType(tag: DW_TAG_structure_type, name: "B", scope: !4, file: !3, size: 64, align: 32, elements: !17, identifier: "tagged-b")
!17 = !{!18}
!18 = !DIDerivedType(tag: DW_TAG_member, name: "__0", scope: !16, file: !3, baseType: !19, size: 16, align: 16, offset: 32)
!19 = !DIBasicType(name: "u16", size: 16, encoding: DW_ATE_unsigned)
!20 = !DIDerivedType(tag: DW_TAG_member, scope: !4, file: !3, baseType: !21, size: 32, align: 32, flags: DIFlagArtificial)
!21 = !DIBasicType(name: "i32", size: 32, encoding: DW_ATE_signed)
!24 = !{i32 7, !"Dwarf Version", i32 4}
!25 = !{i32 2, !"Debug Info Version", i32 3}
!27 = distinct !DICompileUnit(language: DW_LANG_Rust, file: !3, producer: "rustc", isOptimized: false, runtimeVersion: 0, emissionKind: FullDebug, globals: !28)
!28 = !{!0, !29, !39, !49, !59}

!29 = !DIGlobalVariableExpression(var: !31, expr: !DIExpression())
!30 = !DIGlobalVariableExpression(var: !31, expr: !DIExpression())
!31 = distinct !DIGlobalVariable(name: "g_twodefaults", scope: !2, file: !3, line: 2, type: !32, isLocal: false, isDefinition: true)
!32 = !DICompositeType(tag: DW_TAG_structure_type, name: "TwoDefaults", scope: !2, file: !3, size: 64, align: 32, elements: !33, identifier: "twodefaults")
!33 = !{!34}
!34 = !DICompositeType(tag: DW_TAG_variant_part, scope: !32, file: !3, size: 64, align: 32, elements: !35, identifier: "twodefaults-part", discriminator: !36)
!35 = !{!37, !38}
!36 = !DIDerivedType(tag: DW_TAG_member, scope: !32, file: !3, baseType: !21, size: 32, align: 32, flags: DIFlagArtificial)
!37 = !DIDerivedType(tag: DW_TAG_member, name: "A", scope: !34, file: !3, baseType: !10, size: 64, align: 32)
!38 = !DIDerivedType(tag: DW_TAG_member, name: "B", scope: !34, file: !3, baseType: !16, size: 64, align: 32)

!39 = !DIGlobalVariableExpression(var: !41, expr: !DIExpression())
!40 = !DIGlobalVariableExpression(var: !41, expr: !DIExpression())
!41 = distinct !DIGlobalVariable(name: "g_nodiscr", scope: !2, file: !3, line: 3, type: !42, isLocal: false, isDefinition: true)
!42 = !DICompositeType(tag: DW_TAG_structure_type, name: "NoDiscr", scope: !2, file: !3, size: 64, align: 32, elements: !43, identifier: "nodiscr")
!43 = !{!44}
!44 = !DICompositeType(tag: DW_TAG_variant_part, scope: !42, file: !3, size: 64, align: 32, elements: !45, identifier: "nodiscr-part")
!45 = !{!46, !47}
!46 = !DIDerivedType(tag: DW_TAG_member, name: "A", scope: !44, file: !3, baseType: !10, size: 64, align: 32)
!47 = !DIDerivedType(tag: DW_TAG_member, name: "B", scope: !44, file: !3, baseType: !16, size: 64, align: 32)

!49 = !DIGlobalVariableExpression(var: !51, expr: !DIExpression())
!50 = !DIGlobalVariableExpression(var: !51, expr: !DIExpression())
!51 = distinct !DIGlobalVariable(name: "g_one", scope: !2, file: !3, line: 4, type: !52, isLocal: false, isDefinition: true)
!52 = !DICompositeType(tag: DW_TAG_structure_type, name: "One", scope: !2, file: !3, size: 64, align: 32, elements: !53, identifier: "one")
!53 = !{!54}
!54 = !DICompositeType(tag: DW_TAG_variant_part, scope: !52, file: !3, size: 64, align: 32, elements: !55, identifier: "one-part")
!55 = !{!56}
!56 = !DIDerivedType(tag: DW_TAG_member, name: "Only", scope: !54, file: !3, baseType: !16, size: 64, align: 32)

!59 = !DIGlobalVariableExpression(var: !61, expr: !DIExpression())
!60 = !DIGlobalVariableExpression(var: !61, expr: !DIExpression())
!61 = distinct !DIGlobalVariable(name: "g_plain", scope: !2, file: !3, line: 5, type: !10, isLocal: false, isDefinition: true)
)";

class RustVariantsTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/bt_rust_variants_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    dir_ = dir;
    std::ofstream(dir_ + "/enums.ll") << kModule;
    std::string cmd = "llc-19 -filetype=obj -o '" + dir_ + "/enums.o' '" + dir_ + "/enums.ll'";
    if (std::system(cmd.c_str()) != 0) {
      skip_ = "cannot compile LLVM IR (" + cmd + "): llc-19 is in Debian's llvm-19 package";
      return;
    }
    auto obj = llvm::object::ObjectFile::createObjectFile(dir_ + "/enums.o");
    ASSERT_TRUE(bool(obj)) << llvm::toString(obj.takeError());
    owner_ = new llvm::object::OwningBinary<llvm::object::ObjectFile>(std::move(*obj));
    ctx_ = llvm::DWARFContext::create(*owner_->getBinary()).release();
  }
  static void TearDownTestSuite() {
    delete ctx_;
    delete owner_;
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  // The enum's DIE, for the printer's own variant choice (rustActiveVariant).
  llvm::DWARFDie dieOfGlobal(const char *name) {
    for (const auto &cu : ctx_->compile_units())
      for (const llvm::DWARFDebugInfoEntry &e : cu->dies()) {
        llvm::DWARFDie d(cu.get(), &e);
        if (d.getTag() == llvm::dwarf::DW_TAG_variable && d.getShortName() && !strcmp(d.getShortName(), name))
          return d.getAttributeValueAsReferencedDie(llvm::dwarf::DW_AT_type);
      }
    ADD_FAILURE() << "no global " << name;
    return {};
  }
  // The variant name the printer picks for `bytes`, "none" when it refuses.
  std::string printerActive(const char *global, const std::string &bytes) {
    std::optional<RustVariant> v = rustActiveVariant(dieOfGlobal(global), bytes);
    return v && v->member.getShortName() ? v->member.getShortName() : "none";
  }
  const TypeInfo *typeOfGlobal(const char *name) {
    for (const auto &cu : ctx_->compile_units())
      for (const llvm::DWARFDebugInfoEntry &e : cu->dies()) {
        llvm::DWARFDie d(cu.get(), &e);
        if (d.getTag() == llvm::dwarf::DW_TAG_variable && d.getShortName() && !strcmp(d.getShortName(), name))
          return session_->types().fromDie(d.getAttributeValueAsReferencedDie(llvm::dwarf::DW_AT_type), 1);
      }
    ADD_FAILURE() << "no global " << name;
    return nullptr;
  }
  Value make(const char *global, std::string bytes) {
    return Value(session_, typeOfGlobal(global), std::move(bytes), std::nullopt);
  }
  // "A 9": the active variant's name and its __0, or the error's message.
  static std::string active(const Value &v) {
    auto got = v.variant();
    if (!got) return "error: " + llvm::toString(got.takeError());
    if (!*got) return "none";
    auto field = (*got)->second.field("__0");
    if (!field) return (*got)->first + " " + llvm::toString(field.takeError());
    return (*got)->first + " " + std::to_string(*field->asUnsigned());
  }

  static std::string dir_, skip_;
  static llvm::object::OwningBinary<llvm::object::ObjectFile> *owner_;
  static llvm::DWARFContext *ctx_;
  std::shared_ptr<ValueSession> session_ = std::make_shared<ValueSession>(nullptr);
};

std::string RustVariantsTest::dir_, RustVariantsTest::skip_;
llvm::object::OwningBinary<llvm::object::ObjectFile> *RustVariantsTest::owner_ = nullptr;
llvm::DWARFContext *RustVariantsTest::ctx_ = nullptr;

std::string le(uint32_t tag, uint32_t payload) {
  std::string b(8, '\0');
  memcpy(b.data(), &tag, 4);
  memcpy(b.data() + 4, &payload, 4);
  return b;
}

}  // namespace

TEST_F(RustVariantsTest, TheDiscriminantPicksTheVariantWithItsSignedness) {
  const TypeInfo *t = typeOfGlobal("g_tagged");
  ASSERT_TRUE(t && t->hasVariants && t->rust);
  ASSERT_EQ(t->variants.size(), 2u);
  ASSERT_TRUE(t->discriminant.has_value());
  EXPECT_EQ(t->discriminant->offset, 0u);
  EXPECT_EQ(*t->variants[0].discrValue, std::string("\xfd\xff\xff\xff", 4));  // -3 as an i32
  EXPECT_EQ(t->variantProblem, "");
  EXPECT_EQ(active(make("g_tagged", le(uint32_t(-3), 9))), "A 9");
  EXPECT_EQ(active(make("g_tagged", le(5, 300))), "B 300");
  // 0xfd is not -3 in an i32; 7 is no variant; no default variant to fall back on.
  EXPECT_EQ(active(make("g_tagged", le(0xfd, 9))),
            "error: corrupt e::Tagged: its discriminant 0xfd names none of its 2 variants");
  EXPECT_EQ(active(make("g_tagged", le(0x100, 9))),
            "error: corrupt e::Tagged: its discriminant 0x100 names none of its 2 variants");
  // Bytes too few for the discriminant.
  EXPECT_EQ(active(Value(session_, t, std::string(2, '\0'), std::nullopt)).rfind("error: ", 0), 0u);
}

TEST_F(RustVariantsTest, LayoutsThatCannotBeResolvedAreErrors) {
  EXPECT_EQ(active(make("g_twodefaults", le(5, 1))),
            "error: cannot tell the variant of a e::TwoDefaults: 2 variants without a discriminant value");
  // (LLVM cannot write variants with values and no discriminant: the last branch of variant()
  // is for DWARF from elsewhere.)
  EXPECT_EQ(active(make("g_nodiscr", le(5, 1))),
            "error: cannot tell the variant of a e::NoDiscr: 2 variants without a discriminant value");
}

TEST_F(RustVariantsTest, OneVariantNeedsNoDiscriminantAndOtherTypesHaveNone) {
  EXPECT_EQ(active(make("g_one", le(0xffffffff, 7))), "Only 7");
  EXPECT_EQ(active(make("g_plain", le(1, 2))), "none");
}

// The value printer decides the variant from the DIEs (rust_printers.cpp), the Value model from
// TypeInfo: both compare the discriminant's bytes with its signedness and refuse a layout with two
// default variants.
TEST_F(RustVariantsTest, ThePrinterPicksTheSameVariant) {
  EXPECT_EQ(printerActive("g_tagged", le(uint32_t(-3), 9)), "A");
  EXPECT_EQ(printerActive("g_tagged", le(5, 300)), "B");
  EXPECT_EQ(printerActive("g_tagged", le(0xfd, 9)), "none");
  EXPECT_EQ(printerActive("g_twodefaults", le(5, 1)), "none");
  EXPECT_EQ(printerActive("g_one", le(0xffffffff, 7)), "Only");
}
