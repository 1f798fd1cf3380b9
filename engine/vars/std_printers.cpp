#include "vars/std_printers.h"

#include "support/hex.h"
#include "vars/dwarf_types.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <cctype>
#include <map>
#include <cstring>

namespace bt {

using namespace llvm;

struct StdPrinterMemo::Data {
  // A DIE found from a type DIE: its offset and tag in that type's unit, checked when the DIE is
  // made again from the offset. One found in another unit is not remembered.
  struct Die {
    bool remembered = true;
    uint64_t offset = UINT64_MAX;  // none was found
    dwarf::Tag tag{};
  };
  struct Member {
    bool found = false;
    uint64_t offset = 0;
    Die type, member;
  };
  using Key = std::pair<const void *, uint64_t>;  // the unit's section bytes, the DIE's offset
  std::map<std::pair<Key, std::string>, Member, std::less<>> members;
  std::map<Key, std::string> names;
  std::map<std::pair<Key, unsigned>, Die> templateArgs;  // (type, index) -> argument
};

StdPrinterMemo::StdPrinterMemo() : data(std::make_unique<Data>()) {}
StdPrinterMemo::~StdPrinterMemo() = default;

namespace {

thread_local StdPrinterMemo::Data *activeMemo = nullptr;

StdPrinterMemo::Data::Key keyOf(const DWARFDie &d) {
  return {d.getDwarfUnit()->getInfoSection().Data.data(), d.getOffset()};
}

StdPrinterMemo::Data::Die remember(const DWARFDie &d, const DWARFDie &from) {
  StdPrinterMemo::Data::Die r;
  r.remembered = !d || d.getDwarfUnit() == from.getDwarfUnit();
  if (d) r.offset = d.getOffset(), r.tag = d.getTag();
  return r;
}

// The remembered DIE made again in `from`'s unit (an empty DIE when none was found); nullopt when
// it cannot be: not remembered, or no DIE with that tag at that offset there.
std::optional<DWARFDie> recall(const StdPrinterMemo::Data::Die &r, const DWARFDie &from) {
  if (!r.remembered) return std::nullopt;
  if (r.offset == UINT64_MAX) return DWARFDie();
  DWARFUnit *u = from.getDwarfUnit();
  if (r.offset < u->getOffset() || r.offset >= u->getNextUnitOffset()) return std::nullopt;
  DWARFDie d = u->getDIEForOffset(r.offset);
  if (!d || d.getTag() != r.tag) return std::nullopt;
  return d;
}

bool findMemberUncached(const DWARFDie &t, StringRef name, uint64_t &offset, DWARFDie &type,
                        int depth, DWARFDie *member);

// Finds a data member by name in a struct or (recursively) its bases; offset accumulates.
bool findMember(const DWARFDie &t, StringRef name, uint64_t &offset, DWARFDie &type,
                int depth = 0, DWARFDie *member = nullptr) {
  if (!activeMemo || !t || depth > 0) return findMemberUncached(t, name, offset, type, depth, member);
  auto key = std::make_pair(keyOf(t), name.str());
  auto it = activeMemo->members.find(key);
  if (it == activeMemo->members.end()) {
    StdPrinterMemo::Data::Member m;
    DWARFDie mt, md;
    m.found = findMemberUncached(t, name, m.offset, mt, 0, &md);
    m.type = remember(mt, t);
    m.member = remember(md, t);
    it = activeMemo->members.emplace(std::move(key), m).first;
    if (!m.found) return false;
    offset += m.offset;
    type = mt;
    if (member) *member = md;
    return true;
  }
  const StdPrinterMemo::Data::Member &m = it->second;
  if (!m.found) return false;
  std::optional<DWARFDie> mt = recall(m.type, t), md = recall(m.member, t);
  if (!mt || !md) return findMemberUncached(t, name, offset, type, 0, member);
  offset += m.offset;
  type = *mt;
  if (member) *member = *md;
  return true;
}

bool findMemberUncached(const DWARFDie &t, StringRef name, uint64_t &offset, DWARFDie &type,
                        int depth, DWARFDie *member) {
  if (!t || depth > 8) return false;
  for (const DWARFDie &m : t.children()) {
    if (m.getTag() != dwarf::DW_TAG_member) continue;
    const char *n = m.getShortName();
    if (n && name == n) {
      offset += dwarf::toUnsigned(m.find(dwarf::DW_AT_data_member_location), 0);
      type = typeOf(m);
      if (member) *member = m;
      return true;
    }
  }
  for (const DWARFDie &m : t.children()) {
    if (m.getTag() != dwarf::DW_TAG_inheritance && m.getTag() != dwarf::DW_TAG_member) continue;
    // Bases, and unnamed/impl members that wrap the fields (_M_impl, _M_t, _M_dataplus).
    uint64_t off = offset + dwarf::toUnsigned(m.find(dwarf::DW_AT_data_member_location), 0);
    DWARFDie mt = typeOf(m);
    while (mt && mt.getTag() == dwarf::DW_TAG_typedef) mt = typeOf(mt);
    if (!mt || (mt.getTag() != dwarf::DW_TAG_structure_type && mt.getTag() != dwarf::DW_TAG_class_type &&
                mt.getTag() != dwarf::DW_TAG_union_type))  // optional's _M_payload is a union
      continue;
    uint64_t o = off;
    if (findMemberUncached(mt, name, o, type, depth + 1, member)) {
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

DWARFDie templateArgUncached(const DWARFDie &t, unsigned index) {
  std::vector<DWARFDie> args = templateArgs(t);
  return index < args.size() ? args[index] : DWARFDie();
}

DWARFDie templateArg(const DWARFDie &t, unsigned index) {
  if (!activeMemo || !t) return templateArgUncached(t, index);
  auto key = std::make_pair(keyOf(t), index);
  auto it = activeMemo->templateArgs.find(key);
  if (it == activeMemo->templateArgs.end()) {
    DWARFDie a = templateArgUncached(t, index);
    activeMemo->templateArgs.emplace(key, remember(a, t));
    return a;
  }
  std::optional<DWARFDie> a = recall(it->second, t);
  return a ? *a : templateArgUncached(t, index);
}

uint64_t sizeOf(const DWARFDie &t) { return typeSize(t); }

// A template argument as gdb's libstdc++ type printers name it: the string types by their
// typedefs ("std::unique_ptr<std::string>"), and GCC's base type names as gdb's C++ type printer
// canonicalizes them ("std::atomic<unsigned long>" for DWARF's "long unsigned int").
std::string argName(const DWARFDie &t) {
  static const std::pair<StringRef, StringRef> kAliases[] = {
      {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
      {"std::__cxx11::basic_string<wchar_t, std::char_traits<wchar_t>, std::allocator<wchar_t> >", "std::wstring"},
  };
  static const std::pair<StringRef, StringRef> kShort[] = {  // longest first
      {"long long unsigned int", "unsigned long long"}, {"long long int", "long long"},
      {"long unsigned int", "unsigned long"}, {"short unsigned int", "unsigned short"},
      {"long int", "long"}, {"short int", "short"}};
  auto identChar = [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string n = typeName(t);
  for (const auto &[from, to] : kAliases)
    for (size_t at = n.find(from.str()); at != std::string::npos; at = n.find(from.str(), at + to.size()))
      n.replace(at, from.size(), to.str());
  for (const auto &[from, to] : kShort)
    for (size_t at = n.find(from.str()); at != std::string::npos; at = n.find(from.str(), at + 1)) {
      size_t end = at + from.size();
      if ((at && identChar(n[at - 1])) || (end < n.size() && identChar(n[end]))) continue;
      n.replace(at, from.size(), to.str());
    }
  return n;
}

// alignof(T) from the DWARF (scalars by size, aggregates by their members; bounded), for where
// a node stores its element after the link header.
uint64_t alignOf(const DWARFDie &type, int depth = 0) {
  DWARFDie t = stripTypedefs(type);
  if (!t || depth > 8) return 8;
  switch (t.getTag()) {
    case dwarf::DW_TAG_array_type: return alignOf(typeOf(t), depth + 1);
    case dwarf::DW_TAG_structure_type: case dwarf::DW_TAG_class_type: case dwarf::DW_TAG_union_type: {
      uint64_t a = 1;
      for (const DWARFDie &m : t.children())
        if (m.getTag() == dwarf::DW_TAG_member || m.getTag() == dwarf::DW_TAG_inheritance)
          if (!m.find(dwarf::DW_AT_external)) a = std::max(a, alignOf(typeOf(m), depth + 1));
      return a;
    }
    default: {
      uint64_t size = typeSize(t);
      return size && size <= 16 && !(size & (size - 1)) ? size : 8;
    }
  }
}

// What a summary prints for memory it cannot read, as gdb words it.
std::string unreadable(uint64_t addr) {
  return "<error: Cannot access memory at address " + hexU64(addr) + ">";
}

// The `len` chars at `p` as a quoted string (up to the element limit).
std::string stringAt(ValueFormatter &f, uint64_t p, uint64_t len) {
  unsigned limit = f.limits().elements;
  uint64_t n = std::min<uint64_t>(len, limit);
  std::vector<uint8_t> chars(n);
  if (n && f.read(p, chars.data(), n) != n) return unreadable(p);
  return f.string(chars, len > n);
}

std::optional<std::string> stdString(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p, len;
  if (!memberU64(t, bytes, "_M_p", p) || !memberU64(t, bytes, "_M_string_length", len))
    return std::nullopt;
  DWARFDie charT = templateArg(t, 0);
  if (sizeOf(charT) != 1) return std::nullopt;  // wide strings: raw struct for now
  return stringAt(f, p, len);
}

// gdb's vector summary from the three pointers (begin, end, end of storage). As gdb's printer,
// also on a corrupt vector: the counts are signed pointer differences ("length -3, capacity 0"),
// and the elements are walked from begin until end, up to the element limit.
std::optional<std::string> vectorSummary(ValueFormatter &f, const DWARFDie &elem, uint64_t start,
                                         uint64_t finish, uint64_t eos) {
  uint64_t es = sizeOf(elem);
  if (es == 0) return std::nullopt;
  if (argName(elem) == "bool") return std::nullopt;  // vector<bool> is a bit vector
  int64_t len = int64_t(finish - start) / int64_t(es), cap = int64_t(eos - start) / int64_t(es);
  std::string out = "std::vector of length " + std::to_string(len) + ", capacity " +
                    std::to_string(cap);
  if (finish == start) return out;
  std::vector<std::string> items;
  std::string buf(es, '\0');
  uint64_t at = start;
  while (at != finish && items.size() < f.limits().elements) {
    if (f.read(at, buf.data(), es) != es) {
      items.push_back(unreadable(at));
      return out + " = {" + f.elements(items, false) + "}";
    }
    items.push_back(f.format(elem, buf, at));
    at += es;
  }
  return out + " = {" + f.elements(items, at != finish) + "}";
}

std::optional<std::string> stdVector(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t start, finish, eos;
  if (!memberU64(t, bytes, "_M_start", start) || !memberU64(t, bytes, "_M_finish", finish) ||
      !memberU64(t, bytes, "_M_end_of_storage", eos))
    return std::nullopt;
  return vectorSummary(f, templateArg(t, 0), start, finish, eos);
}

std::optional<std::string> stdUniquePtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p;
  if (!memberU64(t, bytes, "_M_head_impl", p)) return std::nullopt;
  return "std::unique_ptr<" + argName(templateArg(t, 0)) + "> = {get() = " + f.pointer(p) + "}";
}

// gdb's shared_ptr/weak_ptr summary; `use`/`weak` are the counts gdb shows (no control
// block: "(empty)").
std::string sharedPtrSummary(ValueFormatter &f, const DWARFDie &t, const char *kind, uint64_t p,
                             bool hasControl, int64_t use, int64_t weak) {
  std::string head = std::string("std::") + kind + "<" + argName(templateArg(t, 0)) + ">";
  std::string state;
  if (!hasControl)
    state = " (empty)";
  else
    state = use > 0 ? " (use count " + std::to_string(use) + ", weak count " +
                          std::to_string(weak) + ")"
                    : " (expired, weak count " + std::to_string(weak) + ")";
  return head + state + " = {get() = " + f.pointer(p) + "}";
}

std::optional<std::string> stdSharedPtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                        const char *kind) {
  uint64_t p, pi;
  if (!memberU64(t, bytes, "_M_ptr", p) || !memberU64(t, bytes, "_M_pi", pi)) return std::nullopt;
  if (pi == 0) return sharedPtrSummary(f, t, kind, p, false, 0, 0);
  int32_t counts[2];  // _Sp_counted_base: vptr, _M_use_count, _M_weak_count
  if (f.read(pi + 8, counts, 8) != 8) return std::nullopt;
  // libstdc++ keeps one extra weak reference while there are strong ones (as gdb shows).
  int32_t weak = counts[0] > 0 ? counts[1] - 1 : counts[1];
  return sharedPtrSummary(f, t, kind, p, true, counts[0], weak);
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

// ---------------------------------------------------------------------------------------------
// libc++ (LLVM's standard library, namespace std::__1), the layouts of libc++ 19: every field is
// found by its DWARF member name and checked for its expected kind and size, so another layout
// gives no summary (the raw struct is printed), never a wrong one. The text is the libstdc++
// summaries' (gdb's printers'), so that a value reads the same whichever library it came from.

// A data member reached through a path of member names (each looked up, through bases and
// unnamed members, in the previous member's type): its offset in the outer object, its DIE and
// its type (typedefs and cv-qualifiers stripped).
struct Field {
  uint64_t off = 0;
  DWARFDie die, type;
};

std::optional<Field> memberPath(const DWARFDie &t, std::initializer_list<StringRef> path,
                                uint64_t base = 0) {
  Field fl;
  fl.off = base;
  DWARFDie cur = stripTypedefs(t);
  for (StringRef name : path) {
    DWARFDie mt;
    if (!cur || !findMember(cur, name, fl.off, mt, 0, &fl.die)) return std::nullopt;
    cur = stripTypedefs(mt);
    fl.type = cur;
  }
  if (!fl.type) return std::nullopt;
  return fl;
}

bool isPointer(const DWARFDie &t) {
  return t && t.getTag() == dwarf::DW_TAG_pointer_type && sizeOf(t) == 8;
}
bool isWord(const DWARFDie &t) {  // size_t / long
  return t && t.getTag() == dwarf::DW_TAG_base_type && sizeOf(t) == 8;
}

bool loadU64(StringRef bytes, uint64_t off, uint64_t &v) {
  if (off > bytes.size() || bytes.size() - off < 8) return false;
  memcpy(&v, bytes.data() + off, 8);
  return true;
}

// A pointer member at `path`; false if absent or not a pointer.
bool pointerAt(const DWARFDie &t, StringRef bytes, std::initializer_list<StringRef> path,
               uint64_t &v) {
  std::optional<Field> fl = memberPath(t, path);
  return fl && isPointer(fl->type) && loadU64(bytes, fl->off, v);
}

// A bit-field member's value (little-endian; DW_AT_data_bit_offset, or DWARF 2/3's
// DW_AT_bit_offset counted from the storage unit's most significant bit).
std::optional<uint64_t> bitField(const Field &fl, StringRef bytes) {
  std::optional<uint64_t> bits = dwarf::toUnsigned(fl.die.find(dwarf::DW_AT_bit_size));
  if (!bits || *bits == 0 || *bits > 64 || fl.off >= bytes.size()) return std::nullopt;
  uint64_t pos = fl.off * 8;
  if (auto dbo = dwarf::toUnsigned(fl.die.find(dwarf::DW_AT_data_bit_offset))) {
    pos += *dbo;
  } else if (auto bo = dwarf::toUnsigned(fl.die.find(dwarf::DW_AT_bit_offset))) {
    uint64_t unit = dwarf::toUnsigned(fl.die.find(dwarf::DW_AT_byte_size), sizeOf(fl.type));
    if (unit > 16 || *bo > 128 || unit * 8 < *bo + *bits) return std::nullopt;
    pos += unit * 8 - *bo - *bits;
  } else {
    return std::nullopt;
  }
  if (pos / 8 >= bytes.size() || (pos + *bits + 7) / 8 > bytes.size()) return std::nullopt;
  uint64_t v = 0;
  for (uint64_t i = 0; i < *bits; ++i) {
    uint64_t b = pos + i;
    if ((uint8_t(bytes[b / 8]) >> (b % 8)) & 1) v |= uint64_t(1) << i;
  }
  return v;
}

// Alignment of a type as the Itanium ABI lays it out (0: unknown). `budget` bounds the DIEs
// visited.
uint64_t typeAlign(const DWARFDie &t, unsigned &budget, int depth = 0) {
  if (!t || depth > 16 || budget == 0) return 0;
  --budget;
  if (auto a = dwarf::toUnsigned(t.find(dwarf::DW_AT_alignment))) return *a;
  switch (t.getTag()) {
    case dwarf::DW_TAG_typedef: case dwarf::DW_TAG_const_type: case dwarf::DW_TAG_volatile_type:
    case dwarf::DW_TAG_restrict_type: case dwarf::DW_TAG_atomic_type: case dwarf::DW_TAG_array_type:
      return typeAlign(typeOf(t), budget, depth + 1);
    case dwarf::DW_TAG_pointer_type: case dwarf::DW_TAG_reference_type:
    case dwarf::DW_TAG_rvalue_reference_type: case dwarf::DW_TAG_ptr_to_member_type:
      return 8;
    case dwarf::DW_TAG_base_type: case dwarf::DW_TAG_enumeration_type: {
      uint64_t size = sizeOf(t);
      if (dwarf::toUnsigned(t.find(dwarf::DW_AT_encoding), 0) == dwarf::DW_ATE_complex_float)
        size /= 2;
      if (size == 0 || (size & (size - 1)) || size > 16) return 0;
      return size;
    }
    case dwarf::DW_TAG_structure_type: case dwarf::DW_TAG_class_type: case dwarf::DW_TAG_union_type: {
      if (t.find(dwarf::DW_AT_declaration)) return 0;
      uint64_t a = 1;
      for (const DWARFDie &c : t.children()) {
        if (c.getTag() != dwarf::DW_TAG_member && c.getTag() != dwarf::DW_TAG_inheritance) continue;
        // Static members (DWARF 4 spells them as declared members).
        if (c.find(dwarf::DW_AT_declaration) || c.find(dwarf::DW_AT_external)) continue;
        uint64_t m = typeAlign(typeOf(c), budget, depth + 1);
        if (m == 0) return 0;
        a = std::max(a, m);
      }
      return a;
    }
    default:
      return 0;
  }
}

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Where a map/set element lives in a libc++ node value (`valueT`: __value_type<K, V> holding
// the pair<const K, V> as __cc_, __hash_value_type<K, V> likewise, or the set's K).
std::optional<ElementLayout> cxxElementLayout(const DWARFDie &container, const DWARFDie &valueT,
                                              bool isSet) {
  ElementLayout l;
  l.isSet = isSet;
  l.keyT = templateArg(container, 0);
  l.ks = sizeOf(l.keyT);
  if (l.ks == 0) return std::nullopt;
  if (isSet) return l;
  l.valT = templateArg(container, 1);
  l.vs = sizeOf(l.valT);
  if (l.vs == 0) return std::nullopt;
  // The pair's own layout when its DWARF is complete, else the ABI's rule.
  std::optional<Field> first = memberPath(valueT, {"__cc_", "first"});
  std::optional<Field> second = memberPath(valueT, {"__cc_", "second"});
  if (first && second) {
    if (first->off != 0 || second->off < l.ks) return std::nullopt;
    l.voff = second->off;
  } else {
    unsigned budget = 4096;
    uint64_t va = typeAlign(l.valT, budget);
    if (va == 0) return std::nullopt;
    l.voff = alignUp(l.ks, va);
  }
  return l;
}

std::optional<std::string> cxxString(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  if (sizeOf(templateArg(t, 0)) != 1) return std::nullopt;  // wide strings: raw struct for now
  // __r_ is a __compressed_pair<__rep, allocator>; __rep is the union of the short form
  // {__is_long_:1, __size_:7, __data_[23]} and the long form {__is_long_:1, __cap_:63, __size_,
  // __data_}, told apart by the shared __is_long_ bit.
  std::optional<Field> rep = memberPath(t, {"__r_", "__value_"});
  if (!rep || rep->type.getTag() != dwarf::DW_TAG_union_type) return std::nullopt;
  std::optional<Field> isLong = memberPath(rep->type, {"__s", "__is_long_"}, rep->off);
  std::optional<Field> sSize = memberPath(rep->type, {"__s", "__size_"}, rep->off);
  std::optional<Field> sData = memberPath(rep->type, {"__s", "__data_"}, rep->off);
  std::optional<Field> lSize = memberPath(rep->type, {"__l", "__size_"}, rep->off);
  std::optional<Field> lData = memberPath(rep->type, {"__l", "__data_"}, rep->off);
  std::optional<Field> lCap = memberPath(rep->type, {"__l", "__cap_"}, rep->off);
  if (!isLong || !sSize || !sData || !lSize || !lData || !lCap) return std::nullopt;
  std::optional<uint64_t> longMode = bitField(*isLong, bytes);
  if (!longMode) return std::nullopt;
  if (!*longMode) {
    std::optional<uint64_t> size = bitField(*sSize, bytes);
    uint64_t cap = sizeOf(sData->type);  // the inline buffer, NUL included
    if (!size || sData->type.getTag() != dwarf::DW_TAG_array_type || *size >= cap ||
        sData->off > bytes.size() || cap > bytes.size() - sData->off)
      return std::nullopt;
    uint64_t n = std::min<uint64_t>(*size, f.limits().elements);
    std::vector<uint8_t> chars(bytes.begin() + sData->off, bytes.begin() + sData->off + n);
    return f.string(chars, *size > n);
  }
  uint64_t size, data;
  std::optional<uint64_t> capField = bitField(*lCap, bytes);
  if (!isWord(lSize->type) || !isPointer(lData->type) || !capField ||
      !loadU64(bytes, lSize->off, size) || !loadU64(bytes, lData->off, data))
    return std::nullopt;
  // __cap_ holds the capacity divided by __endian_factor (2, or 1 in the alternate layout).
  if (size > *capField * 2) return std::nullopt;
  return stringAt(f, data, size);
}

std::optional<std::string> cxxVector(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t begin, end, cap;
  if (!pointerAt(t, bytes, {"__begin_"}, begin) || !pointerAt(t, bytes, {"__end_"}, end) ||
      !pointerAt(t, bytes, {"__end_cap_", "__value_"}, cap))
    return std::nullopt;
  return vectorSummary(f, templateArg(t, 0), begin, end, cap);
}

std::optional<std::string> cxxUniquePtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p;
  if (!pointerAt(t, bytes, {"__ptr_", "__value_"}, p)) return std::nullopt;
  return "std::unique_ptr<" + argName(templateArg(t, 0)) + "> = {get() = " + f.pointer(p) + "}";
}

std::optional<std::string> cxxSharedPtr(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                        const char *kind) {
  uint64_t p, ctrl;
  if (!pointerAt(t, bytes, {"__ptr_"}, p) || !pointerAt(t, bytes, {"__cntrl_"}, ctrl))
    return std::nullopt;
  if (ctrl == 0) return sharedPtrSummary(f, t, kind, p, false, 0, 0);
  // __shared_weak_count: vptr, __shared_owners_, __shared_weak_owners_ (longs), both stored as
  // count - 1; the strong owners together hold one weak reference, as in libstdc++.
  int64_t counts[2];
  if (f.read(ctrl + 8, counts, 16) != 16) return std::nullopt;
  int64_t use = counts[0] + 1;
  int64_t weak = use > 0 ? counts[1] : counts[1] + 1;
  if (use < 0 || weak < 0) return std::nullopt;
  return sharedPtrSummary(f, t, kind, p, true, use, weak);
}

// std::map/std::set: a __tree {__begin_node_ (leftmost node), __pair1_ (the end node, whose
// __left_ is the root), __pair3_ (the size)}; nodes are __tree_node_base {__left_, __right_,
// __parent_, __is_black_} followed by the value (in the base's tail padding when it fits).
std::optional<std::string> cxxTree(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                   const char *kind, bool isSet) {
  std::optional<Field> tree = memberPath(t, {"__tree_"});
  if (!tree) return std::nullopt;
  std::optional<Field> begin = memberPath(tree->type, {"__begin_node_"}, tree->off);
  std::optional<Field> endNode = memberPath(tree->type, {"__pair1_", "__value_"}, tree->off);
  std::optional<Field> size = memberPath(tree->type, {"__pair3_", "__value_"}, tree->off);
  if (!begin || !endNode || !size || !isPointer(begin->type) || !isWord(size->type))
    return std::nullopt;
  // The node base's layout, from the end node's __left_ (the root, a __tree_node_base pointer).
  std::optional<Field> root = memberPath(endNode->type, {"__left_"}, endNode->off);
  uint64_t count, node, rootNode;
  if (!root || !isPointer(root->type) || !loadU64(bytes, size->off, count) ||
      !loadU64(bytes, begin->off, node) || !loadU64(bytes, root->off, rootNode))
    return std::nullopt;
  DWARFDie nodeBase = stripTypedefs(typeOf(root->type));
  std::optional<Field> left = memberPath(nodeBase, {"__left_"});
  std::optional<Field> right = memberPath(nodeBase, {"__right_"});
  std::optional<Field> parent = memberPath(nodeBase, {"__parent_"});
  std::optional<Field> black = memberPath(nodeBase, {"__is_black_"});
  if (!left || !right || !parent || !black || !isPointer(left->type) ||
      !isPointer(right->type) || !isPointer(parent->type) || sizeOf(black->type) != 1)
    return std::nullopt;
  std::string out = withCount(kind, count);
  if (count == 0) return out;
  DWARFDie valueT = templateArg(tree->type, 0);
  unsigned budget = 4096;
  uint64_t va = typeAlign(valueT, budget);
  std::optional<ElementLayout> layout = cxxElementLayout(t, valueT, isSet);
  if (va == 0 || !layout) return std::nullopt;
  uint64_t valueOff = alignUp(black->off + 1, va);
  auto link = [&](uint64_t n, const Field &fl, uint64_t &v) {
    return f.read(n + fl.off, &v, 8) == 8;
  };
  // In-order walk from the leftmost node, `count` nodes at most; climbing out of the root
  // reaches the end node (the root's parent, inside the value: its address is not known here),
  // which ends the walk. A tree deeper than 128 levels is corrupt.
  std::vector<std::string> items;
  uint64_t shown = std::min<uint64_t>(count, f.limits().elements);
  for (uint64_t i = 0; i < shown; ++i) {
    if (node == 0 || node % 8) return std::nullopt;
    std::optional<std::string> item = formatElement(f, *layout, node + valueOff, i);
    if (!item) return std::nullopt;
    items.push_back(std::move(*item));
    if (i + 1 == shown) break;
    // Successor: the leftmost node of the right subtree, else up while coming from a right
    // child.
    uint64_t r;
    if (!link(node, *right, r)) return std::nullopt;
    if (r) {
      node = r;
      int k = 0;
      for (uint64_t l; k < 128; ++k) {
        if (!link(node, *left, l)) return std::nullopt;
        if (!l) break;
        node = l;
      }
      if (k == 128) return std::nullopt;
    } else {
      bool atEnd = false;
      for (int k = 0;; ++k) {
        if (k == 128) return std::nullopt;
        if (node == rootNode) {  // climbing out of the root: past the last node
          atEnd = true;
          break;
        }
        uint64_t p, pl;
        if (!link(node, *parent, p) || !p || !link(p, *left, pl)) return std::nullopt;
        bool fromLeft = pl == node;
        node = p;
        if (fromLeft) break;
      }
      if (atEnd) break;
    }
  }
  return out + " = {" + f.elements(items, count > shown) + "}";
}

// std::unordered_map/set: a __hash_table {__bucket_list_, __p1_ (a node base whose __next_ is
// the first node), __p2_ (the size), __p3_}; nodes are {__next_, __hash_, value}, one singly
// linked list in iteration order.
std::optional<std::string> cxxUnordered(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                        const char *kind, bool isSet) {
  std::optional<Field> table = memberPath(t, {"__table_"});
  if (!table) return std::nullopt;
  std::optional<Field> first = memberPath(table->type, {"__p1_", "__value_", "__next_"}, table->off);
  std::optional<Field> size = memberPath(table->type, {"__p2_", "__value_"}, table->off);
  std::optional<Field> base = memberPath(table->type, {"__p1_", "__value_"}, table->off);
  if (!first || !size || !base || !isPointer(first->type) || !isWord(size->type) ||
      first->off != base->off)  // __next_ first in the node base, as in the nodes
    return std::nullopt;
  uint64_t node, count;
  if (!loadU64(bytes, first->off, node) || !loadU64(bytes, size->off, count)) return std::nullopt;
  std::string out = withCount(kind, count);
  if (count == 0) return out;
  DWARFDie valueT = templateArg(table->type, 0);
  unsigned budget = 4096;
  uint64_t va = typeAlign(valueT, budget);
  std::optional<ElementLayout> layout = cxxElementLayout(t, valueT, isSet);
  if (va == 0 || !layout) return std::nullopt;
  uint64_t valueOff = alignUp(16, va);  // after __next_ and the size_t __hash_
  std::vector<std::string> items;
  uint64_t shown = std::min<uint64_t>(count, f.limits().elements);
  for (uint64_t i = 0; i < shown && node; ++i) {  // a short list ends early, as libstdc++'s
    if (node % 8) return std::nullopt;
    std::optional<std::string> item = formatElement(f, *layout, node + valueOff, i);
    if (!item) return std::nullopt;
    items.push_back(std::move(*item));
    if (f.read(node, &node, 8) != 8) return std::nullopt;
  }
  return out + " = {" + f.elements(items, count > shown) + "}";
}

// "vector" for "std::__1::vector<...>" (any std::__X inline namespace), only when the name is one
// template specialization (not a member type such as vector<int>::__destroy_vector); else "".
StringRef libcxxTemplate(StringRef q) {
  if (!q.consume_front("std::__")) return {};
  size_t ns = q.find("::");
  if (ns == StringRef::npos || q.substr(0, ns).contains('<')) return {};
  q = q.drop_front(ns + 2);
  size_t open = q.find('<');
  if (open == StringRef::npos || !q.ends_with(">")) return {};
  int depth = 0;
  for (size_t i = open; i < q.size(); ++i) {
    if (q[i] == '<') ++depth;
    else if (q[i] == '>' && --depth == 0 && i + 1 != q.size()) return {};
  }
  return depth == 0 ? q.substr(0, open) : StringRef();
}

std::optional<std::string> formatLibcxxValue(const DWARFDie &type, StringRef bytes,
                                             ValueFormatter &f, StringRef q) {
  StringRef n = libcxxTemplate(q);
  if (n.empty()) return std::nullopt;
  if (n == "basic_string") return cxxString(type, bytes, f);
  if (n == "vector") return cxxVector(type, bytes, f);
  if (n == "unique_ptr") return cxxUniquePtr(type, bytes, f);
  if (n == "shared_ptr") return cxxSharedPtr(type, bytes, f, "shared_ptr");
  if (n == "weak_ptr") return cxxSharedPtr(type, bytes, f, "weak_ptr");
  if (n == "map") return cxxTree(type, bytes, f, "map", false);
  if (n == "set") return cxxTree(type, bytes, f, "set", true);
  if (n == "unordered_map") return cxxUnordered(type, bytes, f, "unordered_map", false);
  if (n == "unordered_set") return cxxUnordered(type, bytes, f, "unordered_set", true);
  return std::nullopt;
}

}  // namespace

StdPrinterMemoScope::StdPrinterMemoScope() {
  if (!activeMemo) {
    own_ = std::make_unique<StdPrinterMemo>();
    activeMemo = own_->data.get();
    activated_ = true;
  }
}

StdPrinterMemoScope::StdPrinterMemoScope(StdPrinterMemo &memo) {
  if (!activeMemo) {
    activeMemo = memo.data.get();
    activated_ = true;
  }
}

StdPrinterMemoScope::~StdPrinterMemoScope() {
  if (activated_) activeMemo = nullptr;
}

namespace {

std::string qualifiedTypeNameUncached(const DWARFDie &type) {
  std::string name = type.getShortName() ? type.getShortName() : "";
  for (DWARFDie p = type.getParent(); p; p = p.getParent()) {
    if (p.getTag() != dwarf::DW_TAG_namespace && p.getTag() != dwarf::DW_TAG_structure_type &&
        p.getTag() != dwarf::DW_TAG_class_type)
      break;
    name = std::string(p.getShortName() ? p.getShortName() : "(anonymous namespace)") + "::" + name;
  }
  return name;
}

}  // namespace

std::string qualifiedTypeName(const DWARFDie &type) {
  if (!activeMemo) return qualifiedTypeNameUncached(type);
  auto key = keyOf(type);
  auto it = activeMemo->names.find(key);
  if (it == activeMemo->names.end()) it = activeMemo->names.emplace(key, qualifiedTypeNameUncached(type)).first;
  return it->second;
}

namespace {

bool u64At(StringRef bytes, uint64_t off, uint64_t &out) {
  if (off + 8 > bytes.size()) return false;
  memcpy(&out, bytes.data() + off, 8);
  return true;
}

// libstdc++'s std::list and std::forward_list, as gdb's printers list them:
// "std::__cxx11::list = {[0] = 4, [1] = 5}", "empty std::forward_list". A list's walk is bounded
// by its _M_size, a forward_list's by the element limit; an unreadable node gives no summary.
std::optional<std::string> stdList(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                   const std::string &name, bool forward) {
  DWARFDie elem = templateArg(t, 0);
  uint64_t es = sizeOf(elem), node = 0, count = UINT64_MAX;
  if (!es || !memberU64(t, bytes, "_M_next", node)) return std::nullopt;
  if (!forward && !memberU64(t, bytes, "_M_size", count)) return std::nullopt;
  if (count == 0 || node == 0) return "empty " + name;
  uint64_t a = alignOf(elem), off = ((forward ? 8 : 16) + a - 1) / a * a;
  std::string out, buf(es, '\0');
  uint64_t i = 0;
  for (; node && i < count && i < f.limits().elements; ++i) {
    if (f.read(node + off, buf.data(), es) != es) return std::nullopt;
    out += (i ? ", [" : "[") + std::to_string(i) + "] = " + f.format(elem, buf, node + off);
    if (f.read(node, &node, 8) != 8) return std::nullopt;
  }
  bool more = node && i < count;
  return name + " = {" + out + (more ? "..." : "") + "}";
}

// libstdc++'s std::deque: "std::deque with 3 elements = {1, 2, 3}", from the start and finish
// iterators over its 512-byte buffers.
std::optional<std::string> stdDeque(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  DWARFDie elem = templateArg(t, 0);
  uint64_t es = sizeOf(elem);
  uint64_t s[4], e[4];  // _M_cur, _M_first, _M_last, _M_node
  const char *names[] = {"_M_cur", "_M_first", "_M_last", "_M_node"};
  if (!es) return std::nullopt;
  for (int k = 0; k < 4; ++k) {
    auto a = memberPath(t, {"_M_start", names[k]}), b = memberPath(t, {"_M_finish", names[k]});
    if (!a || !b || !u64At(bytes, a->off, s[k]) || !u64At(bytes, b->off, e[k])) return std::nullopt;
  }
  uint64_t per = es < 512 ? 512 / es : 1;
  if (e[3] < s[3] || e[0] < e[1] || s[2] < s[0]) return std::nullopt;
  uint64_t count = per * ((e[3] - s[3]) / 8) + (e[0] - e[1]) / es - (s[0] - s[1]) / es;
  std::string out = "std::deque with " + std::to_string(count) + " element" + (count == 1 ? "" : "s");
  if (count == 0) return out;
  std::vector<std::string> items;
  std::string buf(es, '\0');
  uint64_t cur = s[0], last = s[2], node = s[3];
  uint64_t shown = std::min<uint64_t>(count, f.limits().elements);
  for (uint64_t i = 0; i < shown; ++i) {
    if (cur == last) {
      node += 8;
      if (f.read(node, &cur, 8) != 8) return std::nullopt;
      last = cur + per * es;
    }
    if (f.read(cur, buf.data(), es) != es) return std::nullopt;
    items.push_back(f.format(elem, buf, cur));
    cur += es;
  }
  return out + " = {" + f.elements(items, count > shown) + "}";
}

// std::optional<T>: "std::optional<int> = {[contained value] = 7}" or "... [no contained value]".
std::optional<std::string> stdOptional(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  auto engaged = memberPath(t, {"_M_engaged"}), value = memberPath(t, {"_M_value"});
  if (!engaged || !value || engaged->off >= bytes.size()) return std::nullopt;
  std::string name = "std::optional<" + argName(templateArg(t, 0)) + ">";
  if (!bytes[engaged->off]) return name + " [no contained value]";
  uint64_t size = sizeOf(value->type);
  if (!size || value->off + size > bytes.size()) return std::nullopt;
  return name + " = {[contained value] = " + f.format(value->type, bytes.substr(value->off, size), std::nullopt) + "}";
}

// std::variant<Ts...>: "std::variant<int, std::string> [index 1] = {"alt"}" (the alternative's
// storage starts the object).
std::optional<std::string> stdVariant(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  auto index = memberPath(t, {"_M_index"});
  std::vector<DWARFDie> alts = templateArgs(t);
  if (!index || alts.empty()) return std::nullopt;
  uint64_t isize = sizeOf(index->type), i = 0;
  if (!isize || isize > 8 || index->off + isize > bytes.size()) return std::nullopt;
  memcpy(&i, bytes.data() + index->off, isize);
  std::string name = "std::variant<";
  for (size_t k = 0; k < alts.size(); ++k) name += (k ? ", " : "") + argName(alts[k]);
  name += ">";
  if (i >= alts.size()) return name + " [no contained value]";
  uint64_t size = sizeOf(alts[i]);
  if (!size || size > bytes.size()) return std::nullopt;
  return name + " [index " + std::to_string(i) + "] = {" + f.format(alts[i], bytes.substr(0, size), std::nullopt) + "}";
}

// std::pair<A, B>: "{first = 1, second = 2}", as gdb's StdPairPrinter (children only: the empty
// __pair_base the raw struct shows is left out).
std::optional<std::string> stdPair(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  auto first = memberPath(t, {"first"}), second = memberPath(t, {"second"});
  if (!first || !second) return std::nullopt;
  std::string out = "{";
  for (auto [name, m] : {std::pair{"first", first}, std::pair{"second", second}}) {
    uint64_t size = sizeOf(m->type);
    if (m->off + size > bytes.size()) return std::nullopt;
    out += std::string(out.size() > 1 ? ", " : "") + name + " = " +
           f.format(m->type, bytes.substr(m->off, size), std::nullopt);
  }
  return out + "}";
}

std::optional<std::string> stdStringView(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t p, len;
  if (sizeOf(templateArg(t, 0)) != 1 || !memberU64(t, bytes, "_M_str", p) || !memberU64(t, bytes, "_M_len", len))
    return std::nullopt;
  return stringAt(f, p, len);
}

// A class's base classes and data members in declaration order, as gdb's Type.fields() lists
// them for the printers below (static members left out: libstdc++'s tuple nodes have none).
std::vector<DWARFDie> fieldsOf(const DWARFDie &t) {
  std::vector<DWARFDie> out;
  for (const DWARFDie &m : t.children())
    if (m.getTag() == dwarf::DW_TAG_inheritance ||
        (m.getTag() == dwarf::DW_TAG_member && !m.find(dwarf::DW_AT_external)))
      out.push_back(m);
  return out;
}

uint64_t memberOffset(const DWARFDie &m) {
  return dwarf::toUnsigned(m.find(dwarf::DW_AT_data_member_location), 0);
}

// The bytes of an object of `type` at `off` in `bytes`, if they are all there.
std::optional<StringRef> slice(StringRef bytes, uint64_t off, const DWARFDie &type) {
  uint64_t size = sizeOf(type);
  if (!size || off > bytes.size() || size > bytes.size() - off) return std::nullopt;
  return bytes.substr(off, size);
}

// std::tuple<A, B, C>: "std::tuple containing = {[1] = 7, [2] = 2.5, [3] = 120 'x'}" or "empty
// std::tuple", as gdb's StdTuplePrinter walks libstdc++'s (GCC 5+) layout: tuple derives from
// _Tuple_impl<0, A, B, C>, whose bases are _Tuple_impl<1, B, C> (the rest) and _Head_base<0, A>
// (holding _M_head_impl, or deriving from an empty A); the last _Tuple_impl has only its
// _Head_base. Any other shape is left to the raw struct, as gdb's printer gives up on it.
std::optional<std::string> stdTuple(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  std::vector<DWARFDie> top = fieldsOf(t);
  if (top.empty()) return std::string("empty std::tuple");
  if (top.size() != 1) return std::nullopt;
  DWARFDie node = stripTypedefs(typeOf(top[0]));
  uint64_t off = memberOffset(top[0]);
  std::vector<std::string> items;
  while (node && items.size() < f.limits().elements) {
    std::vector<DWARFDie> nodes = fieldsOf(node);
    if (nodes.empty()) break;  // GCC 4's empty last node
    if (nodes.size() > 2) return std::nullopt;
    const DWARFDie &head = nodes.size() == 1 ? nodes[0] : nodes[1];
    DWARFDie impl = stripTypedefs(typeOf(head));
    uint64_t implOff = off + memberOffset(head);
    if (nodes.size() == 1) {
      node = DWARFDie();
    } else {
      off += memberOffset(nodes[0]);
      node = stripTypedefs(typeOf(nodes[0]));
    }
    std::vector<DWARFDie> implFields = fieldsOf(impl);
    DWARFDie valueT = impl;
    uint64_t valueOff = implOff;
    if (!implFields.empty() && implFields[0].getShortName() &&
        StringRef(implFields[0].getShortName()) == "_M_head_impl") {
      valueT = typeOf(implFields[0]);
      valueOff += memberOffset(implFields[0]);
    }
    std::optional<StringRef> value = slice(bytes, valueOff, valueT);
    if (!value) return std::nullopt;
    items.push_back("[" + std::to_string(items.size() + 1) + "] = " + f.format(valueT, *value, std::nullopt));
  }
  return "std::tuple containing = {" + f.elements(items, bool(node) && !fieldsOf(node).empty()) + "}";
}

// std::bitset<N>: "std::bitset = {[0] = 1, [65] = 1}" (the set bits) or "std::bitset" when none
// is, as gdb's StdBitsetPrinter: _M_w is one unsigned long or an array of them.
std::optional<std::string> stdBitset(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t off = 0;
  DWARFDie wt;
  if (!findMember(t, "_M_w", off, wt)) return std::string("std::bitset");  // bitset<0>
  wt = stripTypedefs(wt);
  uint64_t total = sizeOf(wt);
  uint64_t word = wt && wt.getTag() == dwarf::DW_TAG_array_type ? sizeOf(typeOf(wt)) : total;
  if (!total || !word || word > 8 || total % word || off > bytes.size() || total > bytes.size() - off)
    return std::nullopt;
  std::vector<std::string> items;
  bool more = false;
  for (uint64_t w = 0; w < total / word && !more; ++w) {
    uint64_t bits = 0;
    memcpy(&bits, bytes.data() + off + w * word, word);
    for (unsigned b = 0; b < word * 8 && bits >> b; ++b) {
      if (!(bits >> b & 1)) continue;
      if (items.size() == f.limits().elements) {
        more = true;
        break;
      }
      items.push_back("[" + std::to_string(w * word * 8 + b) + "] = 1");
    }
  }
  if (items.empty()) return std::string("std::bitset");
  return "std::bitset = {" + f.elements(items, more) + "}";
}

// std::atomic<T>: "std::atomic<int> = { 5 }", the value read where gdb's StdAtomicPrinter reads it
// for T's kind: _M_fp (floating point), _M_b._M_p (pointers), _M_base._M_i (bool), else _M_i.
// Before C++20 atomic<double> is the primary template, holding _M_i: read there (gdb's printer
// fails on it). atomic<shared_ptr<T>> is left to the raw struct.
std::optional<std::string> stdAtomic(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  DWARFDie arg = templateArg(t, 0);
  DWARFDie kind = stripTypedefs(arg);
  if (!arg || !kind) return std::nullopt;
  enum { Integer, Float, Pointer, Bool } how = Integer;
  if (kind.getTag() == dwarf::DW_TAG_pointer_type) {
    how = Pointer;
  } else if (kind.getTag() == dwarf::DW_TAG_base_type) {
    uint64_t enc = attrU(kind, dwarf::DW_AT_encoding);
    how = enc == dwarf::DW_ATE_float ? Float : enc == dwarf::DW_ATE_boolean ? Bool : Integer;
  } else if (kind.getTag() != dwarf::DW_TAG_enumeration_type) {
    std::string q = qualifiedTypeName(kind);
    if (StringRef(q).starts_with("std::shared_ptr<") || StringRef(q).starts_with("std::weak_ptr<"))
      return std::nullopt;
  }
  std::optional<Field> value = how == Pointer ? memberPath(t, {"_M_b", "_M_p"})
                               : how == Float ? memberPath(t, {"_M_fp"})
                               : how == Bool  ? memberPath(t, {"_M_base", "_M_i"})
                                              : memberPath(t, {"_M_i"});
  if (!value) value = memberPath(t, {"_M_i"});  // atomic<double> before C++20: the primary template
  if (!value) return std::nullopt;
  std::optional<StringRef> v = slice(bytes, value->off, value->type);
  if (!v) return std::nullopt;
  return "std::atomic<" + argName(arg) + "> = { " + f.format(value->type, *v, std::nullopt) + " }";
}

}  // namespace

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
  if (is("std::multimap<")) return stdMap(type, bytes, f, "multimap", false);
  if (is("std::multiset<")) return stdMap(type, bytes, f, "multiset", true);
  if (is("std::unordered_multimap<")) return stdUnordered(type, bytes, f, "unordered_multimap", false);
  if (is("std::unordered_multiset<")) return stdUnordered(type, bytes, f, "unordered_multiset", true);
  if (is("std::unordered_map<")) return stdUnordered(type, bytes, f, "unordered_map", false);
  if (is("std::unordered_set<")) return stdUnordered(type, bytes, f, "unordered_set", true);
  if (is("std::__cxx11::list<") || is("std::list<")) return stdList(type, bytes, f, q.substr(0, q.find('<')), false);
  if (is("std::forward_list<")) return stdList(type, bytes, f, "std::forward_list", true);
  if (is("std::deque<")) return stdDeque(type, bytes, f);
  if (is("std::optional<")) return stdOptional(type, bytes, f);
  if (is("std::variant<")) return stdVariant(type, bytes, f);
  if (is("std::basic_string_view<")) return stdStringView(type, bytes, f);
  if (is("std::pair<")) return stdPair(type, bytes, f);
  if (is("std::tuple<")) return stdTuple(type, bytes, f);
  if (is("std::bitset<")) return stdBitset(type, bytes, f);
  if (is("std::atomic<")) return stdAtomic(type, bytes, f);
  if (is("std::__")) return formatLibcxxValue(type, bytes, f, q);
  return std::nullopt;
}

}  // namespace bt
