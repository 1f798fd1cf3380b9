"""Rust values walked from Python as the C++ containers are (issue 19): the Rust fixture
(tests/fixtures/rust/crash_rs.rs, built at test time with the machine's rustc, -g -C opt-level=0
-C panic=unwind; $BT_RUSTC, a path, wins over PATH and ~/.cargo/bin, as in tests/e2e/test_rust.py) crashes in `crash` mode while `hold_values` keeps one value of every kind alive
and `main` holds the order book; the Python views of those values must hold what the source
assigns there: String/&str/OsString/PathBuf as their bytes, Vec/VecDeque/slices as sequences,
HashMap/BTreeMap as mappings, the sets as sequences of keys, Box/Rc/Arc/Cell/RefCell/Option as
pointer views (counts and borrows included), and every enum's active variant (Value.variant),
niche layouts included.

Corrupt data: the fixture's core with bytes changed where its values live (a B-tree edge looping
back, a hash set's item count, an Option's tag, a Vec's length) and types laid over unrelated
memory: each gives btengine.FormatError (a MemoryError is one), never a hang or a guess.

No rustc: every test skips and says so (scripts/setup installs a toolchain)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import btengine
from btengine import _containers
from pytest_util import rust_core

# What crash_rs.rs's hold_values assigns (the expected values of these tests).
TEXT = 'h\u00e9llo "w"\n'
BTREE = {i * 3: ("even" if i % 2 == 0 else "odd") for i in range(20)}


@pytest.fixture(scope="module")
def rust(tmp_path_factory):
    d = tmp_path_factory.mktemp("rust")
    exe, core = rust_core(d)
    return str(exe), str(core)


@pytest.fixture
def proc(rust):
    exe, core = rust
    with btengine.open(core, exe=exe) as p:
        yield p


def frame(p, prefix):
    """The crashed thread's first frame whose function is `prefix` or starts with it and `<`
    (hold_values<...>: a generic function's name carries its arguments)."""
    found = [f for f in p.crashed_thread.frames
             if f.function == prefix or (prefix.endswith("<") and (f.function or "").startswith(prefix))]
    assert found, f"no frame {prefix}* in {[f.function for f in p.crashed_thread.frames]}"
    return found[0]


@pytest.fixture
def hold(proc):
    """hold_values' locals by name (Values)."""
    f = frame(proc, "crash_rs::hold_values<")
    return {v.name: v.value for v in f.variables}


def ints(v):
    return [int(x) for x in v]


def test_strings(hold):
    text = hold["text"]
    assert isinstance(text.container, _containers.String)
    assert text.string().decode() == TEXT and len(text) == len(TEXT.encode())
    assert hold["empty_string"].string() == b"" and len(hold["empty_string"]) == 0
    assert hold["slice_str"].string() == TEXT.encode()[0:3]  # &text[0..3]: "h" and the é
    assert hold["os"].string() == b"os-string"
    assert hold["path"].string() == b"/var/log/app.log"
    assert isinstance(hold["tuple"]["__2"].container, _containers.String)  # a &str in a tuple
    assert hold["tuple"]["__2"].string() == b"tu"


def test_scalars(hold):
    """Rust's own scalars as Python objects: 128-bit integers whole, () as None, chars as code
    points."""
    assert hold["huge"].value == 2 ** 128 - 1 and int(hold["huge"]) == 2 ** 128 - 1
    assert hold["big"].value == -2 ** 127
    assert hold["unit"].value is None and hold["unit"].size == 0
    assert (hold["letter"].value, hold["greek"].value) == (0xE9, 0x3BB)
    assert hold["flag"].value is True and hold["ratio"].value == 0.25


def test_sequences(hold):
    numbers = hold["numbers"]
    assert ints(numbers) == [10, 20, 30, 40] and len(numbers) == 4
    assert int(numbers[-1]) == 40 and int(numbers[1]) == 20
    with pytest.raises(IndexError):
        numbers[4]
    assert [ints(v) for v in hold["nested"]] == [[1, 2], [], [3]]
    assert ints(hold["empty_vec"]) == [] and len(hold["empty_vec"]) == 0
    # &numbers[1..3]: the elements themselves, not copies.
    assert ints(hold["slice"]) == [20, 30]
    assert [e.address for e in hold["slice"]] == [numbers[1].address, numbers[2].address]
    # push_back(2), push_back(3), push_front(1) in a capacity of 4: the ring wraps around.
    deque = hold["deque"]
    assert ints(deque) == [1, 2, 3] and int(deque.field("head")) != 0
    assert ints(hold["refcell"].get()) == [4, 5]
    assert hold["numbers"].elements == list(numbers)


def test_maps_and_sets(hold):
    btree = hold["btree"]
    assert isinstance(btree.container, _containers.Mapping) and len(btree) == 20
    assert {int(k): v.string().decode() for k, v in btree.items()} == BTREE
    assert ints(btree.keys()) == sorted(BTREE)  # in key order, through the inner nodes
    assert btree[57].string() == b"odd" and btree[0].string() == b"even"
    assert 6 in btree.container and 7 not in btree.container and btree.container.get(7) is None
    with pytest.raises(KeyError):
        btree[1]
    assert ints(hold["btree_set"]) == [-1, 3, 5]
    assert ints(hold["hash_set"]) == [42] and len(hold["hash_set"]) == 1


def test_main_book(proc):
    main = frame(proc, "crash_rs::main")
    book = main["book"].value
    assert isinstance(book.container, _containers.Mapping) and len(book) == 1
    order = book[1]
    assert order.symbol.string() == b"ABC" and int(order.id) == 1 and float(order.price) == 9.5
    assert len(order.tags) == 1 and order.tags[0].string() == b"x"
    assert [int(k) for k in book.keys()] == [1]
    # The same map through hold_values' `engine: &Engine`.
    engine = frame(proc, "crash_rs::hold_values<")["engine"].value
    assert engine.book[1].symbol.string() == b"ABC" and engine.mode.string() == b"crash"
    assert int(engine.depth) == 3


def test_pointers(hold):
    boxed = hold["boxed"]
    assert isinstance(boxed.container, _containers.Pointer)
    assert int(boxed.get()) == 77 and int(boxed.deref()) == 77
    order = hold["boxed_order"]
    assert order.get().symbol.string() == b"BX" and order["symbol"].string() == b"BX"
    assert int(order.id) == 2 and len(order.tags) == 0
    for name in ("rc", "rc2"):  # Rc::new, Rc::clone, Rc::downgrade: 2 strong, 1 weak
        rc = hold[name].container
        assert (rc.strong, rc.weak) == (2, 1) and (rc.use_count, rc.weak_count) == (2, 1)
        assert ints(hold[name].get()) == [1, 2]
    assert hold["rc"].get().address == hold["rc2"].get().address
    arc = hold["arc"]
    assert (arc.container.strong, arc.container.weak) == (1, 0)
    assert arc.get().string() == b"shared"
    assert int(hold["cell"].get()) == 12
    refcell = hold["refcell"]
    assert ints(refcell.get()) == [4, 5] and refcell.container.borrow == 1  # `borrowed` holds it
    borrowed = hold["borrowed"]
    assert ints(borrowed.get()) == [4, 5] and borrowed.get().address == refcell.get().address


def test_options(hold):
    assert int(hold["some"].get()) == 5 and len(hold["some"]) == 1
    assert hold["none"].get() is None and len(hold["none"]) == 0
    with pytest.raises(btengine.MemoryError):
        hold["none"].deref()
    # Option<&i32>: the reference's null is None (a niche), Some(&numbers[0]) points at 10.
    some_ref = hold["some_ref"].get()
    assert some_ref.deref().address == hold["numbers"][0].address and int(some_ref.deref()) == 10
    assert hold["none_ref"].get() is None
    assert hold["some_bool"].get().value is False  # Some(false): the niche is in the bool
    assert hold["some_char"].get().value == ord("q")


def test_variants(hold):
    assert hold["ok"].variant.name == "Ok" and int(hold["ok"].variant.value["__0"]) == -3
    name, payload = hold["err"].variant
    assert name == "Err" and payload["__0"].string() == b"bad"
    assert hold["some"].variant.name == "Some" and hold["none"].variant.name == "None"
    assert hold["none_ref"].variant.name == "None" and hold["some_ref"].variant.name == "Some"
    name, rect = hold["shape_rect"].variant
    assert name == "Rect" and (int(rect.w), int(rect.h)) == (3, 4)
    name, named = hold["shape_named"].variant  # the dataful variant of a niche layout
    assert name == "Named" and named["__0"].string() == b"n" and int(named["__1"]) == 9
    assert hold["shape_circle"].variant.name == "Circle"
    assert float(hold["shape_circle"].variant.value["__0"]) == 1.5
    assert hold["shape_empty"].variant.name == "Empty" and hold["shape_empty"].variant.value.fields == {}
    assert isinstance(hold["shape_rect"].variant, btengine.Variant)
    # No enum, no variant.
    assert hold["numbers"].variant is None and hold["flag"].variant is None


# Corrupt data -----------------------------------------------------------------------------------

def patched(core: str, tmp_path: Path, patches):
    """A copy of the core with `patches` ({address: bytes}) written over the memory its PT_LOAD
    segments hold."""
    data = bytearray(Path(core).read_bytes())
    assert data[:4] == b"\x7fELF" and data[4] == 2, "a 64-bit ELF core"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segments = []
    for i in range(phnum):
        ptype, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype == 1:
            segments.append((vaddr, offset, filesz))
    for address, new in patches.items():
        seg = next((s for s in segments if s[0] <= address and address + len(new) <= s[0] + s[2]), None)
        assert seg is not None, f"{address:#x} is not in the core"
        at = seg[1] + address - seg[0]
        data[at:at + len(new)] = new
    out = tmp_path / "patched.core"
    out.write_bytes(bytes(data))
    return str(out)


def test_corrupt_values_raise_format_error(rust, tmp_path):
    exe, core = rust
    with btengine.open(core, exe=exe) as p:
        hold = {v.name: v.value for v in frame(p, "crash_rs::hold_values<").variables}
        btree = hold["btree"]
        root = btree.field("root").variant.value["__0"]
        assert int(root.height) == 1  # 20 keys: a root and leaves
        node = int(root.node.pointer)
        leaf = root.node.pointer.type_info.target
        edges = node + (leaf.size + 7) // 8 * 8
        patches = {
            edges + 8: node.to_bytes(8, "little"),  # the second child is the root again
            hold["hash_set"].address + hold["hash_set"].type_info.offsetof("base.map.table.table.items"):
                (2).to_bytes(8, "little"),  # two items, one full bucket
            hold["some"].address: (0x100).to_bytes(4, "little"),  # Option<u32>'s tag: neither 0 nor 1
            hold["numbers"].address + hold["numbers"].type_info.offsetof("len"):
                (1000).to_bytes(8, "little"),  # a length beyond the capacity (4)
        }
    with btengine.open(patched(core, tmp_path, patches), exe=exe) as p:
        hold = {v.name: v.value for v in frame(p, "crash_rs::hold_values<").variables}
        with pytest.raises(btengine.FormatError, match="reached twice"):
            list(hold["btree"].items())
        with pytest.raises(btengine.FormatError, match="1 full buckets for 2 items"):
            list(hold["hash_set"])
        with pytest.raises(btengine.FormatError, match="discriminant 0x100 names none"):
            hold["some"].variant
        with pytest.raises(btengine.FormatError, match="discriminant"):
            hold["some"].get()
        with pytest.raises(btengine.FormatError, match="beyond its capacity"):
            len(hold["numbers"])
        assert ints(hold["deque"]) == [1, 2, 3]  # the rest is read as before


@pytest.mark.parametrize("local", ["numbers", "slice", "text", "deque", "btree", "btree_set",
                                   "hash_set", "rc", "arc", "refcell", "some", "ok", "shape_named",
                                   "boxed"])
@pytest.mark.parametrize("garbage", ["repeated", "array", "huge", "tuple"])
def test_types_over_other_memory_are_bounded(proc, local, garbage):
    """A Rust type laid over other memory (what a corrupt value looks like): walking it ends,
    with elements or with FormatError (MemoryError included), never a hang or another error."""
    hold = {v.name: v.value for v in frame(proc, "crash_rs::hold_values<").variables}
    fake = proc.value(hold[local].type_info, hold[garbage].address)
    try:
        variant = fake.variant
        if variant is not None:
            list(variant.value.fields.values())
        c = fake.container
        if isinstance(c, _containers.Mapping):
            for _ in zip(range(1000), c.items()):
                pass
        elif isinstance(c, _containers.String):
            fake.string(max_length=1000)
        elif isinstance(c, _containers.Pointer):
            c.get()
        elif c is not None:
            for _ in zip(range(1000), iter(c)):
                pass
            len(c)
    except btengine.FormatError:
        pass


def test_repeated_bytes_are_no_slice(proc):
    """[7u8; 16] read as a &[i32] and a &str: 0x0707070707070707 elements is no length."""
    hold = {v.name: v.value for v in frame(proc, "crash_rs::hold_values<").variables}
    at = hold["repeated"].address
    for local in ("slice", "slice_str"):
        with pytest.raises(btengine.FormatError, match="implausible size"):
            proc.value(hold[local].type_info, at).container
    with pytest.raises(btengine.FormatError, match="discriminant 0x7070707 names none"):
        proc.value(hold["some"].type_info, at).variant


SIGNED_SOURCE = """
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub enum Signed { Neg(u8) = -3, Pos(u16) = 5, Big = 70000 }

#[inline(never)]
fn crash(v: &[Signed; 3]) {
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<usize>(), v.len()); }
}

fn main() {
    let vals = [Signed::Neg(9), Signed::Pos(300), Signed::Big];
    // Not std::hint::black_box (stable from Rust 1.66; Debian bookworm's rustc is 1.63).
    crash(unsafe { std::ptr::read_volatile(&&vals) });
}
"""


def test_signed_discriminants(tmp_path):
    """rustc writes DW_AT_discr_value in the smallest data form that holds it: an i32 tag of -3
    is DW_FORM_data1 0xfd, which must match the bytes fd ff ff ff (sign-extended, as the
    discriminant's type says), and 70000 a data4."""
    from pytest_util import rustc_missing, rustc_path
    import e2e_util as u
    rustc = rustc_path()
    if rustc is None:
        pytest.skip(rustc_missing())
    source = tmp_path / "signed.rs"
    source.write_text(SIGNED_SOURCE)
    # Explicit discriminants on variants with fields are stable from Rust 1.66 only: an older
    # rustc (Debian bookworm's 1.63) cannot build any enum with data and a chosen signed tag.
    probe = subprocess.run([rustc, "--emit=metadata", "--crate-type=lib", "-o", str(tmp_path / "probe.rmeta"),
                            str(source)], capture_output=True, text=True)
    if probe.returncode != 0 and "discriminants on non-unit variants are experimental" in probe.stderr:
        pytest.skip(f"{rustc} predates explicit discriminants on enums with fields (Rust 1.66): "
                    f"no such enum can be built")
    try:
        exe, core = u.build_and_crash([rustc, "-g", "-C", "opt-level=0"], source, tmp_path, "signed")
    except u.CoreUnavailable as e:
        pytest.skip(f"cannot produce a core file here: {e}")
    with btengine.open(str(core), exe=str(exe)) as p:
        vals = frame(p, "signed::main")["vals"].value
        got = [v.variant for v in vals]
        assert [g.name for g in got] == ["Neg", "Pos", "Big"]
        assert int(got[0].value["__0"]) == 9 and int(got[1].value["__0"]) == 300
        assert got[2].value.fields == {}
        assert vals[0].bytes[:4] == (-3).to_bytes(4, "little", signed=True)
