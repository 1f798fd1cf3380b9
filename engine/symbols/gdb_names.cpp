#include "symbols/gdb_names.h"

#include <llvm/Demangle/Demangle.h>

#include <llvm/ADT/STLExtras.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <cstdlib>
#include <cstring>
#include <vector>

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

// The ident of a legacy Rust symbol with its escapes decoded, as libiberty's rust-demangle.c
// (legacy_demangle / print_ident) does: "$LT$" -> "<", "$u7b$" -> "{", ".." -> "::" (a single
// "." stays: "{{vtable.shim}}"), a leading "_$" loses its "_". False on an unknown escape (then
// the symbol is not treated as Rust).
static bool decodeLegacyIdent(StringRef ident, std::string &out) {
  if (ident.starts_with("_$")) ident = ident.drop_front();
  while (!ident.empty()) {
    if (ident.starts_with("..")) {
      out += "::";
      ident = ident.drop_front(2);
    } else if (ident[0] == '.') {
      out += '.';
      ident = ident.drop_front();
    } else if (ident[0] == '$') {
      size_t end = ident.find('$', 1);
      if (end == StringRef::npos) return false;
      StringRef esc = ident.slice(1, end);
      static const std::pair<const char *, char> kNamed[] = {
          {"SP", '@'}, {"BP", '*'}, {"RF", '&'}, {"LT", '<'}, {"GT", '>'},
          {"LP", '('}, {"RP", ')'}, {"C", ','}};
      bool known = false;
      for (const auto &[code, c] : kNamed)
        if (esc == code) {
          out += c;
          known = true;
        }
      unsigned cp = 0;
      if (!known && esc.size() >= 2 && esc[0] == 'u' && !esc.drop_front().getAsInteger(16, cp) &&
          cp > 0 && cp < 0x80) {
        out += char(cp);
        known = true;
      }
      if (!known) return false;
      ident = ident.drop_front(end + 1);
    } else {
      out += ident[0];
      ident = ident.drop_front();
    }
  }
  return true;
}

std::string rustSymbolName(StringRef symbol) {
  // LLVM's optimizations append ".llvm.NNN" (and other "." suffixes) after the mangled name;
  // gdb shows the name without them.
  if (symbol.starts_with("_R")) {
    std::string mangled = symbol.take_until([](char c) { return c == '.'; }).str();
    if (char *buf = llvm::rustDemangle(mangled)) {
      std::string out(buf);
      free(buf);
      return out;
    }
    return {};
  }
  // Legacy: _ZN <len><ident>... 17h<16 hex> E, the last path component being the hash.
  if (!symbol.starts_with("_ZN")) return {};
  StringRef rest = symbol.drop_front(3);
  std::vector<StringRef> idents;
  while (!rest.empty() && rest[0] != 'E') {
    size_t digits = 0;
    while (digits < rest.size() && isdigit((unsigned char)rest[digits])) ++digits;
    unsigned len = 0;
    if (digits == 0 || rest.take_front(digits).getAsInteger(10, len) || len == 0 ||
        len > rest.size() - digits)
      return {};
    idents.push_back(rest.substr(digits, len));
    rest = rest.drop_front(digits + len);
  }
  if (rest.empty() || idents.size() < 2) return {};
  rest = rest.drop_front();  // the 'E'
  if (!rest.empty() && rest[0] != '.') return {};
  StringRef hash = idents.back();
  if (hash.size() != 17 || hash[0] != 'h' ||
      !llvm::all_of(hash.drop_front(),
                    [](char c) { return isdigit((unsigned char)c) || (c >= 'a' && c <= 'f'); }))
    return {};
  idents.pop_back();
  std::string out;
  for (StringRef ident : idents) {
    if (!out.empty()) out += "::";
    if (!decodeLegacyIdent(ident, out)) return {};
  }
  return out;
}

std::string displayFunctionName(StringRef name) {
  // Rust first: a legacy Rust symbol is also a valid Itanium name (with the hash as a last
  // component and "$LT$" escapes). Anything else is left to the C++ demangler, unchanged.
  if (name.starts_with("_R") || name.starts_with("_ZN"))
    if (std::string rust = rustSymbolName(name); !rust.empty()) return rust;
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

// Where `text` has `needle` outside any <>, () or [] (npos if nowhere), searching from the end.
static size_t lastTopLevel(StringRef text, StringRef needle) {
  int depth = 0;
  for (size_t i = text.size(); i-- > 0;) {
    char c = text[i];
    if (c == ')' || c == '>' || c == ']') ++depth;
    else if (c == '(' || c == '<' || c == '[') --depth;
    else if (depth == 0 && text.substr(i).starts_with(needle)) return i;
  }
  return StringRef::npos;
}

std::string breakpadFunctionName(StringRef name) {
  name = name.trim();
  if (name.starts_with("_Z")) return displayFunctionName(name);
  // Suffixes after the parameter list, innermost last: " [clone .isra.6] [clone .part.7]", a
  // C++20 requires-clause, then cv- and ref-qualifiers.
  while (name.ends_with("]")) {
    size_t open = name.rfind(" [clone ");
    if (open == StringRef::npos) break;
    name = name.take_front(open).rtrim();
  }
  if (size_t req = lastTopLevel(name, " requires "); req != StringRef::npos)
    name = name.take_front(req).rtrim();
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
  StringRef head;
  for (size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    else if (name[i] == '(' && --depth == 0) {
      head = name.take_front(i).rtrim();
      break;
    }
  }
  if (head.empty()) return name.str();  // unbalanced: shown as written
  // "...operator()" written without a parameter list (a lambda without a linkage name): the
  // parentheses are the name.
  if (head.ends_with("operator")) return name.str();
  // A function template's return type before its name ("void ns::f<long>"), as the demangler
  // spells templates: gdb names the function alone. Not the space of "operator new" or of a
  // conversion operator.
  // Its name starts after the last top-level space before the last scope ("X* ns::C::operator()<T>"),
  // or before "operator" ("operator new", "unsigned long operator+<T>").
  std::string scopes = head.str();
  for (const char *paren : {"(anonymous namespace)", "operator()"})
    for (size_t at; (at = scopes.find(paren)) != std::string::npos;)
      scopes.replace(at, strlen(paren), strlen(paren), '_');  // same length: positions stay
  bool localScope = false;
  int angles = 0;
  for (char c : scopes) {
    if (c == '<') ++angles;
    else if (c == '>') --angles;
    else if (c == '(' && angles == 0) localScope = true;  // not in template arguments
  }
  // A member of a class local to a function template keeps that function's whole spelling,
  // return type included, as gdb writes it ("void f<int>(int)::Local::Local").
  if (localScope) return head.str();
  StringRef flat(scopes);
  size_t limit = lastTopLevel(flat, "::");
  if (limit == StringRef::npos) limit = lastTopLevel(flat, "operator");
  if (limit == StringRef::npos) limit = flat.size();
  if (size_t sp = lastTopLevel(flat.take_front(limit), " "); sp != StringRef::npos) head = head.drop_front(sp + 1);
  return head.str();
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

bool isRustUnit(DWARFDie die) {
  DWARFUnit *u = die.getDwarfUnit();
  if (!u) return false;
  auto lang = dwarf::toUnsigned(u->getUnitDIE(false).find(dwarf::DW_AT_language));
  return lang && *lang == dwarf::DW_LANG_Rust;
}

// gdb's name for a function DIE: the demangled linkage name when there is one, else the DWARF
// name qualified by its enclosing namespaces and classes (gdb's dwarf2_compute_name /
// determine_prefix). An unnamed class or an enclosing function ends the prefix, as in gdb.
std::string functionNameForDie(DWARFDie die) {
  // gdb names Rust functions by their DWARF names (dwarf2_compute_name), never by the linkage
  // name: rustc's DW_AT_name already carries the generic arguments ("lock<alloc::vec::Vec<u32,
  // alloc::alloc::Global>>", "{closure#1}<u64>"), impl blocks and function bodies are
  // namespaces ("{impl#23}", "main"), and methods are declared in their type's
  // DW_TAG_structure_type ("Mutex<...>"), an enum's included.
  bool rust = isRustUnit(die);
  if (!rust)
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
               tag == dwarf::DW_TAG_union_type || (rust && tag == dwarf::DW_TAG_enumeration_type)) {
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
