#include "vars/std_printers.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>

#include <cstring>

namespace bt {

using namespace llvm;

namespace {

DWARFDie typeOf(const DWARFDie &d) { return d.getAttributeValueAsReferencedDie(dwarf::DW_AT_type); }

// Finds a data member by name in a struct or (recursively) its bases; offset accumulates.
bool findMember(const DWARFDie &t, StringRef name, uint64_t &offset, DWARFDie &type,
                int depth = 0) {
  if (!t || depth > 8) return false;
  for (const DWARFDie &m : t.children()) {
    if (m.getTag() != dwarf::DW_TAG_member) continue;
    const char *n = m.getShortName();
    if (n && name == n) {
      offset += dwarf::toUnsigned(m.find(dwarf::DW_AT_data_member_location), 0);
      type = typeOf(m);
      return true;
    }
  }
  for (const DWARFDie &m : t.children()) {
    if (m.getTag() != dwarf::DW_TAG_inheritance && m.getTag() != dwarf::DW_TAG_member) continue;
    // Bases, and unnamed/impl members that wrap the fields (_M_impl, _M_t, _M_dataplus).
    uint64_t off = offset + dwarf::toUnsigned(m.find(dwarf::DW_AT_data_member_location), 0);
    DWARFDie mt = typeOf(m);
    while (mt && mt.getTag() == dwarf::DW_TAG_typedef) mt = typeOf(mt);
    if (!mt || (mt.getTag() != dwarf::DW_TAG_structure_type && mt.getTag() != dwarf::DW_TAG_class_type))
      continue;
    uint64_t o = off;
    if (findMember(mt, name, o, type, depth + 1)) {
      offset = o;
      return true;
    }
  }
  return false;
}

bool memberU64(const DWARFDie &t, StringRef bytes, StringRef name, uint64_t &value) {
  uint64_t off = 0;
  DWARFDie mt;
  if (!findMember(t, name, off, mt) || off + 8 > bytes.size()) return false;
  memcpy(&value, bytes.data() + off, 8);
  return true;
}

DWARFDie templateArg(const DWARFDie &t, unsigned index) {
  unsigned i = 0;
  for (const DWARFDie &c : t.children())
    if (c.getTag() == dwarf::DW_TAG_template_type_parameter && i++ == index) return typeOf(c);
  return {};
}

uint64_t sizeOf(const DWARFDie &t) { return typeSize(t); }

std::string argName(const DWARFDie &t) { return typeName(t); }

std::optional<std::string> stdString(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p, len;
  if (!memberU64(t, bytes, "_M_p", p) || !memberU64(t, bytes, "_M_string_length", len))
    return std::nullopt;
  DWARFDie charT = templateArg(t, 0);
  if (sizeOf(charT) != 1) return std::nullopt;  // wide strings: raw struct for now
  unsigned limit = f.limits().elements;
  uint64_t n = std::min<uint64_t>(len, limit);
  std::vector<uint8_t> chars(n);
  if (n && f.read(p, chars.data(), n) != n) {
    char b[80];
    snprintf(b, sizeof b, "<error: Cannot access memory at address 0x%llx>", (unsigned long long)p);
    return std::string(b);
  }
  return f.string(chars, len > n);
}

std::optional<std::string> stdVector(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t start, finish, eos;
  if (!memberU64(t, bytes, "_M_start", start) || !memberU64(t, bytes, "_M_finish", finish) ||
      !memberU64(t, bytes, "_M_end_of_storage", eos))
    return std::nullopt;
  DWARFDie elem = templateArg(t, 0);
  uint64_t es = sizeOf(elem);
  if (es == 0 || finish < start || eos < finish) return std::nullopt;
  if (argName(elem) == "bool") return std::nullopt;  // vector<bool> is a bit vector
  uint64_t len = (finish - start) / es, cap = (eos - start) / es;
  std::string out = "std::vector of length " + std::to_string(len) + ", capacity " +
                    std::to_string(cap);
  if (len == 0) return out;
  std::vector<std::string> items;
  uint64_t shown = std::min<uint64_t>(len, f.limits().elements);
  std::string buf(es, '\0');
  for (uint64_t i = 0; i < shown; ++i) {
    if (f.read(start + i * es, buf.data(), es) != es) {
      items.push_back("<error: Cannot access memory>");
      break;
    }
    items.push_back(f.format(elem, buf, start + i * es));
  }
  return out + " = {" + f.elements(items, len > shown) + "}";
}

std::optional<std::string> stdUniquePtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p;
  if (!memberU64(t, bytes, "_M_head_impl", p)) return std::nullopt;
  return "std::unique_ptr<" + argName(templateArg(t, 0)) + "> = {get() = " + f.pointer(p) + "}";
}

std::optional<std::string> stdSharedPtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                        const char *kind) {
  uint64_t p, pi;
  if (!memberU64(t, bytes, "_M_ptr", p) || !memberU64(t, bytes, "_M_pi", pi)) return std::nullopt;
  std::string head = std::string("std::") + kind + "<" + argName(templateArg(t, 0)) + ">";
  std::string state;
  if (pi == 0) {
    state = " (empty)";
  } else {
    int32_t counts[2];  // _Sp_counted_base: vptr, _M_use_count, _M_weak_count
    if (f.read(pi + 8, counts, 8) != 8) return std::nullopt;
    // libstdc++ keeps one extra weak reference while there are strong ones (as gdb shows).
    int32_t weak = counts[0] > 0 ? counts[1] - 1 : counts[1];
    state = counts[0] > 0 ? " (use count " + std::to_string(counts[0]) + ", weak count " +
                                std::to_string(weak) + ")"
                          : " (expired, weak count " + std::to_string(weak) + ")";
  }
  return head + state + " = {get() = " + f.pointer(p) + "}";
}

// Key/value layout of a map or set element (pair<const K, V>: V follows K at V's natural
// alignment, a power of two up to 8 bytes, by size).
struct ElementLayout {
  DWARFDie keyT, valT;
  uint64_t ks = 0, vs = 0, voff = 0;
  bool isSet = false;
};

std::optional<ElementLayout> elementLayout(const DWARFDie &t, bool isSet) {
  ElementLayout l;
  l.isSet = isSet;
  l.keyT = templateArg(t, 0);
  l.valT = isSet ? DWARFDie() : templateArg(t, 1);
  l.ks = sizeOf(l.keyT);
  l.vs = isSet ? 0 : sizeOf(l.valT);
  if (l.ks == 0 || (!isSet && l.vs == 0)) return std::nullopt;
  uint64_t valign = l.vs >= 8 ? 8 : l.vs >= 4 ? 4 : l.vs >= 2 ? 2 : 1;
  l.voff = (l.ks + valign - 1) / valign * valign;
  return l;
}

// One element as gdb's printers show it: "[key] = value" for maps, "[i] = key" for sets.
std::optional<std::string> formatElement(ValueFormatter &f, const ElementLayout &l,
                                         uint64_t addr, uint64_t index) {
  std::string kbuf(l.ks, '\0'), vbuf(l.vs, '\0');
  if (f.read(addr, kbuf.data(), l.ks) != l.ks) return std::nullopt;
  if (l.isSet) return "[" + std::to_string(index) + "] = " + f.format(l.keyT, kbuf, addr);
  if (f.read(addr + l.voff, vbuf.data(), l.vs) != l.vs) return std::nullopt;
  return "[" + f.format(l.keyT, kbuf, addr) + "] = " + f.format(l.valT, vbuf, addr + l.voff);
}

std::string withCount(const char *kind, uint64_t count) {
  return std::string("std::") + kind + " with " + std::to_string(count) + " element" +
         (count == 1 ? "" : "s");
}

std::optional<std::string> stdMap(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                  const char *kind, bool isSet) {
  // _M_header is an _Rb_tree_node_base {color, parent, left, right}: its _M_left is the
  // leftmost node.
  uint64_t count, leftmost;
  if (!memberU64(t, bytes, "_M_node_count", count) || !memberU64(t, bytes, "_M_left", leftmost))
    return std::nullopt;
  std::string out = withCount(kind, count);
  if (count == 0) return out;
  std::optional<ElementLayout> layout = elementLayout(t, isSet);
  if (!layout) return std::nullopt;
  // In-order walk from the leftmost node, stopping after `count` nodes (the walk would
  // otherwise end at the header, whose address the value's bytes do not give).
  std::vector<std::string> items;
  uint64_t node = leftmost, shown = std::min<uint64_t>(count, f.limits().elements);
  for (uint64_t i = 0; i < shown && node; ++i) {
    uint64_t links[3];  // parent, left, right
    if (f.read(node + 8, links, 24) != 24) return std::nullopt;
    std::optional<std::string> item = formatElement(f, *layout, node + 32, i);
    if (!item) return std::nullopt;
    items.push_back(std::move(*item));
    // In-order successor.
    if (links[2]) {
      node = links[2];
      for (int k = 0; k < 64; ++k) {
        uint64_t left;
        if (f.read(node + 16, &left, 8) != 8 || !left) break;
        node = left;
      }
    } else {
      uint64_t child = node, parent = links[0];
      for (int k = 0; k < 64 && parent; ++k) {
        uint64_t pr;
        if (f.read(parent + 24, &pr, 8) != 8) return std::nullopt;
        if (pr != child) break;
        child = parent;
        if (f.read(parent + 8, &parent, 8) != 8) return std::nullopt;
      }
      node = parent;
    }
  }
  return out + " = {" + f.elements(items, count > shown) + "}";
}

// libstdc++ _Hashtable: a singly linked list from _M_before_begin through the nodes
// ({_M_nxt, value, [cached hash]}), in the order gdb's printer walks it.
std::optional<std::string> stdUnordered(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                        const char *kind, bool isSet) {
  // _M_before_begin is a node base holding only _M_nxt, the first node.
  uint64_t node, count;
  if (!memberU64(t, bytes, "_M_nxt", node) || !memberU64(t, bytes, "_M_element_count", count))
    return std::nullopt;
  std::string out = withCount(kind, count);
  if (count == 0) return out;
  std::optional<ElementLayout> layout = elementLayout(t, isSet);
  if (!layout) return std::nullopt;
  std::vector<std::string> items;
  uint64_t shown = std::min<uint64_t>(count, f.limits().elements);
  for (uint64_t i = 0; i < shown && node; ++i) {
    // The value follows _M_nxt (pairs of up to 8-byte alignment).
    std::optional<std::string> item = formatElement(f, *layout, node + 8, i);
    if (!item) return std::nullopt;
    items.push_back(std::move(*item));
    if (f.read(node, &node, 8) != 8) return std::nullopt;
  }
  return out + " = {" + f.elements(items, count > shown) + "}";
}

}  // namespace

std::string qualifiedTypeName(const DWARFDie &type) {
  std::string name = type.getShortName() ? type.getShortName() : "";
  for (DWARFDie p = type.getParent(); p; p = p.getParent()) {
    if (p.getTag() != dwarf::DW_TAG_namespace && p.getTag() != dwarf::DW_TAG_structure_type &&
        p.getTag() != dwarf::DW_TAG_class_type)
      break;
    name = std::string(p.getShortName() ? p.getShortName() : "(anonymous namespace)") + "::" + name;
  }
  return name;
}

std::optional<std::string> formatStdLibraryValue(const DWARFDie &type, StringRef bytes,
                                                 ValueFormatter &f) {
  if (!type.getShortName()) return std::nullopt;
  std::string q = qualifiedTypeName(type);
  auto is = [&](const char *prefix) { return StringRef(q).starts_with(prefix); };
  if (is("std::__cxx11::basic_string<") || is("std::basic_string<")) return stdString(type, bytes, f);
  if (is("std::vector<")) return stdVector(type, bytes, f);
  if (is("std::unique_ptr<")) return stdUniquePtr(type, bytes, f);
  if (is("std::shared_ptr<")) return stdSharedPtr(type, bytes, f, "shared_ptr");
  if (is("std::weak_ptr<")) return stdSharedPtr(type, bytes, f, "weak_ptr");
  if (is("std::map<")) return stdMap(type, bytes, f, "map", false);
  if (is("std::set<")) return stdMap(type, bytes, f, "set", true);
  if (is("std::unordered_map<")) return stdUnordered(type, bytes, f, "unordered_map", false);
  if (is("std::unordered_set<")) return stdUnordered(type, bytes, f, "unordered_set", true);
  return std::nullopt;
}

}  // namespace bt
