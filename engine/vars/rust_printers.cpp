#include "vars/rust_printers.h"

#include "support/hex.h"
#include "vars/dwarf_types.h"
#include "vars/std_printers.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>

namespace bt {

using namespace llvm;

namespace {

// A member found by name: its type and its offset in the outermost object.
struct Member {
  DWARFDie type;
  uint64_t off = 0;
};

std::optional<Member> member(const Member &in, StringRef name) {
  DWARFDie s = stripTypedefs(in.type);
  if (!s || !isClassType(s)) return std::nullopt;
  for (const DWARFDie &m : s.children()) {
    if (m.getTag() != dwarf::DW_TAG_member) continue;
    const char *n = m.getShortName();
    if (n && name == n) return Member{typeOf(m), in.off + attrU(m, dwarf::DW_AT_data_member_location)};
  }
  return std::nullopt;
}

// Members one inside the other (gdb's valobj["vec"]["buf"]...).
std::optional<Member> path(const Member &in, std::initializer_list<StringRef> names) {
  std::optional<Member> cur = in;
  for (StringRef n : names) {
    if (!cur) return std::nullopt;
    cur = member(*cur, n);
  }
  return cur;
}

bool load(StringRef bytes, uint64_t off, uint64_t size, uint64_t &out) {
  if (size == 0 || size > 8 || off > bytes.size() || size > bytes.size() - off) return false;
  out = 0;
  memcpy(&out, bytes.data() + off, size);
  return true;
}

// The one data member of a struct (a newtype: Cap(usize), NonZero's wrappers); nullopt when it
// has none or several.
std::optional<Member> onlyMember(const Member &in) {
  DWARFDie s = stripTypedefs(in.type);
  if (!s || !isClassType(s)) return std::nullopt;
  DWARFDie only;
  for (const DWARFDie &c : s.children())
    if (c.getTag() == dwarf::DW_TAG_member) {
      if (only) return std::nullopt;
      only = c;
    }
  if (!only) return std::nullopt;
  return Member{typeOf(only), in.off + attrU(only, dwarf::DW_AT_data_member_location)};
}

// An integer member, also when a newtype wraps it (a capacity is `Cap(usize)` / `{__0: usize}`
// in recent standard libraries, a bare usize in older ones).
bool integer(StringRef bytes, std::optional<Member> m, uint64_t &out) {
  for (int hop = 0; m && hop < 4; ++hop) {
    DWARFDie s = stripTypedefs(m->type);
    if (!s) return false;
    if (s.getTag() == dwarf::DW_TAG_base_type) return load(bytes, m->off, typeSize(s), out);
    m = onlyMember(*m);
  }
  return false;
}

// gdb_providers.unwrap_unique_or_non_null: the raw pointer inside Unique<T> / NonNull<T>
// (a thin pointer only: NonNull<[T]> holds a slice's fat pointer, which has no summary here).
std::optional<Member> rawPointer(std::optional<Member> m) {
  for (int hop = 0; m && hop < 4; ++hop) {
    DWARFDie s = stripTypedefs(m->type);
    if (!s) return std::nullopt;
    if (s.getTag() == dwarf::DW_TAG_pointer_type) return m;
    m = member(*m, "pointer");
  }
  return std::nullopt;
}

bool pointerValue(StringRef bytes, std::optional<Member> m, uint64_t &out) {
  std::optional<Member> p = rawPointer(m);
  return p && load(bytes, p->off, 8, out);
}

std::string unreadable(uint64_t addr) {
  return "<error: Cannot access memory at address " + hexU64(addr) + ">";
}

// The children of an "array" display hint: " = {a, b, ...}" ("" for none), element i at
// addressOf(i), up to the element limit.
std::string arrayChildren(ValueFormatter &f, const DWARFDie &elem, uint64_t count,
                          const std::function<uint64_t(uint64_t)> &addressOf) {
  if (count == 0) return "";
  if (f.childrenTooDeep()) return " = {...}";
  uint64_t es = typeSize(elem);
  std::vector<std::string> items;
  uint64_t shown = std::min<uint64_t>(count, f.limits().elements);
  std::string buf(es, '\0');
  for (uint64_t i = 0; i < shown; ++i) {
    uint64_t at = addressOf(i);
    if (es && f.read(at, buf.data(), es) != es) {
      items.push_back(unreadable(at));
      return " = {" + f.elements(items, false) + "}";
    }
    items.push_back(f.format(elem, buf, at));
  }
  return " = {" + f.elements(items, shown < count) + "}";
}

// The `len` UTF-8 bytes at `p` as gdb prints a lazy string (up to the element limit).
std::string stringAt(ValueFormatter &f, uint64_t p, uint64_t len) {
  uint64_t n = std::min<uint64_t>(len, f.limits().elements);
  std::vector<uint8_t> chars(n);
  if (n && f.read(p, chars.data(), n) != n) return unreadable(p);
  return f.string(chars, len > n);
}

// A Vec<T>'s data pointer and length: buf.inner.ptr (RawVecInner, Rust 1.80+) or buf.ptr.
bool vecParts(StringRef bytes, const Member &vec, uint64_t &ptr, uint64_t &len) {
  if (!integer(bytes, member(vec, "len"), len)) return false;
  std::optional<Member> buf = member(vec, "buf");
  if (!buf) return false;
  std::optional<Member> p = path(*buf, {"inner", "ptr"});
  if (!p) p = member(*buf, "ptr");
  return pointerValue(bytes, p, ptr);
}

// A RawVec's capacity (VecDeque's ring size).
bool vecCapacity(StringRef bytes, const Member &buf, uint64_t &cap) {
  std::optional<Member> c = path(buf, {"inner", "cap"});
  if (!c) c = member(buf, "cap");
  return integer(bytes, c, cap);
}

DWARFDie typeArg(const DWARFDie &t, unsigned i) {
  std::vector<DWARFDie> args = templateArgs(t);
  return i < args.size() ? args[i] : DWARFDie();
}

std::optional<std::string> rustString(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  std::optional<Member> vec = member(Member{t, 0}, "vec");
  uint64_t ptr, len;
  if (!vec || !vecParts(bytes, *vec, ptr, len)) return std::nullopt;
  return stringAt(f, ptr, len);
}

std::optional<std::string> rustOsString(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  // OsString { inner: Buf { inner: Vec<u8> } } on Unix.
  std::optional<Member> vec = path(Member{t, 0}, {"inner", "inner"});
  uint64_t ptr, len;
  if (!vec || !vecParts(bytes, *vec, ptr, len)) return std::nullopt;
  return stringAt(f, ptr, len);
}

std::optional<std::string> rustStr(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t ptr, len;
  if (!pointerValue(bytes, member(Member{t, 0}, "data_ptr"), ptr) ||
      !integer(bytes, member(Member{t, 0}, "length"), len))
    return std::nullopt;
  return stringAt(f, ptr, len);
}

std::optional<std::string> rustSlice(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                     const std::string &name) {
  std::optional<Member> data = rawPointer(member(Member{t, 0}, "data_ptr"));
  uint64_t ptr, len;
  if (!data || !load(bytes, data->off, 8, ptr) || !integer(bytes, member(Member{t, 0}, "length"), len))
    return std::nullopt;
  DWARFDie elem = typeOf(stripTypedefs(data->type));
  uint64_t es = typeSize(elem);
  if (!es) return std::nullopt;
  return name + "(size=" + std::to_string(len) + ")" +
         arrayChildren(f, elem, len, [&](uint64_t i) { return ptr + i * es; });
}

std::optional<std::string> rustVec(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t ptr, len;
  DWARFDie elem = typeArg(t, 0);
  uint64_t es = typeSize(elem);
  if (!elem || !es || !vecParts(bytes, Member{t, 0}, ptr, len)) return std::nullopt;
  return "Vec(size=" + std::to_string(len) + ")" +
         arrayChildren(f, elem, len, [&](uint64_t i) { return ptr + i * es; });
}

// VecDeque<T>: {head, len, buf} (Rust 1.67+: element i at (head + i) % cap), or, before, the
// ring {tail, head, buf} (gdb_providers of those versions: element i at (tail + i) % cap, the
// length head - tail, or cap + head - tail when the ring wraps). Told apart by the members.
std::optional<std::string> rustVecDeque(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t head, len, cap, ptr, first;
  DWARFDie elem = typeArg(t, 0);
  uint64_t es = typeSize(elem);
  std::optional<Member> buf = member(Member{t, 0}, "buf");
  std::optional<Member> p = buf ? path(*buf, {"inner", "ptr"}) : std::nullopt;
  if (buf && !p) p = member(*buf, "ptr");
  if (!elem || !es || !buf || !integer(bytes, member(Member{t, 0}, "head"), head) ||
      !vecCapacity(bytes, *buf, cap) || !pointerValue(bytes, p, ptr))
    return std::nullopt;
  std::optional<Member> lenMember = member(Member{t, 0}, "len"), tailMember = member(Member{t, 0}, "tail");
  if (lenMember && !tailMember) {
    if (!integer(bytes, lenMember, len)) return std::nullopt;
    if (len && cap == 0) return std::nullopt;  // corrupt: no ring to index
    first = head;
  } else if (tailMember && !lenMember) {
    uint64_t tail;
    if (!integer(bytes, tailMember, tail)) return std::nullopt;
    if (cap == 0 ? head || tail : head >= cap || tail >= cap) return std::nullopt;  // corrupt
    len = head >= tail ? head - tail : cap + head - tail;
    first = tail;
  } else {
    return std::nullopt;  // a layout not known
  }
  return "VecDeque(size=" + std::to_string(len) + ")" +
         arrayChildren(f, elem, len, [&](uint64_t i) { return ptr + ((first + i) % cap) * es; });
}

// hashbrown's table (Rust 1.52+ layout: the buckets lie below the control bytes, bucket i at
// ctrl - (i + 1) * sizeof(T)), as gdb_providers.StdHashMapProvider walks it.
std::optional<std::string> rustHashMap(const DWARFDie &t, StringRef bytes, ValueFormatter &f,
                                       bool isSet) {
  Member self{t, 0};
  std::optional<Member> table = isSet ? path(self, {"base", "map", "table"}) : path(self, {"base", "table"});
  if (!table && isSet) table = path(self, {"map", "base", "table"});
  if (!table) return std::nullopt;
  std::optional<Member> inner = member(*table, "table");
  uint64_t mask, items, ctrl;
  if (!inner || member(*inner, "data") ||  // the layout before Rust 1.52
      !integer(bytes, member(*inner, "bucket_mask"), mask) ||
      !integer(bytes, member(*inner, "items"), items) ||
      !pointerValue(bytes, member(*inner, "ctrl"), ctrl))
    return std::nullopt;
  DWARFDie pair = stripTypedefs(typeArg(stripTypedefs(table->type), 0));
  uint64_t ps = typeSize(pair);
  std::optional<Member> key = member(Member{pair, 0}, "__0");
  std::optional<Member> value = isSet ? std::nullopt : member(Member{pair, 0}, "__1");
  if (!pair || !ps || !key || (!isSet && !value)) return std::nullopt;
  uint64_t capacity = mask + 1;
  if (capacity & mask) return std::nullopt;  // not a power of two: not a table
  std::string head = std::string(isSet ? "HashSet" : "HashMap") + "(size=" + std::to_string(items) + ")";
  if (items == 0) return head;
  if (f.childrenTooDeep()) return head + " = {...}";
  std::vector<std::string> shown;
  uint64_t want = std::min<uint64_t>(items, f.limits().elements), found = 0;
  std::string pb(ps, '\0');
  uint8_t ctrlBytes[256];
  // Bounded by the table's capacity and, as gdb's walk, by the declared number of items.
  for (uint64_t base = 0; base < capacity && found < want; base += sizeof ctrlBytes) {
    size_t n = size_t(std::min<uint64_t>(sizeof ctrlBytes, capacity - base));
    if (f.read(ctrl + base, ctrlBytes, n) != n) {
      shown.push_back(unreadable(ctrl + base));
      return head + " = {" + f.elements(shown, false) + "}";
    }
    for (size_t k = 0; k < n && found < want; ++k) {
      if (ctrlBytes[k] & 0x80) continue;  // empty or deleted
      uint64_t at = ctrl - (base + k + 1) * ps;
      ++found;
      if (f.read(at, pb.data(), ps) != ps) {
        shown.push_back(unreadable(at));
        return head + " = {" + f.elements(shown, false) + "}";
      }
      std::string k0 = f.format(key->type, StringRef(pb).substr(key->off, typeSize(key->type)), at + key->off);
      if (isSet) {
        shown.push_back(k0);
      } else {
        std::string v = f.format(value->type, StringRef(pb).substr(value->off, typeSize(value->type)),
                                 at + value->off);
        shown.push_back("[" + k0 + "] = " + v);
      }
    }
  }
  if (shown.empty()) return head;
  return head + " = {" + f.elements(shown, found < items) + "}";
}

// The root of a BTreeMap (Option<NodeRef>): the node pointer and the height, read through the
// Option's Some variant (gdb_providers casts the Option to the NodeRef it wraps).
bool btreeRoot(StringRef bytes, const Member &root, uint64_t &node, uint64_t &height, DWARFDie &leaf) {
  Member nodeRef = root;
  DWARFDie rt = stripTypedefs(root.type);
  if (rt && isRustEnum(rt)) {
    uint64_t size = typeSize(rt);
    if (root.off > bytes.size() || size > bytes.size() - root.off) return false;
    std::optional<RustVariant> v = rustActiveVariant(rt, bytes.substr(root.off, size));
    if (!v) return false;
    std::optional<Member> some = member(Member{typeOf(v->member), root.off + v->offset}, "__0");
    if (!some) return false;  // None: an empty map
    nodeRef = *some;
  }
  std::optional<Member> np = rawPointer(member(nodeRef, "node"));
  if (!np || !load(bytes, np->off, 8, node) || !integer(bytes, member(nodeRef, "height"), height))
    return false;
  leaf = stripTypedefs(typeOf(stripTypedefs(np->type)));
  return bool(leaf);
}

// InternalNode<K, V>, found next to LeafNode<K, V> (gdb_providers looks it up by that name).
DWARFDie internalNodeOf(const DWARFDie &leaf) {
  const char *name = leaf.getShortName();
  DWARFDie parent = leaf.getParent();
  if (!name || !parent || !StringRef(name).starts_with("LeafNode")) return DWARFDie();
  std::string want = "InternalNode" + std::string(StringRef(name).drop_front(8));
  for (const DWARFDie &c : parent.children())
    if (c.getTag() == dwarf::DW_TAG_structure_type && c.getShortName() && want == c.getShortName() &&
        !c.find(dwarf::DW_AT_declaration))
      return c;
  return DWARFDie();
}

struct BTreeWalk {
  ValueFormatter &f;
  DWARFDie leaf, internal;
  Member keys, vals, len, edges;
  DWARFDie keyT, valT;
  uint64_t ks = 0, vs = 0, es = 0, leafSize = 0, internalSize = 0;
  bool isSet;
  uint64_t want, nodes = 0;
  std::vector<std::string> shown;
  bool broken = false;

  // In-order, as children_of_btree_map: edge i, then key/value i.
  void node(uint64_t addr, uint64_t height) {
    if (broken || shown.size() >= want || height > 64 || ++nodes > 100000) return;
    uint64_t size = height ? internalSize : leafSize;
    std::string nb(size, '\0');
    if (f.read(addr, nb.data(), size) != size) {
      shown.push_back(unreadable(addr));
      broken = true;
      return;
    }
    uint64_t n;
    if (!integer(nb, len, n) || n > 11) {  // CAPACITY = 2 * B - 1 = 11
      broken = true;
      return;
    }
    for (uint64_t i = 0; i <= n && shown.size() < want && !broken; ++i) {
      if (height) {
        uint64_t child;
        if (!load(nb, edges.off + i * es, 8, child)) {
          broken = true;
          return;
        }
        node(child, height - 1);
      }
      if (i == n || shown.size() >= want || broken) continue;
      StringRef kb = StringRef(nb).substr(keys.off + i * ks, ks);
      std::string k = f.format(keyT, kb, addr + keys.off + i * ks);
      if (isSet) {
        shown.push_back(k);
      } else {
        std::string v = vs ? f.format(valT, StringRef(nb).substr(vals.off + i * vs, vs), addr + vals.off + i * vs)
                           : "()";
        shown.push_back("[" + k + "] = " + v);
      }
    }
  }
};

std::optional<std::string> rustBTreeMap(const DWARFDie &t, StringRef bytes, ValueFormatter &f, bool isSet) {
  Member map{t, 0};
  if (isSet) {
    std::optional<Member> m = member(map, "map");
    if (!m) return std::nullopt;
    map = *m;
  }
  uint64_t length;
  std::optional<Member> root = member(map, "root");
  if (!root || !integer(bytes, member(map, "length"), length)) return std::nullopt;
  std::string head = std::string(isSet ? "BTreeSet" : "BTreeMap") + "(size=" + std::to_string(length) + ")";
  if (length == 0) return head;
  if (f.childrenTooDeep()) return head + " = {...}";
  uint64_t nodeAddr, height;
  DWARFDie leaf;
  if (!btreeRoot(bytes, *root, nodeAddr, height, leaf)) return std::nullopt;
  DWARFDie mapT = stripTypedefs(map.type);
  BTreeWalk w{f, leaf, DWARFDie(), {}, {}, {}, {}, typeArg(mapT, 0), typeArg(mapT, 1)};
  w.isSet = isSet;
  std::optional<Member> keys = member(Member{leaf, 0}, "keys"), vals = member(Member{leaf, 0}, "vals"),
                        len = member(Member{leaf, 0}, "len");
  w.ks = typeSize(w.keyT);
  w.vs = isSet ? 0 : typeSize(w.valT);
  w.leafSize = typeSize(leaf);
  if (!keys || !vals || !len || !w.keyT || !w.ks || !w.leafSize) return std::nullopt;
  w.keys = *keys, w.vals = *vals, w.len = *len;
  if (height) {
    w.internal = internalNodeOf(leaf);
    std::optional<Member> edges = w.internal ? member(Member{w.internal, 0}, "edges") : std::nullopt;
    if (!edges) return std::nullopt;
    w.edges = *edges;
    DWARFDie arr = stripTypedefs(edges->type);
    w.es = arr ? typeSize(typeOf(arr)) : 0;
    w.internalSize = typeSize(w.internal);
    if (w.es != 8 || !w.internalSize) return std::nullopt;
  }
  w.want = std::min<uint64_t>(length, f.limits().elements);
  w.node(nodeAddr, height);
  if (w.shown.empty()) return std::nullopt;
  return head + " = {" + f.elements(w.shown, !w.broken && w.shown.size() < length) + "}";
}

// Rc<T> / Arc<T>: "Rc(strong=2, weak=1) = {value = ..., strong = 2, weak = 1}" (weak without
// the one reference all strong ones hold together, as gdb_providers.StdRcProvider shows it).
std::optional<std::string> rustRc(const DWARFDie &t, StringRef bytes, ValueFormatter &f, bool atomic) {
  std::optional<Member> p = rawPointer(member(Member{t, 0}, "ptr"));
  uint64_t addr;
  if (!p || !load(bytes, p->off, 8, addr)) return std::nullopt;
  DWARFDie inner = stripTypedefs(typeOf(stripTypedefs(p->type)));
  uint64_t size = typeSize(inner);
  if (!inner || !size || size > (1u << 20)) return std::nullopt;
  std::string ib(size, '\0');
  if (f.read(addr, ib.data(), size) != size) return std::nullopt;
  Member in{inner, 0};
  const char *count = atomic ? "v" : "value";
  std::optional<Member> value = member(in, atomic ? "data" : "value");
  uint64_t strong, weak;
  if (!value || !integer(ib, path(in, {"strong", count, "value"}), strong) ||
      !integer(ib, path(in, {"weak", count, "value"}), weak))
    return std::nullopt;
  std::string s = std::to_string(strong), w = std::to_string(weak - 1);
  std::string head = std::string(atomic ? "Arc" : "Rc") + "(strong=" + s + ", weak=" + w + ")";
  if (f.childrenTooDeep()) return head + " = {...}";
  uint64_t vsize = typeSize(value->type);
  if (value->off > ib.size() || vsize > ib.size() - value->off) return std::nullopt;
  std::string v = f.format(value->type, StringRef(ib).substr(value->off, vsize), addr + value->off);
  return head + " = {value = " + v + ", strong = " + s + ", weak = " + w + "}";
}

std::optional<std::string> formatMember(StringRef bytes, ValueFormatter &f, std::optional<Member> m) {
  if (!m) return std::nullopt;
  uint64_t size = typeSize(m->type);
  if (m->off > bytes.size() || size > bytes.size() - m->off) return std::nullopt;
  return f.format(m->type, bytes.substr(m->off, size), std::nullopt);
}

std::optional<std::string> rustCell(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  if (!path(Member{t, 0}, {"value", "value"})) return std::nullopt;
  if (f.childrenTooDeep()) return std::string("Cell = {...}");
  std::optional<std::string> v = formatMember(bytes, f, path(Member{t, 0}, {"value", "value"}));
  if (!v) return std::nullopt;
  return "Cell = {value = " + *v + "}";
}

std::optional<std::string> rustRefCell(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  uint64_t raw;
  std::optional<Member> borrow = path(Member{t, 0}, {"borrow", "value", "value"});
  std::optional<Member> value = path(Member{t, 0}, {"value", "value"});
  if (!value || !borrow || typeSize(borrow->type) != 8 || !integer(bytes, borrow, raw)) return std::nullopt;
  int64_t b = int64_t(raw);
  std::string head = b >= 0 ? "RefCell(borrow=" + std::to_string(b) + ")"
                            : "RefCell(borrow_mut=" + std::to_string(-b) + ")";
  if (f.childrenTooDeep()) return head + " = {...}";
  std::optional<std::string> v = formatMember(bytes, f, value);
  if (!v) return std::nullopt;
  return head + " = {value = " + *v + ", borrow = " + std::to_string(b) + "}";
}

// NonZero<T>: the number inside its two wrappers, printed as the number.
std::optional<std::string> rustNonZero(const DWARFDie &t, StringRef bytes, ValueFormatter &f) {
  // gdb_providers asserts one field at each of the two levels.
  std::optional<Member> inner = onlyMember(Member{t, 0});
  return formatMember(bytes, f, inner ? onlyMember(*inner) : std::nullopt);
}

// Whether `q` is crate::seg::...::Name (gdb_lookup's regexes: at least one lower-case module
// between the crate and the name) followed by generic arguments when `generic`.
bool libraryType(StringRef q, StringRef crate, StringRef name, bool generic) {
  if (!q.consume_front(crate) || !q.consume_front("::")) return false;
  if (generic) {
    size_t lt = q.find('<');
    if (lt == StringRef::npos || !q.ends_with(">") || lt + 2 > q.size() - 1) return false;
    q = q.take_front(lt);
  }
  if (!q.consume_back(name) || !q.consume_back("::") || q.empty()) return false;
  while (!q.empty()) {
    auto [seg, rest] = q.split("::");
    if (seg.empty() || seg.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != StringRef::npos)
      return false;
    q = rest;
  }
  return true;
}

}  // namespace

bool isRustEnum(const DWARFDie &type) {
  for (const DWARFDie &c : type.children())
    if (c.getTag() == dwarf::DW_TAG_variant_part) return true;
  return false;
}

std::optional<RustVariant> rustActiveVariant(const DWARFDie &type, StringRef bytes, uint64_t *discriminant) {
  DWARFDie part;
  for (const DWARFDie &c : type.children())
    if (c.getTag() == dwarf::DW_TAG_variant_part) {
      part = c;
      break;
    }
  if (!part) return std::nullopt;
  // Read as the Value model reads it (readVariantPart): a layout with a problem (a discriminant
  // that is no integer inside the enum, ranges, two defaults) chooses no variant.
  VariantPartLayout layout = readVariantPart(part, bytes.size());
  if (!layout.problem.empty()) return std::nullopt;
  std::optional<std::string> have;
  if (layout.discriminant) have = bytes.substr(layout.discrOffset, layout.discrSize).str();
  if (discriminant && have) {
    *discriminant = 0;
    memcpy(discriminant, have->data(), std::min<size_t>(have->size(), 8));
  }
  const VariantPartLayout::Variant *fallback = nullptr;
  for (const VariantPartLayout::Variant &v : layout.variants) {
    if (v.isDefault) {
      fallback = &v;  // the default (untagged) variant: one at most (else a problem above)
      continue;
    }
    if (have && v.member && v.discrValue == have)
      return RustVariant{v.member, attrU(v.member, dwarf::DW_AT_data_member_location)};
  }
  if (fallback && fallback->member)
    return RustVariant{fallback->member, attrU(fallback->member, dwarf::DW_AT_data_member_location)};
  return std::nullopt;
}

std::optional<std::string> formatRustLibraryValue(const DWARFDie &type, StringRef bytes, ValueFormatter &f) {
  const char *shortName = type.getShortName();
  if (!shortName) return std::nullopt;
  bool hasFields = false;
  for (const DWARFDie &c : type.children())
    if (c.getTag() == dwarf::DW_TAG_member) {
      hasFields = true;
      break;
    }
  if (!hasFields) return std::nullopt;  // gdb_lookup: an empty struct has no printer
  StringRef n(shortName);
  if (n == "&str" || n == "&mut str") return rustStr(type, bytes, f);
  if ((n.starts_with("&[") || n.starts_with("&mut [")) && n.ends_with("]")) return rustSlice(type, bytes, f, n.str());
  std::string q = qualifiedTypeName(type);
  if (libraryType(q, "alloc", "String", false)) return rustString(type, bytes, f);
  if (libraryType(q, "std::ffi", "OsString", false)) return rustOsString(type, bytes, f);
  if (libraryType(q, "alloc", "Vec", true)) return rustVec(type, bytes, f);
  if (libraryType(q, "alloc", "VecDeque", true)) return rustVecDeque(type, bytes, f);
  if (libraryType(q, "alloc", "BTreeSet", true)) return rustBTreeMap(type, bytes, f, true);
  if (libraryType(q, "alloc", "BTreeMap", true)) return rustBTreeMap(type, bytes, f, false);
  if (libraryType(q, "std::collections", "HashMap", true)) return rustHashMap(type, bytes, f, false);
  if (libraryType(q, "std::collections", "HashSet", true)) return rustHashMap(type, bytes, f, true);
  if (libraryType(q, "alloc", "Rc", true)) return rustRc(type, bytes, f, false);
  if (libraryType(q, "alloc", "Arc", true)) return rustRc(type, bytes, f, true);
  if (libraryType(q, "core", "Cell", true)) return rustCell(type, bytes, f);
  if (libraryType(q, "core", "RefCell", true)) return rustRefCell(type, bytes, f);
  if (libraryType(q, "core", "NonZero", true)) return rustNonZero(type, bytes, f);
  return std::nullopt;
}

}  // namespace bt
