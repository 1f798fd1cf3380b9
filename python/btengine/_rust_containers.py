"""Rust standard-library values as Python strings, sequences, mappings and pointers of Values.

The views _containers.py gives the C++ standard library, for Rust (issue 19): a type of a Rust
compile unit is recognised by its name with the regular expressions of the toolchain's own gdb
printers (lib/rustlib/etc/rust_types.py), and its contents are found where those printers read
them (gdb_providers.py): String, &str, OsString, PathBuf (String views: their UTF-8 bytes); Vec,
VecDeque, &[T] (Sequences); HashMap, BTreeMap (Mappings: keys -> values); HashSet, BTreeSet
(Sequences of keys, as the C++ sets); Box, Rc, Arc, Cell, RefCell, Ref, RefMut and Option
(Pointer views: the value held, Option's None as None). Other enums (Result, the program's) are
read through Value.variant.

As the C++ views: a layout this module does not know gives no view (the Value stays a plain
struct), never a wrong element; every walk is bounded by the container's own length (and
MAX_ELEMENTS); a length its memory contradicts (a length beyond the capacity, a hash table with
fewer full buckets than items, a B-tree node reached twice) raises FormatError.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Set, Tuple

from ._containers import Mapping, Pointer, String, View, _Contiguous, _Linked
from ._errors import FormatError

if TYPE_CHECKING:
    from . import Type, Value

# rust_types.py's expressions (and Box's and Option's, which gdb's Rust support handles itself).
_STRING = re.compile(r"^(alloc::([a-z_]+::)+)String$")
_STR = re.compile(r"^&(mut )?str$")
_SLICE = re.compile(r"^&(mut )?\[.+\]$")
_OS_STRING = re.compile(r"^(std::ffi::([a-z_]+::)+)OsString$")
_PATHBUF = re.compile(r"^(std::([a-z_]+::)+)PathBuf$")
_VEC = re.compile(r"^(alloc::([a-z_]+::)+)Vec<.+>$")
_VEC_DEQUE = re.compile(r"^(alloc::([a-z_]+::)+)VecDeque<.+>$")
_BTREE_SET = re.compile(r"^(alloc::([a-z_]+::)+)BTreeSet<.+>$")
_BTREE_MAP = re.compile(r"^(alloc::([a-z_]+::)+)BTreeMap<.+>$")
_HASH_MAP = re.compile(r"^(std::collections::([a-z_]+::)+)HashMap<.+>$")
_HASH_SET = re.compile(r"^(std::collections::([a-z_]+::)+)HashSet<.+>$")
_RC = re.compile(r"^(alloc::([a-z_]+::)+)Rc<.+>$")
_ARC = re.compile(r"^(alloc::([a-z_]+::)+)Arc<.+>$")
_CELL = re.compile(r"^(core::([a-z_]+::)+)Cell<.+>$")
_REF = re.compile(r"^(core::([a-z_]+::)+)Ref<.+>$")
_REF_MUT = re.compile(r"^(core::([a-z_]+::)+)RefMut<.+>$")
_REF_CELL = re.compile(r"^(core::([a-z_]+::)+)RefCell<.+>$")
_BOX = re.compile(r"^(alloc::([a-z_]+::)+)Box<.+>$")
_OPTION = re.compile(r"^(core::([a-z_]+::)+)Option<.+>$")

_MAX_BTREE_HEIGHT = 32  # a B-tree of fan-out >= 6 this high holds more than 2**64 elements
_MAX_BUCKETS = 1 << 32  # a hash table's buckets (its control bytes are read 4 KiB at a time)


def _field(v: Optional["Value"], *names: str) -> Optional["Value"]:
    """Members one inside the other (v.a.b), None where one is missing."""
    for n in names:
        if v is None or v.kind not in ("struct", "union"):
            return None
        v = v.fields.get(n)
    return v


def _pointer(p: Optional["Value"]) -> Optional["Value"]:
    """The raw pointer Value inside NonNull/Unique wrappers."""
    for _ in range(8):
        if p is None or p.kind == "pointer":
            return p
        if p.kind != "struct":
            return None
        fields = p.fields
        p = fields["pointer"] if "pointer" in fields else (
            next(iter(fields.values())) if len(fields) == 1 else None)
    return None


def _address(p: Optional["Value"]) -> Optional[int]:
    """The address a raw pointer holds, through the wrappers std puts around one (Unique,
    NonNull: their `pointer` member, or their only one). None when it is no thin pointer."""
    raw = _pointer(p)
    return None if raw is None else int(raw)


def _usize(v: Optional["Value"]) -> Optional[int]:
    """An integer, also one in a newtype (the capacity's UsizeNoHighBit {__0})."""
    for _ in range(4):
        if v is None:
            return None
        if v.kind == "base":
            x = v.value
            return x if isinstance(x, int) and not isinstance(x, bool) else None
        fields = v.fields if v.kind == "struct" else {}
        v = next(iter(fields.values())) if len(fields) == 1 else None
    return None


def _find(v: "Value", pattern: "re.Pattern[str]", depth: int = 4) -> Optional["Value"]:
    """The first member (breadth-first, `depth` levels down) whose type's name matches."""
    level = [v]
    for _ in range(depth):
        nxt = []
        for x in level:
            if x.kind != "struct":
                continue
            for f in x.fields.values():
                if pattern.match(f.type_info.unaliased.name):
                    return f
                nxt.append(f)
        level = nxt
    return None


def _raw_vec(v: "Value") -> Optional[Tuple[int, Optional[int]]]:
    """(data address, capacity or None) of a Vec's or VecDeque's buffer (buf.inner.{ptr, cap},
    before Rust 1.82 buf.{ptr, cap})."""
    buf = _field(v, "buf")
    inner = _field(buf, "inner")
    holder = inner if inner is not None else buf
    data = _address(_field(holder, "ptr"))
    if data is None:
        return None
    return data, _usize(_field(holder, "cap"))


def _element_type(v: "Value") -> Optional["Type"]:
    args = v.type_info.unaliased.template_args
    return args[0] if args else None


def _vec_parts(v: "Value") -> Optional[Tuple[int, int]]:
    """(data address, length) of a Vec, checked against its capacity."""
    raw, n = _raw_vec(v), _usize(_field(v, "len"))
    if raw is None or n is None:
        return None
    data, cap = raw
    if cap is not None and n > cap:
        raise FormatError(f"{v.type}: length {n} beyond its capacity {cap} (corrupt?)")
    if n and not data:
        raise FormatError(f"{v.type}: {n} elements at a null pointer (corrupt?)")
    return data, n


def _text(v: "Value", vec: Optional["Value"]) -> Optional[View]:
    if vec is None:
        return None
    parts = _vec_parts(vec)
    return String(v, parts[0], parts[1], 1) if parts is not None else None


def _string(v: "Value") -> Optional[View]:
    return _text(v, _field(v, "vec"))


def _os_string(v: "Value") -> Optional[View]:
    # OsString { inner: Buf { inner: Vec<u8> } } (Unix), PathBuf { inner: OsString }.
    return _text(v, _find(v, _VEC))


def _fat(v: "Value") -> Optional[Tuple["Value", int]]:
    """A slice reference's (data_ptr, length)."""
    data, n = _field(v, "data_ptr"), _usize(_field(v, "length"))
    if data is None or data.kind != "pointer" or n is None:
        return None
    if n and not int(data):
        raise FormatError(f"{v.type}: {n} elements at a null pointer (corrupt?)")
    return data, n


def _str(v: "Value") -> Optional[View]:
    fat = _fat(v)
    return String(v, int(fat[0]), fat[1], 1) if fat is not None else None


def _slice(v: "Value") -> Optional[View]:
    fat = _fat(v)
    if fat is None:
        return None
    elem = fat[0].type_info.unaliased.target
    if elem is None or not elem.size:
        return None  # zero-sized elements: no Values to read
    return _Contiguous(v, elem, int(fat[0]), fat[1])


def _vec(v: "Value") -> Optional[View]:
    elem, parts = _element_type(v), _vec_parts(v)
    if elem is None or not elem.size or parts is None:
        return None
    return _Contiguous(v, elem, parts[0], parts[1])


def _vec_deque(v: "Value") -> Optional[View]:
    # VecDeque { head, len, buf } (Rust 1.67+): element i at (head + i) % cap; before, the ring
    # VecDeque { tail, head, buf }: element i at (tail + i) % cap, the length head - tail (plus
    # cap when it wraps), as those versions' printers read it. Told apart by the members.
    elem, raw = _element_type(v), _raw_vec(v)
    fields = v.fields if v.kind == "struct" else {}
    head = _usize(fields.get("head"))
    if elem is None or not elem.size or raw is None or head is None:
        return None
    data, cap = raw
    if cap is None:
        return None
    if "len" in fields and "tail" not in fields:
        n, first = _usize(fields["len"]), head
        if n is None:
            return None
        if n > cap or (cap and head >= cap):
            raise FormatError(f"{v.type}: head {head} and length {n} do not fit its capacity {cap} (corrupt?)")
    elif "tail" in fields and "len" not in fields:
        tail = _usize(fields["tail"])
        if tail is None:
            return None
        if (head or tail) if not cap else (head >= cap or tail >= cap):
            raise FormatError(f"{v.type}: tail {tail} and head {head} do not fit its capacity {cap} (corrupt?)")
        n, first = (head - tail if head >= tail else cap + head - tail), tail
    else:
        return None
    size, view = elem.size, View(v)
    view.bounded(n)

    def walk() -> Iterator[int]:
        for i in range(n):
            yield data + ((first + i) % cap) * size
    return _Linked(v, elem, n, walk, 0)


class _Pairs(Mapping):
    """A map whose walk yields the addresses of each key and its value."""

    def __init__(self, value: "Value", count: int, pairs: Callable[[], Iterator[Tuple[int, int]]],
                 key: "Type", val: "Type") -> None:
        super().__init__(value, count, lambda: iter(()), key, 0, val, 0)
        self.pairs = pairs

    def items(self) -> Iterator[Tuple["Value", "Value"]]:
        for k, v in self.pairs():
            yield self.at(self.key, k), self.at(self.val, v)

    def at(self, t: "Type", address: int) -> "Value":
        if t.size == 0:  # (), SetValZST: nothing to read
            from . import Value
            return Value(self.proc, self.proc._live().make_value(t._t, b""))
        return super().at(t, address)


def _hash_table(v: "Value", is_map: bool) -> Optional[View]:
    # hashbrown (Rust 1.36+): HashMap { base: hashbrown::HashMap { table: RawTable<(K, V)> } },
    # HashSet { base: hashbrown::HashSet { map: hashbrown::HashMap<K, ()> } }; RawTable { table:
    # RawTableInner { bucket_mask, ctrl, items, .. } }. Bucket i holds a (K, V) at ctrl - (i + 1)
    # pairs; its control byte is full when its high bit is clear.
    base = _field(v, "base")
    table = _field(base, "table") if is_map else _field(base, "map", "table")
    inner = _field(table, "table")
    if table is None or inner is None:
        return None
    mask, items = _usize(_field(inner, "bucket_mask")), _usize(_field(inner, "items"))
    ctrl = _address(_field(inner, "ctrl"))
    args = table.type_info.unaliased.template_args
    pair = args[0].unaliased if args else None
    if mask is None or items is None or ctrl is None or pair is None or not pair.size:
        return None
    fields = {f.name: f for f in pair.fields}
    if "__0" not in fields or (is_map and "__1" not in fields):
        return None
    buckets = mask + 1
    if buckets & mask or buckets > _MAX_BUCKETS or items > buckets:
        raise FormatError(f"{v.type}: {items} items in {buckets} buckets (corrupt?)")
    view, size = View(v), pair.size
    view.bounded(items)

    def full() -> Iterator[int]:
        found, at = 0, 0
        while found < items and at < buckets:
            chunk = view.proc.read(ctrl + at, min(4096, buckets - at))
            for i, c in enumerate(chunk):
                if not c & 0x80:
                    yield ctrl - (at + i + 1) * size
                    found += 1
                    if found == items:
                        return
            at += len(chunk)
        raise FormatError(f"{v.type}: {found} full buckets for {items} items (corrupt?)")

    key = fields["__0"]
    if not is_map:
        return _Linked(v, key.type, items, full, key.offset)
    val = fields["__1"]
    return _Pairs(v, items, lambda: ((b + key.offset, b + val.offset) for b in full()), key.type, val.type)


def _btree(v: "Value", is_map: bool) -> Optional[View]:
    # BTreeMap { root: Option<NodeRef { height, node: NonNull<LeafNode<K, V>> }>, length };
    # BTreeSet { map: BTreeMap<T, SetValZST> }. LeafNode { parent, keys: [K; 11], vals: [V; 11],
    # parent_idx, len: u16 }, InternalNode { data: LeafNode, edges: [NonNull<LeafNode>; 12] }
    # (both #[repr(C)]): in order, edge 0's subtree, key 0, edge 1's subtree, ...
    m = v if is_map else _field(v, "map")
    if m is None:
        return None
    args = m.type_info.unaliased.template_args
    length, root = _usize(_field(m, "length")), _field(m, "root")
    if len(args) < 2 or length is None or root is None:
        return None
    kt, vt = args[0], args[1]
    view = View(v)
    view.bounded(length)
    got = root.variant
    if got is not None:  # Option<NodeRef> (Rust 1.5x+)
        if got.name == "None":
            if length:
                raise FormatError(f"{v.type}: {length} elements and no root node (corrupt?)")
            return _empty(v, is_map, kt, vt)
        root = _field(got.value, "__0")
    height, node = _usize(_field(root, "height")), _pointer(_field(root, "node"))
    leaf = node.type_info.unaliased.target if node is not None else None
    if height is None or node is None or leaf is None or leaf.kind != "struct":
        return None
    lf = {f.name: f for f in leaf.unaliased.fields}
    if not all(n in lf for n in ("keys", "vals", "len")) or lf["keys"].type.length is None:
        return None
    capacity = lf["keys"].type.length or 0
    keys_at, vals_at, len_at = lf["keys"].offset, lf["vals"].offset, lf["len"].offset
    edges_at = (leaf.size + 7) // 8 * 8  # InternalNode's edges follow its LeafNode (repr(C))
    if height > _MAX_BTREE_HEIGHT:
        raise FormatError(f"{v.type}: a tree {height} levels high (corrupt?)")
    first = int(node)

    def pairs() -> Iterator[Tuple[int, int]]:
        seen: Set[int] = set()
        count = 0

        def walk(addr: int, h: int) -> Iterator[Tuple[int, int]]:
            if not addr:
                raise FormatError(f"{v.type}: a null node (corrupt?)")
            if addr in seen:
                raise FormatError(f"{v.type}: a node reached twice (a cycle?)")
            seen.add(addr)
            n = int.from_bytes(view.proc.read(addr + len_at, 2), "little")
            if n > capacity:
                raise FormatError(f"{v.type}: a node of {n} keys, more than {capacity} (corrupt?)")
            for i in range(n + 1):
                if h:
                    yield from walk(view.ptr(addr + edges_at + 8 * i), h - 1)
                if i < n:
                    yield addr + keys_at + i * kt.size, addr + vals_at + i * vt.size

        if not length:
            return
        for kv in walk(first, height):
            yield kv
            count += 1
            if count == length:
                return
        raise FormatError(f"{v.type}: the tree holds {count} elements, not {length} (corrupt?)")

    if not is_map:
        return _Linked(v, kt, length, lambda: (k for k, _ in pairs()), 0)
    return _Pairs(v, length, pairs, kt, vt)


def _empty(v: "Value", is_map: bool, kt: "Type", vt: "Type") -> View:
    if is_map:
        return _Pairs(v, 0, lambda: iter(()), kt, vt)
    return _Linked(v, kt, 0, lambda: iter(()), 0)


def _counted(v: "Value", atomic: bool) -> Optional[View]:
    # Rc { ptr: NonNull<RcInner { strong: Cell<usize>, weak: Cell<usize>, value }> }, Arc's
    # ArcInner { strong: AtomicUsize, weak, data }; the strong references together hold one
    # weak one (the printers show weak - 1).
    p = _pointer(_field(v, "ptr"))
    if p is None or not int(p):
        return None
    inner = p.deref()
    strong = _usize(_field(inner, "strong", "v" if atomic else "value", "value"))
    weak = _usize(_field(inner, "weak", "v" if atomic else "value", "value"))
    held = _field(inner, "data" if atomic else "value")
    if strong is None or weak is None or held is None:
        return None
    if strong <= 0 or weak <= 0:
        raise FormatError(f"{v.type}: strong count {strong}, weak count {weak} (freed or corrupt?)")
    view = Pointer(v, lambda: held, (strong, weak - 1))
    view.strong = strong  # type: ignore[attr-defined]
    view.weak = weak - 1  # type: ignore[attr-defined]
    return view


def _cell(v: "Value") -> Optional[View]:
    held = _field(v, "value", "value")  # Cell { value: UnsafeCell { value } }
    return Pointer(v, lambda: held) if held is not None else None


def _ref_cell(v: "Value") -> Optional[View]:
    # RefCell { borrow: Cell<isize>, value: UnsafeCell<T> }: borrow > 0 shared borrows, < 0 a
    # mutable one.
    held, borrow = _field(v, "value", "value"), _field(v, "borrow", "value", "value")
    if held is None or borrow is None:
        return None
    view = Pointer(v, lambda: held)
    view.borrow = int(borrow)  # type: ignore[attr-defined]
    return view


def _ref(v: "Value") -> Optional[View]:
    # Ref/RefMut { value: NonNull<T>, borrow: BorrowRef { borrow: &Cell<isize> } }.
    p, cell = _pointer(_field(v, "value")), _pointer(_field(v, "borrow", "borrow"))
    if p is None or cell is None:
        return None
    ptr = p
    view = Pointer(v, lambda: ptr.deref() if int(ptr) else None)
    borrow = _usize(_field(cell.deref(), "value", "value")) if int(cell) else None
    if borrow is not None:
        view.borrow = borrow  # type: ignore[attr-defined]
    return view


def _option(v: "Value") -> Optional[View]:
    got = v.variant
    if got is None:
        return None
    if got.name == "None":
        return Pointer(v, lambda: None)
    held = _field(got.value, "__0")
    if got.name != "Some" or held is None:
        return None
    return Pointer(v, lambda: held)


def _box(v: "Value") -> Optional[View]:
    if v.kind == "pointer":  # Box<T> of a sized T: a pointer named Box<...>
        p = v
        return Pointer(v, lambda: p.deref() if int(p) else None)
    # Box<[T]> and Box<str>: {data_ptr, length}, as &[T] and &str; Box<dyn Trait>: no view.
    if _field(v, "data_ptr") is None:
        return None
    name = v.type_info.unaliased.name
    return _str(v) if name.startswith(("alloc::boxed::Box<str,", "alloc::boxed::Box<str>")) else _slice(v)


_VIEWS: List[Tuple["re.Pattern[str]", Callable[["Value"], Optional[View]]]] = [
    (_STRING, _string), (_STR, _str), (_SLICE, _slice), (_OS_STRING, _os_string),
    (_PATHBUF, _os_string), (_VEC, _vec), (_VEC_DEQUE, _vec_deque),
    (_BTREE_SET, lambda v: _btree(v, False)), (_BTREE_MAP, lambda v: _btree(v, True)),
    (_HASH_MAP, lambda v: _hash_table(v, True)), (_HASH_SET, lambda v: _hash_table(v, False)),
    (_RC, lambda v: _counted(v, False)), (_ARC, lambda v: _counted(v, True)),
    (_CELL, _cell), (_REF, _ref), (_REF_MUT, _ref), (_REF_CELL, _ref_cell),
    (_BOX, _box), (_OPTION, _option),
]


def view(v: "Value", t: "Type") -> Optional[View]:
    """The view of a Rust value `v` of (unaliased) type `t`, or None."""
    if t.kind == "pointer":
        name = t._t.dwarf_name  # rustc's name of the pointer type: Box<T> is one
        return _box(v) if _BOX.match(name) else None
    if t.kind not in ("struct", "union"):
        return None
    for pattern, make in _VIEWS:
        if pattern.match(t.name):
            return make(v)
    return None
