"""C++ standard-library containers as Python sequences and mappings of Values (Rust's:
_rust_containers.py, on the same classes).

The layouts are the ones bt's built-in summaries read (engine/vars/std_printers.cpp): libstdc++
(GCC) and libc++ (LLVM, std::__1), found through the DWARF member names and the class
templates' type arguments, so a layout this module does not know gives no view (the Value stays
a plain struct), never a wrong element. Every walk is bounded by the container's own size (and
by MAX_ELEMENTS), and a cycle or a size that disagrees with the links raises FormatError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ._errors import FormatError

if TYPE_CHECKING:
    from . import Type, Value

MAX_ELEMENTS = 1 << 24  # no container is walked further, whatever its size field says


def _member(v: "Value", name: str, want: Optional[Callable[["Value"], bool]] = None,
            depth: int = 10) -> Optional["Value"]:
    """The first member called `name` found breadth-first through fields and base classes
    (libstdc++ nests them: _M_impl._M_start, _M_t._M_impl._M_header, ...)."""
    level = [v]
    for _ in range(depth):
        nxt = []
        for x in level:
            if x.kind not in ("struct", "class", "union"):
                continue
            for n, f in x.fields.items():
                if n == name and (want is None or want(f)):
                    return f
                nxt.append(f)
        level = nxt
    return None


def _any(v: "Value", *names: str, want: Optional[Callable[["Value"], bool]] = None) -> Optional["Value"]:
    """The first of several member names (libstdc++'s, then libc++'s spelling) that exists.
    (Not `a or b`: a Value holding 0 is false.)"""
    for n in names:
        m = _member(v, n, want)
        if m is not None:
            return m
    return None


def _pointee(p: "Value") -> Optional["Type"]:
    """What a pointer member points to (through its typedefs: `pointer`, `_Tp_alloc::pointer`)."""
    return p.type_info.unaliased.target


def _path(v: Optional["Value"], *names: str) -> Optional["Value"]:
    """Members found one after the other, each anywhere below the last (libc++ hides them in
    the base classes of __compressed_pair: __pair1_.<__compressed_pair_elem>.__value_)."""
    for n in names:
        if v is None:
            return None
        v = _member(v, n)
    return v


def _width(p: "Value") -> int:
    t = _pointee(p) if p.kind == "pointer" else p.type_info.unaliased.target
    return t.size if t is not None and t.size else 1


def _alignof(t: "Type", depth: int = 0) -> int:
    """alignof(T) from the type's structure: scalars by size, aggregates by their members."""
    u = t.unaliased
    if u.kind == "array" and u.target is not None:
        return _alignof(u.target, depth + 1)
    if u.kind in ("struct", "class", "union"):
        if depth > 16:
            return 8
        return max([_alignof(f.type, depth + 1) for f in u.fields] + [1])
    return min(16, u.size) if u.size & (u.size - 1) == 0 and u.size else 8


def _round(offset: int, t: "Type") -> int:
    """Where a T stored after `offset` bytes of node header starts."""
    a = _alignof(t)
    return (offset + a - 1) // a * a


class View:
    """A container's contents. Subclasses define len() and iteration (elements for sequences,
    keys for mappings)."""

    kind = "container"

    def __init__(self, value: "Value") -> None:
        self.value = value
        self.proc = value._p

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def ptr(self, address: int) -> int:
        return int.from_bytes(self.proc.read(address, 8), "little")

    def at(self, t: "Type", address: int) -> "Value":
        return self.proc.value(t, address)

    def bounded(self, n: int) -> int:
        if n < 0 or n > MAX_ELEMENTS:
            raise FormatError(f"{self.value.type}: implausible size {n} (corrupt container?)")
        return n


class Sequence(View):
    """vector, array, deque, list, forward_list, set, unordered_set, tuple: ``s[i]``, ``len(s)``,
    iteration over element Values."""

    def __getitem__(self, i: int) -> "Value":
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} is out of bounds ({self.value.type} has {n} elements)")
        for k, e in enumerate(self):
            if k == i:
                found: "Value" = e
                return found
        raise IndexError(i)


class _Contiguous(Sequence):
    def __init__(self, value: "Value", elem: "Type", start: int, count: int) -> None:
        super().__init__(value)
        self.elem, self.start, self.count = elem, start, self.bounded(count)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> "Value":
        n = self.count
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} is out of bounds ({self.value.type} has {n} elements)")
        return self.at(self.elem, self.start + i * self.elem.size)

    def __iter__(self) -> Iterator["Value"]:
        for i in range(self.count):
            yield self[i]


class _Linked(Sequence):
    """Elements at `offset` in nodes found by `walk` (which yields node addresses)."""

    def __init__(self, value: "Value", elem: "Type", count: int,
                 walk: Callable[[], Iterator[int]], offset: int) -> None:
        super().__init__(value)
        self.elem, self.count, self.walk, self.offset = elem, self.bounded(count), walk, offset

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator["Value"]:
        for node in self.walk():
            yield self.at(self.elem, node + self.offset)


class Mapping(View):
    """map, multimap, unordered_map: ``m[key]`` (the key as a Python int, float, str or bytes,
    or a Value), ``len(m)``, iteration over keys, items(), keys(), values(), get()."""

    kind = "mapping"

    def __init__(self, value: "Value", count: int, walk: Callable[[], Iterator[int]],
                 key: "Type", key_offset: int, val: "Type", val_offset: int) -> None:
        super().__init__(value)
        self.count, self.walk = self.bounded(count), walk
        self.key, self.key_offset, self.val, self.val_offset = key, key_offset, val, val_offset

    def __len__(self) -> int:
        return self.count

    def items(self) -> Iterator[Tuple["Value", "Value"]]:
        for node in self.walk():
            yield self.at(self.key, node + self.key_offset), self.at(self.val, node + self.val_offset)

    def __iter__(self) -> Iterator["Value"]:
        return (k for k, _ in self.items())

    def keys(self) -> List["Value"]:
        return [k for k, _ in self.items()]

    def values(self) -> List["Value"]:
        return [v for _, v in self.items()]

    def get(self, key: Any, default: Any = None) -> Any:
        for k, v in self.items():
            if _key_equal(k, key):
                return v
        return default

    def __getitem__(self, key: Any) -> "Value":
        for k, v in self.items():
            if _key_equal(k, key):
                return v
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return any(_key_equal(k, key) for k in self)


def _key_equal(k: "Value", key: Any) -> bool:
    from . import Value
    if isinstance(key, Value):
        return k.bytes == key.bytes
    if isinstance(key, str):
        s = k.string_view()
        return s is not None and s == key.encode()
    if isinstance(key, bytes):
        return k.string_view() == key
    return bool(k.value == key) if k.value is not None else False


class String(View):
    """std::string / string_view (any character width): ``bytes`` of the characters,
    ``len()`` in characters, ``str()`` decoded."""

    kind = "string"

    def __init__(self, value: "Value", data: int, length: int, width: int) -> None:
        super().__init__(value)
        self.data, self.length, self.width = data, self.bounded(length), width

    def __len__(self) -> int:
        return self.length

    def bytes(self, max_length: int = 1 << 20) -> bytes:
        n = min(self.length, max_length) * self.width
        return self.proc.read(self.data, n) if n else b""

    def __iter__(self) -> Iterator[int]:
        return iter(self.bytes())


class Pointer(View):
    """unique_ptr, shared_ptr, weak_ptr, optional, variant, atomic: get() is the held Value (None when
    empty); len() is 0 or 1. shared/weak pointers also have use_count and weak_count."""

    kind = "pointer"

    def __init__(self, value: "Value", get: Callable[[], Optional["Value"]],
                 counts: Optional[Tuple[int, int]] = None) -> None:
        super().__init__(value)
        self._get = get
        self.use_count: Optional[int] = counts[0] if counts else None
        self.weak_count: Optional[int] = counts[1] if counts else None

    def get(self) -> Optional["Value"]:
        return self._get()

    def __len__(self) -> int:
        return 0 if self.get() is None else 1

    def __iter__(self) -> Iterator["Value"]:
        got = self.get()
        return iter([got] if got is not None else [])


# libstdc++ -------------------------------------------------------------------------------------

def _vector(v: "Value", args: List["Type"]) -> Optional[View]:
    start, finish = _any(v, "_M_start", "__begin_"), _any(v, "_M_finish", "__end_")
    if start is None or finish is None or start.kind != "pointer":
        return None  # vector<bool> keeps bits: no element Values
    elem = _pointee(start)
    if elem is None or not elem.size:
        return None
    n = (int(finish) - int(start)) // elem.size
    return _Contiguous(v, elem, int(start), n)


def _array(v: "Value", args: List["Type"]) -> Optional[View]:
    elems = _any(v, "_M_elems", "__elems_")
    if elems is None or elems.kind != "array" or elems.address is None:
        return _Contiguous(v, args[0], v.address or 0, 0) if args else None
    elem = elems.type_info.unaliased.target
    return _Contiguous(v, elem, elems.address, len(elems)) if elem is not None else None


def _string(v: "Value", args: List["Type"]) -> Optional[View]:
    p, n = _member(v, "_M_p"), _member(v, "_M_string_length")
    if p is not None and n is not None:
        width = _width(p)
        return String(v, int(p), int(n), width)
    rep = _path(v, "__r_", "__value_")  # libc++
    if rep is None:
        rep = _member(v, "__rep_")
    if rep is None:
        return None
    short, long_ = _path(rep, "__s"), _path(rep, "__l")
    if short is None or long_ is None:
        return None
    is_long = _path(short, "__is_long_")
    if is_long is not None and int(is_long):
        data, size = _path(long_, "__data_"), _path(long_, "__size_")
        if data is None or size is None:
            return None
        width = _width(data)
        return String(v, int(data), int(size), width)
    data, size = _path(short, "__data_"), _path(short, "__size_")
    if data is None or size is None or data.address is None:
        return None
    width = _width(data)
    return String(v, data.address, int(size), width)


def _string_view(v: "Value", args: List["Type"]) -> Optional[View]:
    p, n = _any(v, "_M_str", "__data_"), _any(v, "_M_len", "__size_")
    if p is None or n is None:
        return None
    width = _width(p)
    return String(v, int(p), int(n), width)


def _list(v: "Value", args: List["Type"]) -> Optional[View]:
    node = _member(v, "_M_node")
    if node is None or node.address is None or not args:
        return _libcxx_list(v, args)
    header = node.address
    size = _member(node, "_M_size")
    view = View(v)
    count = int(size) if size is not None else 0

    def walk() -> Iterator[int]:
        n = view.ptr(header)
        for _ in range(count):
            if n == header or n == 0:
                raise FormatError(f"{v.type}: the list ends before its size ({count})")
            yield n
            n = view.ptr(n)
    return _Linked(v, args[0], count, walk, 16)


def _libcxx_list(v: "Value", args: List["Type"]) -> Optional[View]:
    end, size = _member(v, "__end_"), _path(v, "__size_alloc_", "__value_")
    if size is None:
        size = _member(v, "__size_")
    if end is None or end.address is None or size is None or not args:
        return None
    header, count, view = end.address, int(size), View(v)

    def walk() -> Iterator[int]:
        n = view.ptr(header + 8)  # __list_node_base {__prev_, __next_}
        for _ in range(count):
            if n == header or n == 0:
                raise FormatError(f"{v.type}: the list ends before its size ({count})")
            yield n
            n = view.ptr(n + 8)
    return _Linked(v, args[0], count, walk, 16)


def _forward_list(v: "Value", args: List["Type"]) -> Optional[View]:
    head = _path(v, "_M_head", "_M_next")
    head = head if head is not None else _path(v, "__before_begin_", "__next_")  # libc++
    if head is None or not args:
        return None
    first = int(head)
    view, offset = View(v), _round(8, args[0])
    nodes: List[int] = []
    n = first
    while n and len(nodes) <= MAX_ELEMENTS:
        if n in nodes[-1:]:
            raise FormatError(f"{v.type}: a node links to itself")
        nodes.append(n)
        n = view.ptr(n)
    if n:
        raise FormatError(f"{v.type}: more than {MAX_ELEMENTS} nodes (a cycle?)")
    return _Linked(v, args[0], len(nodes), lambda: iter(nodes), offset)


def _libcxx_deque(v: "Value", args: List["Type"]) -> Optional[View]:
    blocks, start = _path(v, "__map_", "__begin_"), _member(v, "__start_")
    size = _path(v, "__size_", "__value_")
    size = size if size is not None else _member(v, "__size_")
    if blocks is None or start is None or size is None or not args or not args[0].size:
        return None
    elem = args[0]
    per = 4096 // elem.size if elem.size < 256 else 16  # libc++'s __deque_block_size
    first, n, view = int(start), int(size), View(v)

    def walk() -> Iterator[int]:
        for i in range(n):
            k = first + i
            yield view.ptr(int(blocks) + 8 * (k // per)) + (k % per) * elem.size
    return _Linked(v, elem, n, walk, 0)


def _deque(v: "Value", args: List["Type"]) -> Optional[View]:
    start, finish = _member(v, "_M_start"), _member(v, "_M_finish")
    if start is None or finish is None:
        return _libcxx_deque(v, args)
    if not args or start.kind != "struct":
        return None
    elem = args[0]
    size = elem.size
    if not size:
        return None
    per = 512 // size if size < 512 else 1  # libstdc++'s __deque_buf_size
    s = {k: int(start.field(k)) for k in ("_M_cur", "_M_first", "_M_last", "_M_node")}
    f = {k: int(finish.field(k)) for k in ("_M_cur", "_M_first", "_M_last", "_M_node")}
    count = (per * ((f["_M_node"] - s["_M_node"]) // 8 - 1) + (f["_M_cur"] - f["_M_first"]) // size
             + (s["_M_last"] - s["_M_cur"]) // size)
    view = View(v)

    def walk() -> Iterator[int]:
        cur, last, node = s["_M_cur"], s["_M_last"], s["_M_node"]
        for _ in range(count):
            if cur == last:
                node += 8
                cur = view.ptr(node)
                last = cur + per * size
            yield cur
            cur += size
    return _Linked(v, elem, count, walk, 0)


def _pair_offsets(pair: Optional["Type"]) -> Optional[Tuple["Type", int, "Type", int]]:
    if pair is None:
        return None
    if pair.kind in ("struct", "class") and any(f.name == "__cc_" for f in pair.fields):
        cc = next(f for f in pair.fields if f.name == "__cc_")  # libc++'s __value_type
        inner = _pair_offsets(cc.type)
        if inner is None:
            return None
        k, ko, val, vo = inner
        return k, cc.offset + ko, val, cc.offset + vo
    fields = {f.name: f for f in pair.fields}
    if "first" not in fields or "second" not in fields:
        return None
    return fields["first"].type, fields["first"].offset, fields["second"].type, fields["second"].offset


def _nodes(v: "Value", n: int, walk: Callable[[], Iterator[int]], header: int,
           value_type: Optional["Type"], is_map: bool) -> Optional[View]:
    """The view of a node-based container whose nodes store their value (`value_type`: the
    element, or the key/value pair of a map) after `header` bytes of links."""
    if value_type is None:
        return None
    base = _round(header, value_type)
    if not is_map:
        return _Linked(v, value_type, n, walk, base)
    layout = _pair_offsets(value_type)
    if layout is None:
        return None
    k, ko, val, vo = layout
    return Mapping(v, n, walk, k, base + ko, val, base + vo)


def _chain(v: "Value", start: int, n: int) -> Callable[[], Iterator[int]]:
    """The `n` nodes of a singly linked list whose first word links to the next."""
    view = View(v)

    def walk() -> Iterator[int]:
        x = start
        for _ in range(n):
            if x == 0:
                raise FormatError(f"{v.type}: the list of nodes ends before its size ({n})")
            yield x
            x = view.ptr(x)
    return walk


def _inorder(v: "Value", first: int, n: int, left: int, right: int,
             parent: int) -> Callable[[], Iterator[int]]:
    """The `n` nodes of a red-black tree in order from `first`, the links at the given offsets:
    the successor is the leftmost node of the right subtree, else the first ancestor reached
    from a left child (libstdc++'s _Rb_tree_increment, libc++'s __tree_next_iter)."""
    view = View(v)

    def walk() -> Iterator[int]:
        x = first
        for i in range(n):
            if x == 0:
                raise FormatError(f"{v.type}: the tree ends before its size ({n})")
            yield x
            if i + 1 == n:
                return
            r = view.ptr(x + right)
            if r:
                x = r
                for _ in range(MAX_ELEMENTS):
                    below = view.ptr(x + left)
                    if not below:
                        break
                    x = below
                continue
            for _ in range(64):  # a red-black tree of 2**32 nodes is 64 deep at most
                up = view.ptr(x + parent)
                came_from_right = view.ptr(up + right) == x
                x = up
                if not came_from_right:
                    break
    return walk


def _tree(v: "Value", args: List["Type"], is_map: bool) -> Optional[View]:
    header, count = _member(v, "_M_header"), _member(v, "_M_node_count")
    if header is None or header.address is None or count is None:
        return _libcxx_tree(v, args, is_map)
    tree = _member(v, "_M_t")
    targs = tree.type_info.template_args if tree is not None else []
    # _Rb_tree_node_base {color, parent @8, left @16, right @24}; the header's left is the first.
    n = int(count)
    walk = _inorder(v, View(v).ptr(header.address + 16), n, left=16, right=24, parent=8)
    # _Rb_tree<K, V, ...>: V (the pair of a map) after the 32-byte _Rb_tree_node_base.
    return _nodes(v, n, walk, 32, targs[1] if len(targs) > 1 else None, is_map)


def _libcxx_tree(v: "Value", args: List["Type"], is_map: bool) -> Optional[View]:
    tree = _member(v, "__tree_")
    if tree is None:
        return None
    size = _path(tree, "__pair3_", "__value_")
    size = size if size is not None else _member(tree, "__size_")
    begin = _member(tree, "__begin_node_")
    if size is None or begin is None:
        return None
    # __tree_node_base {left @0, right @8, parent @16, is_black @24}; __begin_node_ is the first.
    n = int(size)
    walk = _inorder(v, int(begin), n, left=0, right=8, parent=16)
    # __tree<T, ...>: T follows __tree_node_base {left, right, parent, bool is_black} in its
    # tail padding (25 bytes, rounded up to T's alignment).
    targs = tree.type_info.template_args
    return _nodes(v, n, walk, 25, targs[0] if targs else None, is_map)


def _hashtable(v: "Value", args: List["Type"], is_map: bool) -> Optional[View]:
    h = _member(v, "_M_h")
    if h is None:
        return _libcxx_hashtable(v, args, is_map)
    first, count = _member(h, "_M_before_begin"), _member(h, "_M_element_count")
    if first is None or count is None:
        return None
    # _Hashtable<K, V, ...>: nodes {_M_nxt, V, [cached hash]} from _M_before_begin._M_nxt.
    targs = h.type_info.template_args
    walk = _chain(v, int(first.field("_M_nxt")), int(count))
    return _nodes(v, int(count), walk, 8, targs[1] if len(targs) > 1 else None, is_map)


def _libcxx_hashtable(v: "Value", args: List["Type"], is_map: bool) -> Optional[View]:
    table = _member(v, "__table_")
    if table is None:
        return None
    first = _path(table, "__p1_", "__value_", "__next_")
    first = first if first is not None else _member(table, "__first_node_")
    size = _path(table, "__p2_", "__value_")
    size = size if size is not None else _member(table, "__size_")
    if first is None or size is None:
        return None
    # __hash_table<T, ...>: nodes {__next_, __hash_, T}.
    targs = table.type_info.template_args
    return _nodes(v, int(size), _chain(v, int(first), int(size)), 16, targs[0] if targs else None, is_map)


def _unique_ptr(v: "Value", args: List["Type"]) -> Optional[View]:
    p = _member(v, "_M_head_impl", want=lambda f: f.kind == "pointer")
    if p is None:
        p = _member(v, "__value_", want=lambda f: f.kind == "pointer")  # libc++ __ptr_
    if p is None:
        return None
    ptr = p
    return Pointer(v, lambda: ptr.deref() if int(ptr) else None)


def _shared_ptr(v: "Value", args: List["Type"]) -> Optional[View]:
    p, ctrl = _any(v, "_M_ptr", "__ptr_"), _any(v, "_M_pi", "__cntrl_")
    if p is None or ctrl is None or p.kind != "pointer":
        return None
    counts: Optional[Tuple[int, int]] = None
    c = int(ctrl)
    if c:
        view = View(v)
        raw = view.proc.read(c + 8, 8)
        use, weak = int.from_bytes(raw[:4], "little", signed=True), int.from_bytes(raw[4:], "little", signed=True)
        if _member(v, "_M_pi") is not None:
            weak = weak - 1 if use > 0 else weak  # libstdc++ keeps one weak ref for the strong ones
            counts = (use, weak)
        else:
            # libc++: __shared_owners_, __shared_weak_owners_ (longs), both stored as count - 1;
            # the strong owners together hold one weak reference.
            raw = view.proc.read(c + 8, 16)
            use = int.from_bytes(raw[:8], "little", signed=True) + 1
            weak = int.from_bytes(raw[8:], "little", signed=True)
            counts = (use, weak if use > 0 else weak + 1)
    expired = counts is not None and counts[0] <= 0
    ptr = p
    return Pointer(v, lambda: ptr.deref() if int(ptr) and not expired else None, counts)


def _optional(v: "Value", args: List["Type"]) -> Optional[View]:
    engaged = _any(v, "_M_engaged", "__engaged_")
    if engaged is None or not args:
        return None
    payload = _any(v, "_M_value", "__val_")
    if payload is None:
        return None
    value = payload
    return Pointer(v, lambda: value if int(engaged) else None)


def _variant(v: "Value", args: List["Type"]) -> Optional[View]:
    index = _any(v, "_M_index", "__index")
    if index is None or v.address is None:
        return None
    i = int(index)
    alts = [a for a in args]
    at = v.address
    view = View(v)
    if i >= len(alts):  # valueless_by_exception (npos in the index's width)
        return Pointer(v, lambda: None)
    alt = alts[i]
    ptr = Pointer(v, lambda: view.at(alt, at))
    ptr.index = i  # type: ignore[attr-defined]
    return ptr


class _Elements(Sequence):
    """A fixed list of element Values (a std::tuple's)."""

    def __init__(self, value: "Value", items: List["Value"]) -> None:
        super().__init__(value)
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> "Value":
        return self.items[i]

    def __iter__(self) -> Iterator["Value"]:
        return iter(self.items)


def _tuple(v: "Value", args: List["Type"]) -> Optional[View]:
    # libstdc++ (GCC 5+), walked as gdb's printer (and bt's summary) walks it: tuple derives from
    # _Tuple_impl<0, A, B...>, whose bases are the rest (_Tuple_impl<1, B...>) and
    # _Head_base<0, A> (holding _M_head_impl); the last _Tuple_impl has only its _Head_base.
    top = list(v.fields.values())
    if not top:
        return _Elements(v, [])
    if len(top) != 1:
        return None
    node: Optional["Value"] = top[0]
    items: List["Value"] = []
    while node is not None and len(items) < MAX_ELEMENTS:
        nodes = list(node.fields.values())
        if not nodes:
            break
        if len(nodes) > 2:
            return None
        impl = nodes[-1]
        node = nodes[0] if len(nodes) == 2 else None
        head = impl.fields.get("_M_head_impl") if impl.kind in ("struct", "class") else None
        items.append(head if head is not None else impl)
    return _Elements(v, items)


def _atomic(v: "Value", args: List["Type"]) -> Optional[View]:
    # Where gdb's printer reads the value: _M_i (integers, enums, and bool through _M_base),
    # _M_fp (floating point since C++20), _M_b._M_p (pointers).
    held = _any(v, "_M_i", "_M_fp", "_M_p")
    if held is None:
        return None
    return Pointer(v, lambda: held)


# The template's name without std:: and inline namespaces -> its view.
_VIEWS: Dict[str, Callable[["Value", List["Type"]], Optional[View]]] = {
    "vector": _vector, "array": _array, "deque": _deque,
    "list": _list, "forward_list": _forward_list,
    "basic_string": _string, "basic_string_view": _string_view,
    "map": lambda v, a: _tree(v, a, True), "multimap": lambda v, a: _tree(v, a, True),
    "set": lambda v, a: _tree(v, a, False), "multiset": lambda v, a: _tree(v, a, False),
    "unordered_map": lambda v, a: _hashtable(v, a, True),
    "unordered_multimap": lambda v, a: _hashtable(v, a, True),
    "unordered_set": lambda v, a: _hashtable(v, a, False),
    "unordered_multiset": lambda v, a: _hashtable(v, a, False),
    "unique_ptr": _unique_ptr, "shared_ptr": _shared_ptr, "weak_ptr": _shared_ptr,
    "optional": _optional, "variant": _variant, "tuple": _tuple, "atomic": _atomic,
}


def template_name(type_name: str) -> Optional[str]:
    """"vector" for "std::vector<int, std::allocator<int> >" or "std::__1::vector<int>"."""
    if not type_name.startswith("std::"):
        return None
    rest = type_name[5:]
    for inline in ("__cxx11::", "__1::", "__debug::"):
        if rest.startswith(inline):
            rest = rest[len(inline):]
    name = rest.split("<", 1)[0]
    return name if "::" not in name else None


def view(v: "Value") -> Optional[View]:
    """The container view of `v`, or None when it is not a standard container bt knows."""
    t = v.type_info.unaliased
    if t._t.is_rust:  # Rust's standard library (_rust_containers.py)
        from . import _rust_containers
        return _rust_containers.view(v if not v.type_info.is_alias else v.reinterpret(t), t)
    if t.kind not in ("struct", "class"):
        return None
    name = template_name(t.name)
    make = _VIEWS.get(name) if name else None
    if make is None:
        return None
    real = v if v.type_info.is_alias is False else v.reinterpret(t)
    result: Optional[View] = make(real, t.template_args)
    return result
