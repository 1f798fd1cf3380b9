#include "vars/dwarf_types.h"

namespace bt {

using namespace llvm;

DWARFDie typeOf(const DWARFDie &d) { return d.getAttributeValueAsReferencedDie(dwarf::DW_AT_type); }

uint64_t attrU(const DWARFDie &d, dwarf::Attribute a, uint64_t dflt) {
  return dwarf::toUnsigned(d.find(a), dflt);
}

DWARFDie stripTypedefs(DWARFDie t) {
  for (int i = 0; t && i < 32; ++i) {
    switch (t.getTag()) {
      case dwarf::DW_TAG_typedef: case dwarf::DW_TAG_const_type: case dwarf::DW_TAG_volatile_type:
      case dwarf::DW_TAG_restrict_type: case dwarf::DW_TAG_atomic_type:
        t = typeOf(t);
        continue;
      default:
        return t;
    }
  }
  return t;
}

static uint64_t typeSizeAt(const DWARFDie &type, unsigned depth) {
  DWARFDie t = stripTypedefs(type);
  if (!t || depth > 16) return 0;  // a hostile type cycle (an array of itself) ends here
  switch (t.getTag()) {
    case dwarf::DW_TAG_pointer_type: case dwarf::DW_TAG_reference_type:
    case dwarf::DW_TAG_rvalue_reference_type:
      return attrU(t, dwarf::DW_AT_byte_size, 8);
    case dwarf::DW_TAG_ptr_to_member_type: {
      // Often without DW_AT_byte_size: Itanium ABI sizes (function: ptr + adjustment).
      DWARFDie pointee = stripTypedefs(typeOf(t));
      bool fn = pointee && pointee.getTag() == dwarf::DW_TAG_subroutine_type;
      return attrU(t, dwarf::DW_AT_byte_size, fn ? 16 : 8);
    }
    case dwarf::DW_TAG_array_type: {
      uint64_t n = 1;
      for (const DWARFDie &s : t.children()) {
        if (s.getTag() != dwarf::DW_TAG_subrange_type) continue;
        uint64_t c;
        if (auto cnt = dwarf::toUnsigned(s.find(dwarf::DW_AT_count))) c = *cnt;
        else if (auto ub = dwarf::toUnsigned(s.find(dwarf::DW_AT_upper_bound)))
          c = *ub + 1 - attrU(s, dwarf::DW_AT_lower_bound, 0);
        else return 0;
        if (c > (uint64_t(1) << 32)) return 0;  // absurd bound: treat as unknown
        n *= c;
      }
      uint64_t es = typeSizeAt(typeOf(t), depth + 1);
      if (es && n > (uint64_t(1) << 40) / es) return 0;
      return n * es;
    }
    default:
      return attrU(t, dwarf::DW_AT_byte_size, 0);
  }
}

uint64_t typeSize(const DWARFDie &type) { return typeSizeAt(type, 0); }

bool isClassType(const DWARFDie &type) {
  if (!type) return false;
  dwarf::Tag t = type.getTag();
  return t == dwarf::DW_TAG_structure_type || t == dwarf::DW_TAG_class_type ||
         t == dwarf::DW_TAG_union_type;
}

std::vector<DWARFDie> templateArgs(const DWARFDie &t) {
  std::vector<DWARFDie> out;
  for (const DWARFDie &c : t.children()) {
    if (c.getTag() == dwarf::DW_TAG_template_type_parameter) out.push_back(typeOf(c));
    else if (c.getTag() == dwarf::DW_TAG_GNU_template_parameter_pack)
      for (const DWARFDie &a : c.children())
        if (a.getTag() == dwarf::DW_TAG_template_type_parameter) out.push_back(typeOf(a));
    if (out.size() >= 64) {
      out.resize(64);
      break;
    }
  }
  return out;
}

std::string constValueBytes(const DWARFFormValue &value, uint64_t size) {
  std::string bytes;
  if (auto block = value.getAsBlock()) {
    bytes.assign(block->begin(), block->end());
  } else {
    dwarf::Form form = value.getForm();
    bool isSigned = form == dwarf::DW_FORM_sdata || form == dwarf::DW_FORM_implicit_const;
    uint64_t v = 0;
    if (isSigned) v = uint64_t(value.getAsSignedConstant().value_or(0));
    else if (auto u = value.getAsUnsignedConstant()) v = *u;
    else v = uint64_t(value.getAsSignedConstant().value_or(0));
    bytes.assign(reinterpret_cast<const char *>(&v), 8);
  }
  bytes.resize(std::max<uint64_t>(size, bytes.size()), '\0');
  return bytes;
}

std::optional<std::string> discriminantValueBytes(const DWARFFormValue &v, uint64_t size, bool isSigned) {
  if (v.getAsBlock() || v.getForm() == dwarf::DW_FORM_data16) {
    std::string b = constValueBytes(v, size);
    b.resize(size, '\0');
    return b;
  }
  std::optional<uint64_t> bits;
  if (isSigned) {
    if (auto sv = v.getAsSignedConstant()) bits = uint64_t(*sv);
  } else {
    bits = v.getAsUnsignedConstant();
  }
  if (!bits) return std::nullopt;
  std::string b(size, (isSigned && int64_t(*bits) < 0) ? '\xff' : '\0');
  memcpy(b.data(), &*bits, std::min<size_t>(size, 8));
  return b;
}

VariantPartLayout readVariantPart(const DWARFDie &part, uint64_t enumSize, size_t maxVariants) {
  constexpr uint64_t kMaxDiscriminant = 16;  // bytes: u128 is Rust's widest
  VariantPartLayout out;
  if (part.find(dwarf::DW_AT_discr)) {
    DWARFDie d = part.getAttributeValueAsReferencedDie(dwarf::DW_AT_discr);
    if (!d || d.getTag() != dwarf::DW_TAG_member || d.find(dwarf::DW_AT_bit_size)) {
      out.problem = "its DW_AT_discr names no member";
    } else {
      DWARFDie t = stripTypedefs(typeOf(d));
      // An enumeration stands for its underlying integer (rustc gives one; C-like without one:
      // the enumeration's own size, unsigned).
      DWARFDie repr = t && t.getTag() == dwarf::DW_TAG_enumeration_type && typeOf(t) ? stripTypedefs(typeOf(t)) : t;
      uint64_t enc = repr ? attrU(repr, dwarf::DW_AT_encoding) : 0;
      bool integer = t && (repr.getTag() == dwarf::DW_TAG_base_type || repr.getTag() == dwarf::DW_TAG_enumeration_type) &&
                     enc != dwarf::DW_ATE_float;
      uint64_t size = t ? typeSize(t) : 0, off = attrU(d, dwarf::DW_AT_data_member_location);
      if (integer && size >= 1 && size <= kMaxDiscriminant && off <= enumSize && size <= enumSize - off) {
        out.discriminant = d;
        out.discrOffset = off;
        out.discrSize = size;
        out.discrSigned = enc == dwarf::DW_ATE_signed || enc == dwarf::DW_ATE_signed_char;
      } else {
        out.problem = "its discriminant is no integer member inside the enum";
      }
    }
  }
  size_t defaults = 0;
  for (const DWARFDie &v : part.children()) {
    if (v.getTag() != dwarf::DW_TAG_variant) continue;
    if (out.variants.size() >= maxVariants) {
      out.problem = "more than " + std::to_string(maxVariants) + " variants";
      break;
    }
    VariantPartLayout::Variant var;
    if (auto dv = v.find(dwarf::DW_AT_discr_value)) {
      if (out.discrSize) {
        var.discrValue = discriminantValueBytes(*dv, out.discrSize, out.discrSigned);
        if (!var.discrValue && out.problem.empty()) out.problem = "a DW_AT_discr_value is no constant";
      }
    } else if (v.find(dwarf::DW_AT_discr_list)) {
      if (out.problem.empty()) out.problem = "a variant has a DW_AT_discr_list (ranges of discriminant values)";
    } else {
      ++defaults;
      var.isDefault = true;
    }
    for (const DWARFDie &m : v.children())
      if (m.getTag() == dwarf::DW_TAG_member) {
        var.member = m;
        break;
      }
    out.variants.push_back(std::move(var));
  }
  if (defaults > 1 && out.problem.empty())
    out.problem = std::to_string(defaults) + " variants without a discriminant value";
  return out;
}

}  // namespace bt
