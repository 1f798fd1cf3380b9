#include "symbols/gdb_names.h"

#include <llvm/Demangle/Demangle.h>

#include <cstdlib>

namespace bt {

using namespace llvm;

// LLVM's demangler spells closure and unnamed types 'lambda'(int), 'lambda0'(int), 'unnamed';
// GNU's (and so gdb's) spell them {lambda(int)#1}, {lambda(int)#2}, {unnamed type#1}. Use the
// GNU spelling so names agree with gdb and with c++filt.
std::string gnuClosureNames(std::string s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    bool lambda = s.compare(i, 7, "'lambda") == 0;
    bool unnamed = s.compare(i, 8, "'unnamed") == 0;
    if (!lambda && !unnamed) {
      out += s[i++];
      continue;
    }
    size_t p = i + (lambda ? 7 : 8);
    size_t q = p;
    while (q < s.size() && isdigit((unsigned char)s[q])) ++q;
    if (q >= s.size() || s[q] != '\'') {
      out += s[i++];
      continue;
    }
    std::string digits = s.substr(p, q - p);
    unsigned n = digits.empty() ? 1 : unsigned(std::stoul(digits)) + 2;
    ++q;  // past the closing quote
    if (unnamed) {
      out += "{unnamed type#" + std::to_string(n) + "}";
      i = q;
      continue;
    }
    // The parameter list follows: copy it with its nesting.
    size_t e = q;
    int depth = 0;
    do {
      if (e >= s.size()) break;
      if (s[e] == '(') ++depth;
      else if (s[e] == ')') --depth;
      ++e;
    } while (depth > 0);
    out += "{lambda" + s.substr(q, e - q) + "#" + std::to_string(n) + "}";
    i = e;
  }
  return out;
}

std::string displayFunctionName(StringRef name) {
  if (name.starts_with("_Z")) {
    ItaniumPartialDemangler d;
    std::string mangled = name.str();
    if (!d.partialDemangle(mangled.c_str())) {
      size_t n = 0;
      char *buf = d.isFunction() ? d.getFunctionName(nullptr, &n) : d.finishDemangle(nullptr, &n);
      if (buf) {
        std::string out(buf);
        free(buf);
        return gnuClosureNames(std::move(out));
      }
    }
  }
  return name.str();
}

std::string breakpadFunctionName(StringRef name) {
  name = name.trim();
  if (name.starts_with("_Z")) return displayFunctionName(name);
  // Suffixes after the parameter list, innermost last: " [clone .isra.6] [clone .part.7]", then
  // cv- and ref-qualifiers.
  while (name.ends_with("]")) {
    size_t open = name.rfind(" [clone ");
    if (open == StringRef::npos) break;
    name = name.take_front(open).rtrim();
  }
  for (bool again = true; again;) {
    again = false;
    for (StringRef q : {" const", " volatile", " &&", " &", " noexcept"})
      if (name.ends_with(q)) {
        name = name.drop_back(q.size()).rtrim();
        again = true;
      }
  }
  if (!name.ends_with(")")) return name.str();
  int depth = 0;
  for (size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    else if (name[i] == '(' && --depth == 0) {
      StringRef head = name.take_front(i).rtrim();
      return head.empty() ? name.str() : head.str();
    }
  }
  return name.str();  // unbalanced: shown as written
}

DWARFDie declarationOf(DWARFDie die) {
  for (int i = 0; i < 8; ++i) {
    DWARFDie next = die.getAttributeValueAsReferencedDie(dwarf::DW_AT_abstract_origin);
    if (!next) next = die.getAttributeValueAsReferencedDie(dwarf::DW_AT_specification);
    if (!next) break;
    die = next;
  }
  return die;
}

// gdb's name for a function DIE: the demangled linkage name when there is one, else the DWARF
// name qualified by its enclosing namespaces and classes (gdb's dwarf2_compute_name /
// determine_prefix). An unnamed class or an enclosing function ends the prefix, as in gdb.
std::string functionNameForDie(DWARFDie die) {
  if (const char *ln = die.getLinkageName()) return displayFunctionName(ln);
  const char *shortName = die.getShortName();
  if (!shortName) return {};
  // The declaration carries the scope.
  DWARFDie decl = declarationOf(die);
  std::string prefix;
  for (DWARFDie p = decl.getParent(); p; p = p.getParent()) {
    dwarf::Tag tag = p.getTag();
    if (tag == dwarf::DW_TAG_namespace) {
      const char *n = p.getShortName();
      prefix = std::string(n ? n : "(anonymous namespace)") + "::" + prefix;
    } else if (tag == dwarf::DW_TAG_class_type || tag == dwarf::DW_TAG_structure_type ||
               tag == dwarf::DW_TAG_union_type) {
      const char *n = p.getShortName();
      if (!n) {
        prefix.clear();
        break;
      }
      prefix = std::string(n) + "::" + prefix;
    } else {
      if (tag != dwarf::DW_TAG_compile_unit && tag != dwarf::DW_TAG_partial_unit) prefix.clear();
      break;
    }
  }
  return prefix + shortName;
}

}  // namespace bt
