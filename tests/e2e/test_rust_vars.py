"""Rust programs, part 2 (issue 19): values as rust-gdb prints them.

tests/fixtures/rust/crash_rs.rs (built by test_rust.py's builder in every variant) keeps one
value of every type the toolchain's gdb printers know, and Rust's own shapes (structs, tuples,
tuple structs, enums with tag and niche layouts, arrays, slices, (), char, i128), alive in
`hold_values` and `main` while it crashes. For each variant, `bt --json --vars` on the core must
report, per thread and per frame, the same parameters and locals with the same text as rust-gdb
(gdb 13 with the toolchain's Python printers, `thread apply all bt full`, frame-arguments all),
compared by tests/oracle/varscmp.py as the C/C++ oracle does (test_vars_oracle.py):

- frames in the fixture's own source: exact at opt-level=0; at opt-level=1 only varscmp's
  categories for optimised code (bt-knows-more: gdb says <optimized out>, bt has the value);
- the standard library's frames (its generic code instantiated in the program, .rs files) the
  same way: at opt-level=0 the program's instances are not optimised either. The C library's
  frames are left to the C oracle (test_vars_oracle.py): rust-gdb's printers fail on C values.

A remaining difference is accepted only if KNOWN_DIFFERENCES explains it, and the test prints
which it relied on. The fixture's known values (what the source assigns) are checked on bt's
side too, so that agreeing with gdb cannot hide a value both got wrong.

The same comparison runs on a live process stopped where the crash would happen (mode pause,
`bt --vars PID` against `rust-gdb -p PID`). And rust-gdb connected to btserve serving a snapshot
of the core must print what it prints on the core itself: a snapshot keeps the heap bytes the
toolchain's printers read.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections import Counter

import pytest

import btjson
import e2e_util as u
import gdb_locations
import gdbvars
import varscmp
from test_oracle import _run_bt_json
from test_rust import RUST_GDB, SOURCE, VARIANTS, _skip_reason, rust_builds  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")

# gdb 13 prints a Python printer's exception where the value should be, then a newline, then
# the rest of the value (or the raw value when the printer failed before printing anything).
_PRINTER_ERROR = re.compile(r"Python Exception <class '[^']*'>: (.*)\n")
PRINTER_ERROR_MARK = "<gdb printer error: "


def rust_gdb_full_command(target_args, threads="all", limit="", setup=()):
    """`thread apply THREADS bt full [LIMIT]` (LIMIT: the innermost frames to print), after the
    `setup` commands (e.g. `target remote ...`)."""
    return [RUST_GDB] + u.gdb_base_command()[1:] + u.GDB_FULL_SETTINGS + [
        x for c in setup for x in ("-ex", c)] + [
        "-ex", f"thread apply {threads} bt full {limit}".rstrip(), "-x", str(u.GDB_FRAME_INFO)] + [
        str(a) for a in target_args]


def _gdb_died_there(d, died) -> bool:
    """The difference is a thread, or a frame of bt's, that gdb's output lacks because gdb died
    there (rust_gdb_full's `died`: the thread's frames from the first missing one on)."""
    m = re.match(r"thread (\d+)(?: bt #(\d+) )?", d.where or "")
    if not m or int(m.group(1)) not in died:
        return False
    first_missing = died[int(m.group(1))][1]
    if d.name is None and d.gdb == "(no such thread)":
        return first_missing == 0
    return (m.group(2) is not None and d.gdb == "(no matching gdb frame)"
            and int(m.group(2)) >= first_missing)


def _gdb_died(run) -> bool:
    return run.returncode != 0 and _GDB_INTERNAL_ERROR.search(run.stderr + run.stdout) is not None


def rust_gdb_full(target):
    """(gdb's run, its `thread apply all bt full` text, {tid: (why, first frame missing)} of the
    threads gdb died on), for `target`: gdb's arguments, [EXE, CORE] or ["-p", PID].

    When gdb dies of an internal error (see gdb-internal-error) its buffered output is lost,
    often all of it: gdb is then run once per thread (`thread apply N bt full`), and for a thread
    it dies on again, with `bt full K` for the most frames K it prints (found by bisection): the
    text has those, and the thread's frames from K on are missing, with gdb's reason."""
    run = u._run_env(rust_gdb_full_command(target), u.GDB_TIMEOUT, u.GDB_FULL_ENV)
    if not _gdb_died(run):
        return run, run.stdout, {}
    listing = u._run([u.GDB] + u.gdb_base_command()[1:] + ["-ex", "info threads", *map(str, target)], u.GDB_TIMEOUT)
    nums = {int(n): int(t) for n, t in re.findall(r"^\*?\s*(\d+)\s+Thread 0x[0-9a-f]+ \(LWP (\d+)\)",
                                                   listing.stdout, re.M)}
    if not nums:
        pytest.fail(f"gdb died and `info threads` listed no thread:\n{run.describe()}\n{listing.describe()}",
                    pytrace=False)
    first = run.stdout.find("\nThread ")
    text, died = run.stdout if first < 0 else run.stdout[:first], {}

    trailer = {}  # gdb_frame_info.py's lines: the frame kinds of each thread shown, the siginfo

    def thread_text(num, tid, limit=""):
        """The thread's part of gdb's output (None if gdb died), gdb_frame_info.py's lines set
        apart: that thread's frame kinds (cut to the frames `bt full LIMIT` printed) and the
        siginfo."""
        one = u._run_env(rust_gdb_full_command(target, threads=str(num), limit=limit),
                         u.GDB_TIMEOUT, u.GDB_FULL_ENV)
        at = one.stdout.find(f"\nThread {num} ")
        if _gdb_died(one) or at < 0:
            return None, one
        kept, extra = [], {}
        for line in one.stdout[at:].split("\n"):
            if line.startswith("BT-SIGINFO "):
                extra["siginfo"] = line
            elif line.startswith("BT-FRAME-KINDS "):
                _, t, _, kinds = line.split(" ", 3)
                if int(t) == tid:
                    kinds = kinds.split(",")[:int(limit)] if limit else kinds.split(",")
                    extra[tid] = f"BT-FRAME-KINDS {tid} {len(kinds)} {','.join(kinds)}"
            else:
                kept.append(line)
        trailer.update(extra)
        return "\n".join(kept), one

    for num, tid in sorted(nums.items(), reverse=True):  # as `thread apply all` orders them
        whole, one = thread_text(num, tid)
        if whole is not None:
            text += whole
            continue
        why = (_GDB_INTERNAL_ERROR.findall(one.stderr + one.stdout) or ["no output"])[0]
        frames = u._run([u.GDB] + u.gdb_base_command()[1:] + [
            "-ex", "set print frame-arguments none", "-ex", f"thread apply {num} bt", *map(str, target)], u.GDB_TIMEOUT)
        lo, hi, best = 0, len(re.findall(r"^#\d+ ", frames.stdout, re.M)), None
        while hi - lo > 1:  # `bt full lo` completes (lo > 0), `bt full hi` dies
            mid = (lo + hi) // 2
            got, _ = thread_text(num, tid, str(mid))
            if got is None:
                hi = mid
            else:
                lo, best = mid, got
        if best is not None:
            text += best
            thread_text(num, tid, str(lo))  # (the kinds line of exactly those frames)
        died[tid] = (why, lo)
    return run, text + "\n" + "\n".join(trailer.values()) + "\n", died



# gdb 13 interrupts a value with its own diagnostics when a pointer it tries to name (a trait
# object's vtable) lies in a compile unit's address range but in no symbol table (seen with
# Debian's rustc 1.63, whose standard library's vtables are so described): "warning: (Internal
# error: pc 0x... in read in CU, but not in symtab.)\n" and "warning: (Error: pc 0x... in
# address map, but not in symtab.)\n", each ending with a newline in the middle of the value.
# They are no part of the value: they are taken out before parsing (and counted in the report).
_GDB_SYMTAB_WARNING = re.compile(r"warning: \((?:Internal error: pc 0x[0-9a-f]+ in read in CU|"
                                 r"Error: pc 0x[0-9a-f]+ in address map), but not in symtab\.\)\n")


def strip_symtab_warnings(output: str):
    """(gdb's output without its symtab diagnostics, how many there were)."""
    return _GDB_SYMTAB_WARNING.subn("", output)


def mark_printer_errors(output: str) -> str:
    """Each printer exception becomes one inline marker, so that gdb's lines stay whole."""
    return _PRINTER_ERROR.sub(lambda m: f"{PRINTER_ERROR_MARK}{m.group(1)}>", output)


def _printer_error(d):
    # The toolchain's printer failed in gdb 13: StdRefProvider dereferences Ref's NonNull field
    # ("Attempt to take contents of a non-pointer value"), and StdSliceProvider/StdStrProvider
    # read an optimized-out slice. gdb then prints the raw value (or a part); bt prints the
    # value without printer (Ref has none) or says <optimized out>.
    if PRINTER_ERROR_MARK not in (d.gdb or ""):
        return False
    raw = re.sub(re.escape(PRINTER_ERROR_MARK) + r"[^>]*>", "", d.gdb).strip()
    bt = d.bt or ""
    return (bt == raw or bt == gdbvars.OPTIMIZED_OUT or bool(raw and bt.startswith(raw))
            or gdbvars.OPTIMIZED_OUT in bt)


_LIST_FIELD = re.compile(r"(Flavor<[^>]*>::List\(std::sync::mpmc::counter::(?:Sender|Receiver)<"
                         r"std::sync::mpmc::)array(::Channel<)")


def _gdb_variant_field_type(d):
    # gdb 13 names the field of SenderFlavor<T>::List / ReceiverFlavor<T>::List with the type of
    # the Array variant's field (counter::Sender<array::Channel<T>>); the DWARF gives the List
    # variant's __0 the type counter::Sender<list::Channel<T>>, which bt prints.
    fixed = _LIST_FIELD.sub(r"\1list\2", d.gdb or "")
    return fixed != d.gdb and _same_but_known(fixed, d)


# rustc < 1.67's std::sync::mpsc::Flavor<T>: Oneshot(Arc<oneshot::Packet<T>>), Stream(Arc<
# stream::Packet<T>>), Shared(Arc<shared::Packet<T>>), Sync(Arc<sync::Packet<T>>).
_FLAVOR_ARC = re.compile(r"std::sync::mpsc::Flavor<(?:[^<>]|<[^<>]*>)*>::(Oneshot|Stream|Shared|Sync)\("
                         r"Arc\(strong=\d+, weak=\d+\) = \{value = std::sync::mpsc::(\w+)::Packet<")


def _close_of(text: str, i: int) -> int:
    """The index of the bracket closing text[i] (one of "({["), strings skipped; -1 if none."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _cut_flavor_payloads(text: str, gdb_side: bool):
    """(text with the Arc payload of every Stream/Shared/Sync Flavor replaced by "<payload>",
    how many) when each payload has the type gdb 13 (gdb_side: the Oneshot variant's
    oneshot::Packet) or the DWARF (the variant's own module's Packet) gives it; None else."""
    out, pos, cuts = [], 0, 0
    for m in _FLAVOR_ARC.finditer(text):
        if m.start() < pos or m.group(1) == "Oneshot":
            continue
        if m.group(2) != ("oneshot" if gdb_side else m.group(1).lower()):
            return None
        brace = text.index("{value = ", m.start())
        close = _close_of(text, brace)
        tail = re.search(r", strong = \d+, weak = \d+$", text[brace:close]) if close > 0 else None
        if tail is None:
            return None
        out += [text[pos:brace], "{value = <payload>", tail.group(0)]
        pos, cuts = close, cuts + 1
    return "".join(out + [text[pos:]]), cuts


def _gdb_flavor_payload_type(d):
    # gdb 13 prints the payload of std::sync::mpsc::Flavor<T>'s Stream/Shared/Sync variant (rustc
    # < 1.67, Debian's 1.63) with the Oneshot variant's field type (oneshot::Packet<T>), so it
    # reads the Arc's value as another struct; the DWARF gives each variant's __0 its own type
    # (shared::Packet<T> ...), which bt prints. Everything but those payloads must agree.
    g, b = _cut_flavor_payloads(d.gdb or "", True), _cut_flavor_payloads(d.bt or "", False)
    if g is None or b is None or not g[1] or g[1] != b[1]:
        return False
    if g[0] == b[0]:
        return True
    return d.optimized and _same_but_known(g[0], types.SimpleNamespace(bt=b[0], optimized=d.optimized))


def _gdb_past_last_piece(d):
    # rustc describes a moved closure (32 bytes) by register pieces covering only its first 16:
    # DWARF leaves the rest without a location and bt prints those members <optimized out>;
    # gdb 13 prints something there anyway (an enum's Array variant whose pointer is
    # "<synthetic pointer>"). Optimised frames only.
    return d.optimized and "<synthetic pointer>" in (d.gdb or "") and _same_but_known(d.gdb or "", d)


def _same_but_known(gdb: str, d) -> bool:
    bt = d.bt or ""
    if gdb == bt or (d.optimized and _gdb_empty_piece_text(gdb, bt)):
        return True
    # Several of these in one value (std's thread-spawn closures at opt-level=1): every place
    # where the texts differ must be one of them -- bt's <optimized out> (empty piece) or gdb's
    # <synthetic pointer> (bt's 0x0 or ()).
    if not d.optimized:
        return False
    tok = re.compile(r"(<optimized out>|<synthetic pointer>|[{}()\[\],:=]|\s+)")
    a = [t for t in tok.split(gdb) if t]
    b = [t for t in tok.split(bt) if t]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if gdbvars.OPTIMIZED_OUT in b[j1:j2] or "<synthetic pointer>" in a[i1:i2]:
            continue
        if op == "delete" and gdbvars.OPTIMIZED_OUT in b:  # the rest of a member bt left out
            continue
        return False
    return True


def _gdb_empty_piece_text(gdb: str, bt: str) -> bool:
    """bt's text is gdb's with some members' values replaced by <optimized out>."""
    if gdbvars.OPTIMIZED_OUT not in bt or bt == gdbvars.OPTIMIZED_OUT:
        return False
    pattern = "(.+?)".join(re.escape(part) for part in bt.split(gdbvars.OPTIMIZED_OUT))
    return re.fullmatch(pattern, gdb, re.S) is not None


def _gdb_empty_piece(d):
    # rustc's optimised code describes a moved closure by pieces, some without a location
    # ("an empty 16-byte piece" in gdb's own `info address`): DWARF says those bytes are
    # unavailable, and bt prints the members inside them <optimized out>, where gdb 13 prints a
    # value anyway. Only in optimised frames.
    return d.optimized and _same_but_known(_LIST_FIELD.sub(r"\1list\2", d.gdb or ""), d)


def _gdb_read_error(d):
    # gdb 13 fails to read the value ("<error reading variable x (Cannot access memory at
    # address 0x0)>": resolving a Rust enum's variant through an optimized-out or moved value);
    # bt has no value either and says <optimized out>. Optimised frames only.
    return (d.optimized and (d.bt or "") == gdbvars.OPTIMIZED_OUT
            and (d.gdb or "").startswith("<error reading variable"))


# gdb's own report of a failed internal check (it then asks to quit and dies; its buffered
# output, the assertion's text with it, may be lost: "Recursive internal problem." on stderr).
_GDB_INTERNAL_ERROR = re.compile(r"^(?:.*: internal-error: .*|Recursive internal problem\.)$", re.M)

KNOWN_DIFFERENCES = {
    "gdb-past-last-piece": (
        "a value whose DWARF pieces end before the object does: bt prints the members past them "
        "<optimized out>, gdb 13 prints a made-up value there (with a <synthetic pointer>)",
        _gdb_past_last_piece,
    ),
    "gdb-read-error": (
        "neither has the value in optimised code: gdb 13 reports an error reading it (an enum's "
        "variant resolved through unavailable memory), bt says <optimized out>",
        _gdb_read_error,
    ),
    "gdb-variant-field-type": (
        "gdb 13 prints the List variant's field of std's SenderFlavor/ReceiverFlavor with the "
        "Array variant's field type (array::Channel); the DWARF says list::Channel, as bt prints",
        _gdb_variant_field_type,
    ),
    "gdb-flavor-payload-type": (
        "gdb 13 prints the Arc inside std::sync::mpsc::Flavor<T>'s Stream/Shared/Sync variant "
        "(rustc < 1.67) as the Oneshot variant's oneshot::Packet<T>; the DWARF gives each "
        "variant's field its own type (shared::Packet<T>, ...), as bt prints (all the rest agrees)",
        _gdb_flavor_payload_type,
    ),
    "gdb-empty-piece": (
        "a value described by DWARF pieces, some without a location: bt prints the members in "
        "those bytes <optimized out>, gdb 13 prints a value for them (optimised frames only)",
        _gdb_empty_piece,
    ),
    "gdb-internal-error": (
        "gdb 13 failed an internal assertion while printing an optimised value and died (with "
        "Debian's rustc 1.63: gdbtypes.h `idx >= 0 && idx < num_fields ()' on an Option<char>, "
        "dwarf2/expr.c indirect_pieced_value on a pieced closure): run once per thread, gdb dies "
        "again on that thread, which is missing from its output; bt's values there are still "
        "checked against the fixture's source below",
        lambda d: False,  # decided with gdb's stderr, in the test
    ),
    "gdb-clobbered-register": (
        "gdb reads a call-clobbered register in a caller frame (shown by its `info address`), "
        "bt says <optimized out> (varscmp's category, here at opt-level=0 as well)",
        lambda d: False,  # decided by the category above
    ),
    "gdb-printer-error": (
        "a toolchain printer raised a Python exception in gdb 13 (core::cell::Ref, and slices or "
        "&str whose fields are optimized out); gdb prints the raw value, which bt matches, or a "
        "part of it, where bt says <optimized out>",
        _printer_error,
    ),
}

# What the fixture's source assigns (bt must print these, whatever gdb says). Frame: the
# function name as gdb and bt print it; values exactly as rust-gdb prints them.
HOLD = "crash_rs::hold_values<crash_rs::main::{closure_env#1}>"
KNOWN_VALUES = {
    (HOLD, "text"): '"héllo \\"w\\"\\n"',
    (HOLD, "empty_string"): '""',
    (HOLD, "slice_str"): '"hé"',
    (HOLD, "numbers"): "Vec(size=4) = {10, 20, 30, 40}",
    (HOLD, "empty_vec"): "Vec(size=0)",
    (HOLD, "nested"): "Vec(size=3) = {Vec(size=2) = {1, 2}, Vec(size=0), Vec(size=1) = {3}}",
    (HOLD, "slice"): "&[i32](size=2) = {20, 30}",
    (HOLD, "array"): "[1, -2, 3, -4, 5]",
    (HOLD, "repeated"): "[7 <repeats 16 times>]",
    (HOLD, "tuple"): '(7, 120 \'x\', "tu")',
    (HOLD, "flag"): "true",
    (HOLD, "letter"): "233 '\\xe9'",
    (HOLD, "greek"): "955 '\\u{0003bb}'",
    (HOLD, "big"): "-170141183460469231731687303715884105728",
    (HOLD, "huge"): "340282366920938463463374607431768211455",
    (HOLD, "ratio"): "0.25",
    (HOLD, "some"): "core::option::Option<u32>::Some(5)",
    (HOLD, "none"): "core::option::Option<u32>::None",
    (HOLD, "none_ref"): "core::option::Option<&i32>::None",
    (HOLD, "some_bool"): "core::option::Option<bool>::Some(false)",
    (HOLD, "some_char"): "core::option::Option<char>::Some(113 'q')",
    (HOLD, "ok"): "core::result::Result<i32, alloc::string::String>::Ok(-3)",
    (HOLD, "err"): 'core::result::Result<i32, alloc::string::String>::Err("bad")',
    (HOLD, "shape_empty"): "crash_rs::Shape::Empty",
    (HOLD, "shape_circle"): "crash_rs::Shape::Circle(1.5)",
    (HOLD, "shape_rect"): "crash_rs::Shape::Rect{w: 3, h: 4}",
    (HOLD, "shape_named"): 'crash_rs::Shape::Named("n", 9)',
    (HOLD, "rc"): "Rc(strong=2, weak=1) = {value = Vec(size=2) = {1, 2}, strong = 2, weak = 1}",
    (HOLD, "arc"): 'Arc(strong=1, weak=0) = {value = "shared", strong = 1, weak = 0}',
    (HOLD, "cell"): "Cell = {value = 12}",
    (HOLD, "refcell"): "RefCell(borrow=1) = {value = Vec(size=2) = {4, 5}, borrow = 1}",
    (HOLD, "deque"): "VecDeque(size=3) = {1, 2, 3}",
    (HOLD, "btree"): "BTreeMap(size=20) = {" + ", ".join(
        f"[{i * 3}] = \"{'even' if i % 2 == 0 else 'odd'}\"" for i in range(20)) + "}",
    (HOLD, "btree_set"): "BTreeSet(size=3) = {-1, 3, 5}",
    (HOLD, "hash_set"): "HashSet(size=1) = {42}",
    (HOLD, "path"): 'std::path::PathBuf {inner: "/var/log/app.log"}',
    (HOLD, "os"): '"os-string"',
    # By the type's DWARF name: NonZero<u32> (Rust 1.79+) has a printer that shows the number;
    # before, NonZeroU32 is a plain tuple struct (Debian's rustc 1.63: no printer for it).
    (HOLD, "nonzero"): {"core::num::nonzero::NonZero<u32>": "17",
                        "core::num::nonzero::NonZeroU32": "core::num::nonzero::NonZeroU32 (17)"},
    (HOLD, "atomic"): "core::sync::atomic::AtomicUsize {v: core::cell::UnsafeCell<usize> {value: 3}}",
    (HOLD, "closure"): re.compile(r"crash_rs::hold_values::\{closure_env#0\}<crash_rs::main::\{closure_env#[01]\}> "
                                  r"\{closure_capture: 3\}"),
    ("crash_rs::main", "book"): 'HashMap(size=1) = {[1] = crash_rs::Order {id: 1, price: 9.5, symbol: "ABC", '
                                'tags: Vec(size=1) = {"x"}}}',
    ("crash_rs::main", "mode"): '"crash"',
    ("crash_rs::main", "modes"): '["pause", "crash", "oob", "unwrap", "panic", "recursion", "thread-panic", '
                                 '"double-panic"]',
    ("crash_rs::main", "run"): re.compile(r"crash_rs::main::\{closure_env#[01]\}"),
}


def _bt_values(doc, types=None, tid=None):
    """{(function, variable name): value} of bt's crashing thread, or of thread `tid` (and their
    types into `types` when given)."""
    thread = next(t for t in doc["threads"] if (t["tid"] == tid if tid else t.get("crashed")))
    out = {}
    for f in thread["frames"]:
        for v in f.get("variables") or []:
            # main's closure is {closure_env#1} under panic=unwind (the hook is #0), else #0.
            fn = HOLD if (f.get("function") or "").startswith("crash_rs::hold_values<") else f.get("function")
            out.setdefault((fn, v["name"]), v.get("value"))
            if types is not None:
                types.setdefault((fn, v["name"]), v.get("type"))
    return out


def _compare_with_rust_gdb(bt_bin, variant, gdb_target, bt_target, main_tid=None, known=KNOWN_VALUES):
    """bt --json --vars on bt_target against rust-gdb's `bt full` on gdb_target (a core with its
    executable, or -p PID), and bt's values of the main thread against what the source assigns."""
    gdb_run, gdb_text, gdb_died = rust_gdb_full(gdb_target)
    gdb_text, symtab_warnings = strip_symtab_warnings(gdb_text)
    full = gdbvars.parse_full(mark_printer_errors(gdb_text))
    if not full.bt.threads:
        pytest.fail(f"rust-gdb printed no threads:\n{gdb_run.describe()}", pytrace=False)
    bt_run, doc = _run_bt_json(bt_bin, ["--json", "--vars", "--past-main"] + bt_target)
    opt = int(variant[1])
    cmp = varscmp.compare(full, doc, str(SOURCE.parent), opt, "crash_rs")
    # gdb's own `info address` for the values it has and bt calls <optimized out> (plain gdb:
    # locations need no printers): a call-clobbered register in a caller frame is
    # gdb-clobbered-register, at any opt-level (rustc's opt-level=0 code keeps a captured
    # variable in rsi/rdi around a call too).
    gdb_locations.query_locations(cmp, gdb_target)

    causes, failures = Counter(), []
    for d in cmp.diffs:
        # Rust code only (the program's and the standard library's, .rs files): the C library's
        # frames are the C oracle's (test_vars_oracle.py), and gdb's Rust printers fail on them.
        if d.accepted or (d.name is not None and not re.search(r"\.rs:\d+", d.where)):
            continue
        if d.category is varscmp.GDB_CLOBBERED_REGISTER:
            causes["gdb-clobbered-register"] += 1
            continue
        if _gdb_died_there(d, gdb_died):
            causes["gdb-internal-error"] += 1
            continue
        cause = next((c for c, (_, pred) in KNOWN_DIFFERENCES.items() if pred(d)), None)
        if cause:
            causes[cause] += 1
        else:
            failures.append(d)
    # The fixture's own values, on bt's side (gdb agreeing is not enough).
    types = {}
    values = _bt_values(doc, types, main_tid)
    wrong = []
    for (function, name), want in known.items():
        got = values.get((function, name))
        if got is None and opt > 0:
            continue  # optimized away at opt-level=1 (gdb agrees, or the diff above says so)
        if isinstance(want, dict):  # the text depends on the standard library's type
            if types.get((function, name)) not in want:
                wrong.append(f"{function}: {name} has the type {types.get((function, name))!r}, "
                             f"expected one of {sorted(want)}")
                continue
            want = want[types[(function, name)]]
        ok = want.fullmatch(got or "") is not None if isinstance(want, re.Pattern) else got == want
        if not ok and not (opt > 0 and gdbvars.OPTIMIZED_OUT in (got or "")):
            wrong.append(f"{function}: {name} = {got!r}, the source assigns {want!r}")
    report = [f"{variant}: {cmp.compared_frames} frames, {cmp.compared_vars} gdb variables compared; "
              f"accepted for optimised code: {len(cmp.accepted())}"]
    report += [f"  known difference relied on: {c} x{n}: {KNOWN_DIFFERENCES[c][0]}" for c, n in causes.items()]
    for tid, (why, kept) in sorted(gdb_died.items()):
        report.append(f"  gdb died printing thread {tid} alone too ({why}): its first {kept} frames compared")
    if symtab_warnings:
        report.append(f"  gdb's 'not in symtab' warnings taken out of its values: {symtab_warnings}")
    if failures and os.environ.get("BT_RUST_VARS_DUMP"):
        for d in failures:
            g = _LIST_FIELD.sub(r"\1list\2", d.gdb or "")
            k = next((i for i, (x, y) in enumerate(zip(g, d.bt or "")) if x != y), None)
            print("DIFF", d.name, k, repr(g[k - 80:k + 120] if k else g[:200]), "\n   ", repr((d.bt or "")[k - 80:k + 120] if k else ""))
    if failures or wrong:
        shown = [d.show() for d in failures[:30]]
        pytest.fail("\n".join(
            [f"{variant}: bt and rust-gdb disagree on {len(failures)} item(s)"] + shown
            + (["bt's values differ from the fixture's source:"] + wrong if wrong else []) + report
            + ["", "$ " + " ".join(map(str, bt_run.cmd)), "$ " + " ".join(map(str, gdb_run.cmd))]),
            pytrace=False)
    print("\n".join(report))
    # Every known value was compared at opt-level=0 (the fixture really holds them all).
    if opt == 0:
        assert all((f, n) in values for f, n in known), sorted(k for k in known if k not in values)


@pytest.mark.parametrize("variant", [v for v, _ in VARIANTS])
def test_rust_core_vars_match_rust_gdb(bt_bin, rust_builds, variant):  # noqa: F811
    core, exe = rust_builds.core(variant, "crash"), rust_builds.exe(variant)
    _compare_with_rust_gdb(bt_bin, variant, [exe, core], [str(core), "--exe", str(exe)])


# A live process, stopped where the crash would happen (mode pause): the same values, read from
# the running program, except main's `mode`, which holds what it was started with.
LIVE_VARIANTS = ["O0-fpoff-unwind", "O1-fpon-abort"]


@pytest.mark.parametrize("variant", LIVE_VARIANTS)
def test_rust_live_vars_match_rust_gdb(bt_bin, rust_builds, paused_process, variant):  # noqa: F811
    p = paused_process(rust_builds.exe(variant))
    u.wait_all_sleeping(p.pid)
    known = dict(KNOWN_VALUES)
    known[("crash_rs::main", "mode")] = '"pause"'
    _compare_with_rust_gdb(bt_bin, variant, ["-p", p.pid], [str(p.pid)], main_tid=int(p.pid), known=known)


def test_rust_snapshot_keeps_rust_values(bt_bin, rust_builds, tmp_path):  # noqa: F811
    """A snapshot carries the Rust forms: `bt show` prints them without the binary."""
    variant = "O0-fpoff-unwind"
    core, exe = rust_builds.core(variant, "crash"), rust_builds.exe(variant)
    snap = tmp_path / "rust.btsnap"
    made = u._run([bt_bin, "snapshot", core, "--exe", exe, "-o", snap], 120)
    assert made.returncode == 0, made.describe()
    hidden = tmp_path / "moved"
    exe.rename(hidden)
    try:
        run = u._run([bt_bin, "show", "--json", "--vars", snap], 120)
    finally:
        hidden.rename(exe)
    assert run.returncode == 0, run.describe()
    doc = btjson.load(run.stdout)
    values = _bt_values(doc)
    for key in [(HOLD, "shape_rect"), (HOLD, "btree_set"), (HOLD, "rc"), ("crash_rs::main", "book")]:
        assert values.get(key) == KNOWN_VALUES[key], (key, values.get(key))


BTSERVE = u.build_dir() / "bin" / "btserve"
_NO_MEMORY = re.compile(r"Cannot access memory at address 0x[0-9a-f]+")


def test_rust_gdb_through_btserve_sees_the_core_values(bt_bin, rust_builds, tmp_path):  # noqa: F811
    """rust-gdb (toolchain printers) on a Rust snapshot served by btserve prints the values it
    prints on the core: every argument and local of every Rust frame of every thread. The
    program's frames in the crashed thread must agree exactly; elsewhere a value may differ only
    where gdb says it cannot access memory the snapshot deliberately did not keep."""
    variant = "O0-fpoff-unwind"
    core, exe = rust_builds.core(variant, "crash"), rust_builds.exe(variant)
    snap = tmp_path / "rust.btsnap"
    made = u._run([bt_bin, "snapshot", core, "--exe", exe, "-o", snap], 120)
    assert made.returncode == 0, made.describe()
    on_core = u._run_env(rust_gdb_full_command([exe, core]), u.GDB_TIMEOUT, u.GDB_FULL_ENV)
    remote = rust_gdb_full_command([exe], setup=["set sysroot /", f"target remote | {BTSERVE} {snap}"])
    on_snap = u._run_env(remote, u.GDB_TIMEOUT, u.GDB_FULL_ENV)
    want = gdbvars.parse_full(mark_printer_errors(strip_symtab_warnings(on_core.stdout)[0]))
    got = gdbvars.parse_full(mark_printer_errors(strip_symtab_warnings(on_snap.stdout)[0]))

    def rust_values(full):
        out = {}
        for t in full.bt.threads:
            for f in t.frames:
                if not re.search(r"\.rs$", f.file or ""):
                    continue
                fv = full.frame_vars(t, f)
                for v in fv.params + fv.locals:
                    out[(t.tid, f.index, f.function, v.name)] = v.value
        return out

    a, b = rust_values(want), rust_values(got)
    assert len(a) > 100, f"too few Rust values on the core:\n{on_core.describe()}"
    crashed_program = {k for k in a if k[2] and k[2].startswith("crash_rs::")
                       and any(f.function == "crash_rs::main" for t in want.bt.threads
                               if t.tid == k[0] for f in t.frames)}
    problems, unkept = [], 0
    for key in sorted(set(a) | set(b), key=str):
        if a.get(key) == b.get(key):
            continue
        if key not in crashed_program and _NO_MEMORY.search(b.get(key) or ""):
            unkept += 1
            continue
        problems.append(f"{key}:\n    core:     {a.get(key)}\n    snapshot: {b.get(key)}")
    assert not problems, (f"{len(problems)} value(s) differ between rust-gdb on the core and on "
                          f"btserve {snap.name}:\n" + "\n".join(problems[:20])
                          + f"\n$ {' '.join(map(str, on_snap.cmd))}")
    print(f"{len(a)} Rust values compared, {len(crashed_program)} of the program's in the crashed "
          f"thread; {unkept} not kept by the snapshot (gdb: cannot access memory)")
