// Small DWARF type helpers every part of vars/ uses, written once: the type a DIE refers to,
// typedefs and qualifiers stripped (bounded), unsigned attributes with a default, and the size
// of a type (bounded against hostile cycles and absurd array bounds).
#pragma once

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bt {

// The DIE's DW_AT_type (an invalid DIE if none: void).
llvm::DWARFDie typeOf(const llvm::DWARFDie &d);
// An unsigned attribute, or `dflt`.
uint64_t attrU(const llvm::DWARFDie &d, llvm::dwarf::Attribute a, uint64_t dflt = 0);
// Follows typedefs and qualifiers to the type that decides the representation (bounded: a
// hostile alias cycle ends after 32 steps, on an alias).
llvm::DWARFDie stripTypedefs(llvm::DWARFDie type);
// A struct, class or union (the DIE itself: strip typedefs first).
bool isClassType(const llvm::DWARFDie &type);
// Size in bytes of a type (0 if unknown).
uint64_t typeSize(const llvm::DWARFDie &type);
// The type arguments of a class template instance, in order, a parameter pack's included
// (std::variant<Ts...>); at most 64.
std::vector<llvm::DWARFDie> templateArgs(const llvm::DWARFDie &type);
// The object bytes of a DW_AT_const_value for a type of `size` bytes: a block as is, DW_FORM_sdata
// sign-extended, the fixed-size data forms and udata zero-extended (as gdb reads them: gcc emits
// an int 150 as DW_FORM_data1 0x96, which is not -106).
std::string constValueBytes(const llvm::DWARFFormValue &value, uint64_t size);
// A DW_AT_discr_value as the discriminant's bytes: `size` bytes, little-endian, read signed or
// unsigned as the discriminant's type says (DWARF's data forms carry no signedness: rustc writes
// an i8 discriminant of -3 as DW_FORM_data1 0xfd, an i32's as 0xfd too).
// nullopt for a form that holds no constant.
std::optional<std::string> discriminantValueBytes(const llvm::DWARFFormValue &v, uint64_t size,
                                                  bool isSigned);

// A Rust enum's DW_TAG_variant_part, read once for the value printer and the Value model: the
// discriminant (the member DW_AT_discr names: an integer, or an enumeration of one, of 1 to 16
// bytes inside the enum) and each DW_TAG_variant's member with its DW_AT_discr_value as bytes
// comparable with the discriminant's (discriminantValueBytes). `problem` says why no variant can
// be chosen safely: a discriminant that is no such member, a value that is no constant, a
// DW_AT_discr_list (ranges: not decoded, not guessed), two variants without a value, more than
// `maxVariants` variants; then the variants read so far are kept but must not be chosen from.
struct VariantPartLayout {
  llvm::DWARFDie discriminant;  // invalid: none (DW_AT_discr absent or unusable)
  uint64_t discrOffset = 0, discrSize = 0;
  bool discrSigned = false;
  struct Variant {
    llvm::DWARFDie member;                  // the variant's DW_TAG_member (invalid: none)
    std::optional<std::string> discrValue;  // when it has one and the discriminant is usable
    bool isDefault = false;                 // no DW_AT_discr_value: every value no other names
  };
  std::vector<Variant> variants;
  std::string problem;
};
constexpr size_t kMaxEnumVariants = 1u << 16;  // per Rust enum (each variant's type is built)
VariantPartLayout readVariantPart(const llvm::DWARFDie &part, uint64_t enumSize,
                                  size_t maxVariants = kMaxEnumVariants);

}  // namespace bt
