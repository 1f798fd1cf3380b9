#include "vars/type_names.h"

#include "vars/dwarf_types.h"
#include "vars/std_printers.h"

#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <cstring>

namespace bt {

using namespace llvm;

// Type names are built here, not with LLVM's DWARFTypePrinter: that one recurses without a
// bound and overflows the stack on a type that contains itself (hostile DWARF).
bool isCLanguage(const DWARFDie &d) {
  DWARFUnit *u = d.getDwarfUnit();
  if (!u) return false;
  auto lang = dwarf::toUnsigned(u->getUnitDIE(false).find(dwarf::DW_AT_language));
  return lang && (*lang == dwarf::DW_LANG_C89 || *lang == dwarf::DW_LANG_C99 ||
                  *lang == dwarf::DW_LANG_C11 || *lang == dwarf::DW_LANG_C ||
                  *lang == dwarf::DW_LANG_C17);
}

static std::string typeNameAt(const DWARFDie &t, unsigned depth);

// "*", "&" or "&&" for a pointer, lvalue or rvalue reference type.
static const char *referenceSigil(dwarf::Tag tag) {
  return tag == dwarf::DW_TAG_pointer_type ? "*" : tag == dwarf::DW_TAG_reference_type ? "&" : "&&";
}

// "int, char **" for the formal parameters of a subroutine type or subprogram DIE; ", ..." for
// varargs. gdb's symbol names leave out artificial parameters (`this`); its type names keep them.
// The demangler's spelling of a type ("char const*", "std::_Any_data&"), which gdb's C++ name
// canonicalization produces for the parameters of computed function names.
static std::string canonicalTypeName(const DWARFDie &t, unsigned depth) {
  if (!t) return "void";
  if (depth > 12) return "...";
  switch (t.getTag()) {
    case dwarf::DW_TAG_pointer_type: case dwarf::DW_TAG_reference_type:
    case dwarf::DW_TAG_rvalue_reference_type: {
      const char *sigil = referenceSigil(t.getTag());
      DWARFDie target = typeOf(t);
      if (target && target.getTag() == dwarf::DW_TAG_subroutine_type) {
        std::string args;
        for (const DWARFDie &p : target.children())
          if (p.getTag() == dwarf::DW_TAG_formal_parameter)
            args += (args.empty() ? "" : ", ") + canonicalTypeName(typeOf(p), depth + 1);
        return canonicalTypeName(typeOf(target), depth + 1) + " (" + sigil + ")(" + args + ")";
      }
      return canonicalTypeName(target, depth + 1) + sigil;
    }
    case dwarf::DW_TAG_base_type: {
      // gdb's C++ name parser shortens GCC's base type names.
      static const std::pair<const char *, const char *> kShort[] = {
          {"long int", "long"}, {"long unsigned int", "unsigned long"},
          {"short int", "short"}, {"short unsigned int", "unsigned short"},
          {"long long int", "long long"}, {"long long unsigned int", "unsigned long long"}};
      const char *n = t.getShortName();
      for (const auto &[from, to] : kShort)
        if (n && !strcmp(n, from)) return to;
      return n ? n : "?";
    }
    case dwarf::DW_TAG_const_type: return canonicalTypeName(typeOf(t), depth + 1) + " const";
    case dwarf::DW_TAG_volatile_type: return canonicalTypeName(typeOf(t), depth + 1) + " volatile";
    default: return typeNameAt(t, depth);
  }
}

static std::string parameterList(const DWARFDie &fn, bool skipArtificial, unsigned depth,
                                 bool canonical = false) {
  std::string args;
  for (const DWARFDie &p : fn.children()) {
    if (p.getTag() == dwarf::DW_TAG_unspecified_parameters) {
      args += args.empty() ? "..." : ", ...";
      break;
    }
    if (p.getTag() != dwarf::DW_TAG_formal_parameter) continue;
    bool artificial = p.find(dwarf::DW_AT_artificial).has_value();
    if (skipArtificial && artificial) continue;
    args += (args.empty() ? "" : ", ") +
            (canonical ? canonicalTypeName(typeOf(p), depth) : typeNameAt(typeOf(p), depth));
    // gdb shows the implicit `this` of a member function type as a const pointer.
    DWARFDie pt = typeOf(p);
    if (artificial && pt && pt.getTag() == dwarf::DW_TAG_pointer_type) args += " const";
  }
  return args;
}

static std::string typeNameAt(const DWARFDie &t, unsigned depth) {
  if (!t) return "void";
  if (depth > 12) return "...";
  const char *n = t.getShortName();
  switch (t.getTag()) {
    case dwarf::DW_TAG_base_type: case dwarf::DW_TAG_typedef: case dwarf::DW_TAG_unspecified_type:
      return n ? n : "?";
    case dwarf::DW_TAG_structure_type: case dwarf::DW_TAG_class_type:
    case dwarf::DW_TAG_union_type: case dwarf::DW_TAG_enumeration_type: {
      if (isCLanguage(t)) {
        const char *kw = t.getTag() == dwarf::DW_TAG_union_type         ? "union "
                         : t.getTag() == dwarf::DW_TAG_enumeration_type ? "enum "
                                                                        : "struct ";
        return std::string(kw) + (n ? n : "{...}");
      }
      return n ? qualifiedTypeName(t) : "{...}";
    }
    case dwarf::DW_TAG_pointer_type: case dwarf::DW_TAG_reference_type:
    case dwarf::DW_TAG_rvalue_reference_type: {
      const char *sigil = referenceSigil(t.getTag());
      DWARFDie target = typeOf(t);
      if (target && target.getTag() == dwarf::DW_TAG_subroutine_type)
        return typeNameAt(typeOf(target), depth + 1) + " (" + sigil + ")(" +
               parameterList(target, false, depth + 1) + ")";
      return typeNameAt(target, depth + 1) + " " + sigil;
    }
    case dwarf::DW_TAG_const_type: case dwarf::DW_TAG_volatile_type: {
      const char *q = t.getTag() == dwarf::DW_TAG_const_type ? "const" : "volatile";
      DWARFDie target = typeOf(t);
      if (target && target.getTag() == dwarf::DW_TAG_pointer_type)
        return typeNameAt(target, depth + 1) + " " + q;
      std::string inner = typeNameAt(target, depth + 1);
      // gcc qualifies both an array and its elements: gdb names that "const char [16]" once.
      if (StringRef(inner).starts_with(std::string(q) + " ")) return inner;
      return std::string(q) + " " + inner;
    }
    case dwarf::DW_TAG_array_type: {
      std::string dims;
      for (const DWARFDie &sr : t.children()) {
        if (sr.getTag() != dwarf::DW_TAG_subrange_type) continue;
        if (auto c = dwarf::toUnsigned(sr.find(dwarf::DW_AT_count))) dims += "[" + std::to_string(*c) + "]";
        else if (auto ub = dwarf::toUnsigned(sr.find(dwarf::DW_AT_upper_bound)))
          dims += "[" + std::to_string(*ub + 1) + "]";
        else dims += "[]";
      }
      return typeNameAt(typeOf(t), depth + 1) + " " + dims;
    }
    case dwarf::DW_TAG_subroutine_type: return typeNameAt(typeOf(t), depth + 1) + " (...)";
    case dwarf::DW_TAG_ptr_to_member_type: {
      DWARFDie cls = t.getAttributeValueAsReferencedDie(dwarf::DW_AT_containing_type);
      std::string owner = (cls ? typeNameAt(cls, depth + 1) : std::string("?")) + "::*";
      DWARFDie target = typeOf(t);
      if (target && target.getTag() == dwarf::DW_TAG_subroutine_type)
        return typeNameAt(typeOf(target), depth + 1) + " (" + owner + ")(" +
               parameterList(target, false, depth + 1) + ")";
      return typeNameAt(target, depth + 1) + " " + owner;
    }
    default: return n ? n : "?";
  }
}

std::string typeName(const DWARFDie &type) { return typeNameAt(type, 0); }

std::string functionSignature(const DWARFDie &subprogram, bool canonical) {
  // The definition may carry no parameters of its own (abstract origin or declaration do).
  DWARFDie withParams = subprogram;
  for (int i = 0; i < 4 && withParams; ++i) {
    bool has = false;
    for (const DWARFDie &c : withParams.children())
      if (c.getTag() == dwarf::DW_TAG_formal_parameter ||
          c.getTag() == dwarf::DW_TAG_unspecified_parameters) {
        has = true;
        break;
      }
    if (has) break;
    DWARFDie next = withParams.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin);
    if (!next) next = withParams.getAttributeValueAsReferencedDie(dwarf::DW_AT_specification);
    if (!next) break;
    withParams = next;
  }
  std::string out = "(" + parameterList(withParams, true, 0, canonical) + ")";
  // A const member function: its artificial `this` points to a const object.
  for (const DWARFDie &p : withParams.children()) {
    if (p.getTag() != dwarf::DW_TAG_formal_parameter) continue;
    if (!p.find(dwarf::DW_AT_artificial)) break;
    DWARFDie ptr = typeOf(p);
    while (ptr && ptr.getTag() != dwarf::DW_TAG_pointer_type) ptr = typeOf(ptr);
    DWARFDie obj = ptr ? typeOf(ptr) : DWARFDie();
    if (obj && obj.getTag() == dwarf::DW_TAG_const_type) out += " const";
    break;
  }
  return out;
}

}  // namespace bt
