"""Comparing the variables of `bt --json --vars` with gdb's `bt full`.

Frames are aligned with framecmp's rules (function, file basename, line,
inline/tail-call kind, the N1-N7 normalisations and gdb quirks), as a longest
common subsequence so that one missing frame does not shift all the others.
On every aligned frame pair:

- scope: gdb printing `No symbol table info available.` means the function has
  no DWARF scope; bt must then leave out `variables`, and include it otherwise;
- parameters (gdb: the frame line) and locals (gdb: the lines below it) are
  compared separately: the same names (a name may repeat: shadowing in nested
  blocks), each value string identical, and for parameters the entry value
  (`x@entry=`) identical to bt's `entry_value`.  Parameters must be in the
  same order.

Normalisation: locals are compared per frame as a multiset of (name, value)
pairs, not as a list.  gdb keeps the symbols of a function's outermost block
in a linear dictionary (declaration order) but those of nested lexical blocks
(and of inlined functions' blocks) in a hashed dictionary, so that their
order is gdb's hash order (e.g. `sc_cancel_oldtype, __arg6, __arg3, _a5,
...`), which bt cannot and should not reproduce.  Duplicates count (shadowed
`sc_ret` three times must be there three times): equal (name, value) pairs
are paired first, the remaining occurrences of a name are then paired in
order and reported as value differences.

A difference is a failure unless it falls in one of the CATEGORIES below
*and* the frame was compiled with optimisation (the fixture at -O2, or a frame
in a system library such as libc, which is always optimised).  At -O0 every
difference fails, categories included: they are listed with their category so
that the cause is visible.

Two categories say that gdb is wrong, and need proof:
- gdb-wrong-value: KNOWN_VALUES below holds values fixed by the fixtures'
  sources; gdb prints something else and bt prints the known value;
- gdb-clobbered-register: gdb's own `info address` (queried for the
  candidates in a second gdb run, see location_queries / apply_locations)
  shows that at this pc the variable lives only in a call-clobbered
  register, in a caller frame, where the register's value is not recoverable
  (the x86-64 psABI does not preserve it across the call and the CFI says
  nothing about it; gdb nevertheless shows the callee's current value); bt
  prints `<optimized out>`.

Known differences that are not accepted categories are pinned one by one in a
baseline (tests/e2e/data/vars-known-differences.json, written by
`vars_report.py --write-baseline`): each entry names a binary, core|live,
own|lib, a frame (gdb's function name plus ` [inline]` / ` [tailcall]`), a
variable and the kind of difference, never a value or an address, and gives
its cause, one of BASELINE_CAUSES below.  A pinned difference passes and is
reported with its cause; a baseline entry whose cause is `unclassified` fails
until a human classifies it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import framecmp
import gdbvars

# ---------------------------------------------------------------------------
# Categories of accepted differences (at -O2 / in optimised library frames).


@dataclass(frozen=True)
class Category:
    name: str
    description: str

    def __str__(self):
        return f"{self.name}: {self.description}"


BT_KNOWS_MORE = Category(
    "bt-knows-more",
    "gdb prints <optimized out> where bt prints a value (gdb does not find a location "
    "that bt finds), or gdb prints no entry value (`x@entry=`) where bt has one; when "
    "KNOWN_VALUES has the variable bt's value must be the known one, otherwise it is "
    "recorded unchecked",
)
GDB_PRETTY_PRINTER = Category(
    "gdb-pretty-printer",
    "gdb renders a libstdc++ type (std::string, std::vector, std::unique_ptr, "
    "std::shared_ptr, std::map, ...) with libstdc++'s Python pretty printers and bt's "
    "rendering differs",
)
GDB_NO_PRINTERS = Category(
    "gdb-no-printers",
    "gdb prints the raw libstdc++ structure (`{_M_dataplus = ...`) because its "
    "pretty printers are auto-loaded only with libstdc++.so (not for a static "
    "executable); bt prints the printers' summary",
)
ENTRY_VALUE = Category(
    "entry-value",
    "gdb prints the parameter's value at function entry (`x=x@entry=V`, "
    "`x=<optimized out>, x@entry=V`, from DW_OP_entry_value and the caller's "
    "DW_TAG_call_site) and bt's entry_value is null (for `x=x@entry=V` bt's value "
    "may then be <optimized out>: gdb's value came from the entry value)",
)
GDB_WRONG_VALUE = Category(
    "gdb-wrong-value",
    "gdb's value contradicts the fixture's source (KNOWN_VALUES) and bt prints the "
    "known value",
)
GDB_CLOBBERED_REGISTER = Category(
    "gdb-clobbered-register",
    "in a caller frame gdb reads a variable whose only location at that pc is a "
    "call-clobbered register (rax, rcx, rdx, rsi, rdi, r8-r11, xmm*): the value is "
    "the callee's, not the variable's (gdb's `info address` shows the location); "
    "bt prints <optimized out>",
)
CATEGORIES = [BT_KNOWS_MORE, GDB_PRETTY_PRINTER, GDB_NO_PRINTERS, ENTRY_VALUE, GDB_WRONG_VALUE,
              GDB_CLOBBERED_REGISTER]


# ---------------------------------------------------------------------------
# Causes of the known differences pinned in the baseline
# (tests/e2e/data/vars-known-differences.json).  Unlike CATEGORIES these are
# not accepted by rule: every difference must match an entry of the baseline
# (binary, mode, scope, frame, variable, kind), and the entry's cause is
# assigned by vars_report.baseline_cause() when the baseline is written (and
# checked again when a difference is matched).


@dataclass(frozen=True)
class Cause:
    name: str
    description: str
    bt_bug: bool = False  # a bt defect to fix (not a limitation or a gdb extra)
    # Depends on memory contents that change from run to run: baseline entries
    # for every binary of the program and both modes (see BASELINE_KEY_FIELDS).
    volatile: bool = False

    def __str__(self):
        return f"{self.name}: {self.description}"


BASELINE_CAUSES = [
    Cause("abstract-locals",
          "in an optimised library frame (libc) gdb lists a local as `<optimized out>` that "
          "bt does not list at all: a variable of the abstract instance (DW_AT_abstract_origin "
          "of an inlined or out-of-line copy) or of a nested lexical block that the concrete "
          "instance does not mention; gdb's inherit_abstract_dies and its block rules add it, "
          "bt does not"),
    Cause("gdb-label-as-local",
          "gdb lists a C label (DW_TAG_label, e.g. `out:` in glibc's start_thread, `done:` in "
          "__pthread_cond_wait_common) as a local `<optimized out>`: a label without "
          "DW_AT_low_pc, or one inherited from the abstract instance of an inlined function, "
          "becomes a LOC_OPTIMIZED_OUT symbol of type __CORE_ADDR that `bt full` prints like a "
          "variable; bt does not list labels.  Proven per difference by gdb's own symbol (its "
          "type is __CORE_ADDR, second gdb run)"),
    Cause("signal-frame-no-locals",
          "`<signal handler called>`: gdb prints `No locals.` (it treats the trampoline as a "
          "frame with an empty scope), bt has no `variables` for the signal frame"),
    Cause("signal-frame-no-symtab",
          "`<signal handler called>` in a static executable: the trampoline (__restore_rt) "
          "is in libc code without DWARF, so gdb prints `No symbol table info available.`, "
          "while bt gives every signal frame an empty `variables` list (gdb's `No locals.` "
          "where the trampoline's compilation unit has DWARF, as in libc.so with its debug "
          "file); bt should leave `variables` out when no DWARF covers the trampoline",
          bt_bug=True),
    Cause("inline-entry-value",
          "bt prints `<optimized out>` in an inlined frame where gdb has a value: the "
          "variable's location at that pc is (an expression over) DW_OP_entry_value of the "
          "containing function (gdb's `info address`, second gdb run), which gdb resolves "
          "through the containing function's caller's DW_TAG_call_site, possibly through a "
          "tail-call site"),
    Cause("tailcall-entry-value",
          "bt prints `<optimized out>` in a non-inlined frame whose caller (in gdb's "
          "backtrace) is a synthesised tail-call frame, where gdb has a value: the location "
          "at that pc is an expression over DW_OP_entry_value (gdb's `info address`), which "
          "gdb resolves through the call site of the tail-call chain; bt does not look "
          "through tail-call frames for entry values (e.g. clockbit in "
          "__futex_abstimed_wait_common, called through "
          "__futex_abstimed_wait_cancelable64)"),
    Cause("utf8-strings",
          "a string or char array with bytes >= 0x80 that are valid UTF-8: gdb (run with "
          "LC_ALL=C.UTF-8) prints them as characters, bt as octal escapes"),
    Cause("utf8-invalid-lead-byte",
          "bt bug: in a string, a byte 0xf5-0xff followed by two continuation bytes (0x80-0xbf) "
          "is taken for the lead byte of a 3-byte UTF-8 sequence (value_printer.cpp "
          "utf8Printable: `b >= 0xe0 ? 3` without `b < 0xf0`), printed raw, and then replaced "
          "by U+FFFD when bt writes its JSON; gdb prints such bytes as octal escapes "
          "(`\\373\\275\\222`).  Depends on the bytes in memory (pointer bytes under "
          "ASLR in libc_crash_c's qsort buffers), so these entries come and go from run to run",
          bt_bug=True, volatile=True),
    Cause("utf8-incomplete-sequence",
          "gdb fault: a string that ends (at its NUL) in the lead byte(s) of a UTF-8 sequence "
          "ends with `<incomplete sequence \\320>` in both, but gdb loses the character just "
          "before it (charset.c: the iconv call that converted it returns EINVAL for the cut "
          "sequence and its output is dropped), so \"=\\360\" is `<incomplete sequence \\360>` "
          "in gdb and `\"=\", <incomplete sequence \\360>` in bt (tests/e2e/test_utf8_strings.py "
          "shows it on a fixed string).  Depends on the bytes in memory (pointer bytes under "
          "ASLR in libc_crash_c's qsort buffers)",
          volatile=True),
    Cause("utf8-unprintable-char",
          "a valid UTF-8 sequence of a code point that is not printable (unassigned, e.g. "
          "U+05FB, or a format/control character): gdb (glibc's iswprint in C.UTF-8) prints "
          "the bytes as octal escapes, bt prints the character (it takes every code point >= "
          "U+00A0 as printable).  Depends on the bytes in memory (pointer bytes under ASLR in "
          "libc_crash_c's qsort buffers)",
          volatile=True),
    Cause("parameter-ref",
          "the location uses DW_OP_GNU_parameter_ref (0xfa, gcc -O2 for a parameter of a "
          "clone whose value comes from the caller's DW_TAG_call_site_parameter with "
          "DW_AT_call_parameter): gdb prints `<optimized out>` (it cannot resolve it there "
          "either), bt prints `<error: unsupported DWARF operation 0xfa>`"),
    Cause("other-optimized-out",
          "bt prints `<optimized out>` in a non-inlined optimised frame where gdb prints a "
          "value, and none of the causes above explains it (read the example and gdb's "
          "location in the report)"),
    Cause("abstract-block-duplicate",
          "bt bug: bt lists a local of an inlined function's lexical block that gdb does not "
          "list, or lists it twice (the concrete value and an extra `<optimized out>` copy): "
          "clang emits the concrete lexical block of the inlined instance without "
          "DW_AT_abstract_origin, and bt inherits the abstract block's variable as if the "
          "concrete instance did not have it (gdb's inherit_abstract_dies looks into such "
          "blocks); e.g. fixture_null in deep_c.clang-O0's inl_c_inner",
          bt_bug=True),
]
UNCLASSIFIED = "unclassified"
BASELINE_CAUSE_NAMES = {c.name for c in BASELINE_CAUSES}
VOLATILE_CAUSES = {c.name for c in BASELINE_CAUSES if c.volatile}

# libstdc++ types gdb has printers for (gcc 12's libstdcxx/v6/printers.py, the
# ones fixtures can meet), matched anywhere in bt's type name.
_PRINTED_STD_TYPES = re.compile(
    r"\bstd::(?:__cxx11::|__debug::|__cxx1998::)?(?:basic_string|string|wstring|u8string|"
    r"u16string|u32string|vector|unique_ptr|shared_ptr|weak_ptr|map|multimap|set|multiset|"
    r"unordered_map|unordered_set|unordered_multimap|unordered_multiset|list|forward_list|"
    r"deque|stack|queue|priority_queue|tuple|optional|variant|bitset|any|atomic|"
    r"basic_string_view|string_view|chrono::duration|chrono::time_point|coroutine_handle|"
    r"span|initializer_list|locale|error_code|error_category)\b"
)
# What those printers print (when bt's type does not say, e.g. a member of a struct).
_PRINTER_OUTPUT = re.compile(
    r"std::[\w:]+(?:<.*?>)? (?:of length \d|with \d+ elements?|containing|\(use count)"
    r"|std::(?:__cxx11::)?(?:unique_ptr|shared_ptr|weak_ptr)<.*?> = \{get\(\) = "
)
# The raw structures of those types (gdb without printers).
_RAW_LIBSTDCXX = re.compile(r"\b_M_(?:dataplus|impl|t|ptr|refcount|start|finish|head_impl)\b")


def _printer_category(gvalue: Optional[str], bvalue: Optional[str], bt_type: Optional[str]):
    typed = bool(bt_type and _PRINTED_STD_TYPES.search(bt_type))
    g_printed = bool(gvalue and _PRINTER_OUTPUT.search(gvalue))
    b_summary = bool(bvalue and (_PRINTER_OUTPUT.search(bvalue) or bvalue[:1] in "\"'"))
    if b_summary and gvalue and gvalue.startswith("{") and _RAW_LIBSTDCXX.search(gvalue) and not (
        _RAW_LIBSTDCXX.search(bvalue)
    ):
        return GDB_NO_PRINTERS
    if typed or g_printed:
        return GDB_PRETTY_PRINTER
    return None


# ---------------------------------------------------------------------------
# Values fixed by the fixtures' sources (the proof for gdb-wrong-value and the
# check of bt-knows-more).  Key: (program, normalised function, variable);
# value: the exact string gdb prints when right, a Re(...) to match, or
# SameAs(function, variable): the value gdb prints for that variable in the
# nearest outer frame of that function in the same thread (a pointer passed on
# unchanged).


@dataclass(frozen=True)
class Re:
    pattern: str


@dataclass(frozen=True)
class SameAs:
    function: str
    name: str


_PTR = r"0x[0-9a-f]+"
KNOWN_VALUES = {
    # deep_c: main(argc=2) -> level_a(depth=1) -> level_b(2) -> inl_b_helper(3) -> level_c(4)
    #         -> inl_c_outer(5) -> inl_c_inner(6); r is &level_b's r, passed unchanged.
    ("deep_c", "level_a", "depth"): "1",
    ("deep_c", "level_b", "depth"): "2",
    ("deep_c", "inl_b_helper", "depth"): "3",
    ("deep_c", "level_c", "k"): "4",
    ("deep_c", "inl_c_outer", "k"): "5",
    ("deep_c", "inl_c_inner", "k"): "6",
    ("deep_c", "inl_c_outer", "r"): SameAs("level_c", "r"),
    ("deep_c", "inl_c_inner", "r"): SameAs("level_c", "r"),
    ("recursion_c", "recursion_bottom", "depth"): "200",
    ("recursion_c", "recurse", "limit"): "200",
    ("recursion_c", "start_recursion", "limit"): "200",
    ("sighandler_c", "handler_crash", "sig"): "10",
    ("sighandler_c", "handler_work", "sig"): "10",
    ("sighandler_c", "on_sigusr1", "sig"): "10",
    ("sighandler_c", "outer_work", "n"): "1",
    ("sighandler_c", "raise_from_here", "n"): "2",
    ("libc_crash_c", "sort_records", "count"): "4",
    ("templates_cpp", "tmpl::crash_site", "value"): "6",
    ("templates_cpp", "tmpl::Accumulator::add", "v"): "3",
    ("templates_cpp", "tmpl::apply_twice", "x"): "3",
    # vars_c: the arguments of the calls in vars_c.c
    ("vars_c", "vc_inner", "sc"): "-7 '\\371'",
    ("vars_c", "vc_inner", "uc"): "250 '\\372'",
    ("vars_c", "vc_inner", "s"): "-300",
    ("vars_c", "vc_inner", "us"): "60000",
    ("vars_c", "vc_inner", "i"): "-123456",
    ("vars_c", "vc_inner", "u"): "3000000000",
    ("vars_c", "vc_inner", "l"): "-1",
    ("vars_c", "vc_inner", "ul"): "9223372036854775808",
    ("vars_c", "vc_inner", "ll"): "-2",
    ("vars_c", "vc_inner", "ull"): "18446744073709551615",
    ("vars_c", "vc_inner", "b"): "true",
    ("vars_c", "vc_inner", "f"): "1.5",
    ("vars_c", "vc_inner", "d"): "3.25",
    ("vars_c", "vc_inner", "ld"): "2.5",
    ("vars_c", "vc_middle", "rp"): Re(_PTR + " <g_rect>"),
    ("vars_c", "vc_middle", "nullp"): "0x0",
    ("vars_c", "vc_middle", "gp"): Re(_PTR + " <g_counter>"),
    ("vars_c", "vc_middle", "lit"): Re(_PTR + r' "a \\"literal\\""'),
    ("vars_c", "vc_middle", "arr"): Re(_PTR + ' "abc"'),
    ("vars_c", "vc_middle", "fn"): Re(_PTR + " <vc_callback>"),
    ("vars_c", "vc_middle", "pt"): "{x = -10, y = 20}",
    ("vars_c", "vc_middle", "un"): '{i = 1094861636, f = 12.1414223, bytes = "DCBA"}',
    ("vars_c", "vc_middle", "bf"): "{a = 0, b = 7, c = 15, d = 1}",
    ("vars_c", "vc_outer", "c"): "GREEN",
    ("vars_c", "vc_outer", "flags"): "(P_READ | P_WRITE)",
    ("vars_c", "vc_outer", "unknown_bit"): "(P_EXEC | unknown: 0x40)",
    ("vars_c", "vc_outer", "bad"): "3",
    ("vars_c", "vc_outer", "t"): "77",
    ("vars_c", "vc_outer", "ci"): "-9",
    ("vars_c", "vc_outer", "vi"): "11",
    # vars_cpp
    ("vars_cpp", "vp::inspect", "lref"): Re(r"@" + _PTR + ": 12"),
    ("vars_cpp", "vp::inspect", "rref"): Re(r"@" + _PTR + ": 14"),
    ("vars_cpp", "vp::inspect", "mode"): "vp::Mode::Done",
    ("vars_cpp", "vp::inspect", "copy"): "26",
    ("vars_cpp", "vp::Square::run::{lambda}::operator()", "k"): "2",
    ("vars_cpp", "operator()", "k"): "2",
    ("vars_cpp", "vp::Square::run", "scale"): "2",
}
_MAIN_ARGC = "2"  # every fixture runs with one argument


def known_value(program: str, function: Optional[str], name: str):
    fn = framecmp.normalize_function(function) if function else None
    if fn == "main" and name == "argc":
        return _MAIN_ARGC
    return KNOWN_VALUES.get((program, fn, name))


def _matches(known, value: Optional[str], resolve) -> Optional[bool]:
    """True/False, or None when the known value cannot be resolved."""
    if value is None:
        return False
    if isinstance(known, str):
        return value == known
    if isinstance(known, Re):
        return re.fullmatch(known.pattern, value) is not None
    if isinstance(known, SameAs):
        target = resolve(known)
        return None if target is None else value == target
    return None


# ---------------------------------------------------------------------------
# Differences


def _clip(s: Optional[str], n: int) -> Optional[str]:
    if s is None or len(s) <= n:
        return s
    return s[:n] + f"... ({len(s)} chars)"


@dataclass
class Diff:
    """One difference on one variable (or one frame)."""

    what: str  # "value", "entry-value", "missing-in-bt", "extra-in-bt", "scope", "order",
    #            "frame-unaligned", "thread-missing"
    where: str  # "thread T #i func file:line [kind]" text
    name: Optional[str] = None  # variable (None for frame-level differences)
    kind: Optional[str] = None  # "param" | "local"
    gdb: Optional[str] = None
    bt: Optional[str] = None
    bt_type: Optional[str] = None
    category: Optional[Category] = None  # the category it falls in (accepted or not)
    accepted: bool = False
    scope: str = "own"  # "own" (the fixture's source) or "lib"
    optimized: bool = False  # the frame's code is optimised (-O2 rules)
    note: str = ""  # why (known value, gdb's location, ...)
    # where in gdb's output (for the location queries)
    gdb_thread: Optional[int] = None
    gdb_frame: Optional[int] = None
    gdb_function: Optional[str] = None
    caller_frame: bool = False  # gdb looks the frame's pc - 1 up (registers not all valid)
    bt_optimized_out: bool = False
    # Stable frame identity (baseline key): gdb's function name plus " [inline]" /
    # " [tailcall]"; "<signal handler called>"; bt's function for bt-only frames.
    frame: str = ""
    caller_kind: Optional[str] = None  # gdb's kind of the next outer frame
    gdb_location: Optional[str] = None  # gdb's `info address` at the pc (second run)
    gdb_symbols: Optional[str] = None  # gdb's symbols of that name in the frame (second run)
    pinned: Optional[str] = None  # the baseline cause that pins this difference
    baseline_problem: Optional[str] = None  # matched a baseline entry that cannot pin it

    def show(self, clip: int = 300) -> str:
        mark = "~~" if self.accepted else "--" if self.pinned else "!!"
        cat = f" [{self.category.name}{'' if self.accepted else ', not accepted at -O0'}]" if self.category else ""
        if self.pinned and not self.accepted:
            cat += f" [pinned: {self.pinned}]"
        notes = [n for n in (self.note, self.baseline_problem) if n]
        if self.gdb_location and self.gdb_location not in (self.note or ""):
            notes.append("gdb's location: " + " ".join(self.gdb_location.split()))
        if self.gdb_symbols:
            notes.append("gdb's symbols: " + self.gdb_symbols)
        note = "".join(f"\n      ({n})" for n in notes)
        if self.name is None:
            return f"{mark} {self.where}: {self.what}: gdb {self.gdb}; bt {self.bt}{cat}{note}"
        t = f" ({self.bt_type})" if self.bt_type else ""
        out = (
            f"{mark} {self.where}: {self.kind} {self.name}{t}: {self.what}{cat}\n"
            f"      gdb: {_clip(self.gdb, clip)}\n"
            f"      bt : {_clip(self.bt, clip)}"
        )
        g, b = self.gdb or "", self.bt or ""
        if len(g) > clip or len(b) > clip:
            k = next((i for i, (x, y) in enumerate(zip(g, b)) if x != y), min(len(g), len(b)))
            out += (f"\n      first difference at char {k}: gdb {g[max(0, k - 20):k + 40]!r}"
                    f" / bt {b[max(0, k - 20):k + 40]!r}")
        return out + note

    def decide(self):
        self.accepted = self.category is not None and self.optimized


@dataclass
class Comparison:
    diffs: List[Diff] = field(default_factory=list)
    compared_frames: int = 0
    compared_vars: int = 0

    def failures(self, scope: Optional[str] = None) -> List[Diff]:
        return [d for d in self.diffs if not d.accepted and not d.pinned and (scope is None or d.scope == scope)]

    def pinned(self, scope: Optional[str] = None) -> List[Diff]:
        return [d for d in self.diffs if not d.accepted and d.pinned and (scope is None or d.scope == scope)]

    def accepted(self, scope: Optional[str] = None) -> List[Diff]:
        return [d for d in self.diffs if d.accepted and (scope is None or d.scope == scope)]


# ---------------------------------------------------------------------------
# Frame classification


def frame_scope(file: Optional[str], source_dir: str) -> str:
    """"own" for frames in the fixture's own sources (tests/fixtures/src),
    else "lib" (libc, libstdc++, headers instantiated in the fixture, _start)."""
    if file and os.path.isabs(file):
        if os.path.dirname(os.path.realpath(file)) == os.path.realpath(source_dir):
            return "own"
    return "lib"


def frame_optimized(file: Optional[str], source_dir: str, fixture_opt: int) -> bool:
    """Was the frame's code compiled with optimisation?  The fixture's own
    sources and the headers it instantiates (/usr/include) at the fixture's
    level; everything else (libc, libstdc++.so, ...) is a distribution build,
    always optimised."""
    if file and os.path.isabs(file):
        rp = os.path.realpath(file)
        if os.path.dirname(rp) == os.path.realpath(source_dir) or rp.startswith("/usr/include/"):
            return fixture_opt > 0
    return True


def caller_frames(kinds: List[Optional[str]]) -> List[bool]:
    """Per frame: is it a caller frame, whose pc is a return address (gdb looks
    pc - 1 up, and call-clobbered registers are not recoverable)?  Frame 0 and
    the frame a signal interrupted are not, nor the inlined frames that share
    their pc."""
    out = []
    exact = True
    for k in kinds:
        out.append(not exact)
        if k == "sigtramp":
            exact = True
        elif k != "inline":
            exact = False
    return out


# ---------------------------------------------------------------------------
# Alignment


def align(gdb_frames: List[framecmp.Frame], bt_frames: List[framecmp.Frame], alias_check=None):
    """Longest common subsequence of agreeing frames: [(gi or None, bj or None)]
    innermost first."""
    n, m = len(gdb_frames), len(bt_frames)
    agree = [[framecmp.frames_agree(g, b, alias_check)[0] for b in bt_frames] for g in gdb_frames]
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if agree[i][j]:
                dp[i][j] = dp[i + 1][j + 1] + 1
            else:
                dp[i][j] = max(dp[i + 1][j], dp[i][j + 1])
    out = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and agree[i][j] and dp[i][j] == dp[i + 1][j + 1] + 1:
            out.append((i, j))
            i += 1
            j += 1
        elif j < m and (i == n or dp[i][j + 1] >= dp[i + 1][j]):
            out.append((None, j))
            j += 1
        else:
            out.append((i, None))
            i += 1
    return out


# ---------------------------------------------------------------------------
# Variables


def _classify_value(gv: gdbvars.GdbVar, bv: dict, known, resolve) -> Tuple[Optional[Category], str]:
    bval = bv.get("value")
    b_opt = bool(bv.get("optimized_out"))
    if known is not None:
        b_ok = _matches(known, bval, resolve)
        g_ok = _matches(known, gv.value, resolve)
        shown = known if isinstance(known, str) else getattr(known, "pattern", None) or \
            f"{known.name} of {known.function}: {resolve(known)}"
        if b_ok and gv.optimized_out:
            return BT_KNOWS_MORE, f"checked: the fixture's value is {shown}"
        if b_ok and g_ok is False:
            return GDB_WRONG_VALUE, f"the fixture's value is {shown}"
        if b_ok is False and not b_opt:
            return None, f"bt's value contradicts the fixture's value {shown}"
    if gv.optimized_out and not b_opt and not bv.get("error"):
        return BT_KNOWS_MORE, "unchecked: no known value for this variable"
    if gv.entry_form == "equal" and b_opt and bv.get("entry_value") is None:
        return ENTRY_VALUE, ""
    cat = _printer_category(gv.value, bval, bv.get("type"))
    if cat:
        return cat, ""
    return None, ""


def _pair_as_multiset(gvars: List[gdbvars.GdbVar], bvars: List[dict]) -> List[Optional[dict]]:
    """For each gdb variable, its bt partner (or None): equal (name, value)
    pairs first, then the remaining occurrences of each name in order."""
    partner: List[Optional[dict]] = [None] * len(gvars)
    free = list(range(len(bvars)))
    for i, gv in enumerate(gvars):
        for j in free:
            if bvars[j].get("name") == gv.name and bvars[j].get("value") == gv.value:
                partner[i] = bvars[j]
                free.remove(j)
                break
    for i, gv in enumerate(gvars):
        if partner[i] is None:
            for j in free:
                if bvars[j].get("name") == gv.name:
                    partner[i] = bvars[j]
                    free.remove(j)
                    break
    return partner


def compare_vars(kind: str, gvars: List[gdbvars.GdbVar], bvars: List[dict], where: str,
                 mk, program: str, function: Optional[str], resolve, ordered: bool = True) -> List[Diff]:
    """Compare one frame's parameters (or locals).  mk(**kw) builds a Diff with
    the frame's scope, optimisation and position filled in.  ordered: the
    order of the names must agree (parameters); otherwise the variables are a
    multiset of (name, value) pairs (locals, see the module docstring)."""
    diffs = []
    gnames = [v.name for v in gvars]
    bnames = [v.get("name") for v in bvars]
    # Pair occurrences of the same name in order (shadowed locals repeat), or as a multiset.
    bt_by_name: Dict[str, list] = {}
    for v in bvars:
        bt_by_name.setdefault(v.get("name"), []).append(v)
    partners = None if ordered else _pair_as_multiset(gvars, bvars)
    used: Dict[str, int] = {}
    for gi, gv in enumerate(gvars):
        k = used.get(gv.name, 0)
        cands = bt_by_name.get(gv.name, [])
        bv = (cands[k] if k < len(cands) else None) if partners is None else partners[gi]
        if bv is None:
            diffs.append(mk(what="missing-in-bt", where=where, name=gv.name, kind=kind,
                            gdb=gv.show(), bt="(absent)"))
            continue
        used[gv.name] = k + 1
        bval = bv.get("value")
        value_cat = None
        if gv.value != bval:
            known = known_value(program, function, gv.name)
            value_cat, note = _classify_value(gv, bv, known, resolve)
            diffs.append(mk(what="value", where=where, name=gv.name, kind=kind, gdb=gv.value,
                            bt=bval, bt_type=bv.get("type"), category=value_cat, note=note,
                            bt_optimized_out=bool(bv.get("optimized_out"))))
        if kind != "param":
            continue
        has_field = "entry_value" in bv
        bent = bv.get("entry_value")
        if gv.entry_value == bent:
            continue
        if not has_field and gv.entry_value is None:
            continue
        if gv.entry_value is not None and bent is None:
            cat, note = ENTRY_VALUE, ("" if has_field else "bt has no entry_value field")
        elif gv.entry_value is None:
            # gdb found no entry value, bt did.
            known = known_value(program, function, gv.name)
            ok = _matches(known, bent, resolve) if known is not None else None
            if ok is False:
                cat, note = None, f"bt's entry value contradicts the fixture's value {known}"
            else:
                cat = BT_KNOWS_MORE
                note = ("checked: the fixture's value" if ok else
                        "unchecked: gdb shows no entry value, bt does; no known value")
        else:
            cat, note = None, ""
        diffs.append(mk(what="entry-value", where=where, name=gv.name, kind=kind,
                        gdb=f"{gv.name}@entry={gv.entry_value}" if gv.entry_value is not None
                        else "(no entry value)",
                        bt=f"entry_value={bent!r}" if has_field else "(no entry_value field)",
                        bt_type=bv.get("type"), category=cat, note=note))
    seen: Dict[str, int] = {}
    paired = None if partners is None else {id(v) for v in partners if v is not None}
    for bv in bvars:
        name = bv.get("name")
        seen[name] = seen.get(name, 0) + 1
        extra = seen[name] > used.get(name, 0) if paired is None else id(bv) not in paired
        if extra:
            diffs.append(mk(what="extra-in-bt", where=where, name=name, kind=kind,
                            gdb="(absent)", bt=bv.get("value"), bt_type=bv.get("type")))
    # Order, when the names agree as multisets.
    if ordered and sorted(gnames) == sorted(n or "" for n in bnames) and gnames != bnames:
        diffs.append(mk(what="order", where=where, kind=kind, gdb=", ".join(gnames),
                        bt=", ".join(n or "" for n in bnames)))
    return diffs


SIGNAL_FRAME_ID = "<signal handler called>"


def gdb_frame_id(gf) -> str:
    """The frame's identity in the baseline: stable from run to run (no pc,
    no frame number, no tid)."""
    if gf.signal_frame:
        return SIGNAL_FRAME_ID
    kind = f" [{gf.kind}]" if gf.kind in ("inline", "tailcall") else ""
    return f"{gf.function or '??'}{kind}"


def bt_frame_id(bf: dict) -> str:
    """gdb_frame_id for a frame only bt has (same spelling of the markers)."""
    fr = framecmp.frame_from_bt(bf)
    if fr.function == framecmp.SIGNAL_FRAME:
        return SIGNAL_FRAME_ID
    kind = " [inline]" if bf.get("inlined") else " [tailcall]" if bf.get("how") == "tailcall" else ""
    return f"{bf.get('function') or '??'}{kind}"


def compare_thread(gdb_thread, gdb_full: gdbvars.GdbFullBacktrace, bt_thread: dict,
                   source_dir: str, fixture_opt: int, program: str = "",
                   alias_check=None) -> Comparison:
    res = Comparison()
    gframes = [framecmp.frame_from_gdb(f) for f in gdb_thread.frames]
    bframes = [framecmp.frame_from_bt(f) for f in bt_thread["frames"]]
    callers = caller_frames([f.kind for f in gdb_thread.frames])
    tid = bt_thread["tid"]

    def where_of(gf, idx):
        loc = f" {os.path.basename(gf.file)}:{gf.line}" if gf.file else ""
        fn = "<signal handler called>" if gf.signal_frame else (gf.function or "??")
        kind = f" [{gf.kind}]" if gf.kind and gf.kind != "normal" else ""
        return f"thread {tid} #{idx} {fn}{loc}{kind}"

    def resolver(from_index):
        def resolve(same: SameAs):
            for f in gdb_thread.frames[from_index + 1:]:
                if f.function and framecmp.normalize_function(f.function) == same.function:
                    for v in gdb_full.frame_vars(gdb_thread, f).params + gdb_full.frame_vars(gdb_thread, f).locals:
                        if v.name == same.name and not v.optimized_out:
                            return v.value
                    return None
            return None
        return resolve

    for gi, bj in align(gframes, bframes, alias_check):
        if gi is None:
            bf = bt_thread["frames"][bj]
            scope = frame_scope(bf.get("file"), source_dir)
            res.diffs.append(Diff("frame-unaligned", f"thread {tid} bt #{bj} {bframes[bj].show()}",
                                  gdb="(no matching gdb frame)", bt=bframes[bj].show(), scope=scope,
                                  optimized=frame_optimized(bf.get("file"), source_dir, fixture_opt),
                                  frame=bt_frame_id(bf)))
            continue
        gf = gdb_thread.frames[gi]
        scope = frame_scope(gf.file, source_dir)
        optimized = frame_optimized(gf.file, source_dir, fixture_opt)
        where = where_of(gf, gi)
        if bj is None:
            res.diffs.append(Diff("frame-unaligned", where, gdb=gframes[gi].show(),
                                  bt="(no matching bt frame: see test_oracle.py)", scope=scope,
                                  optimized=optimized, frame=gdb_frame_id(gf)))
            continue
        res.compared_frames += 1
        gfv = gdb_full.frame_vars(gdb_thread, gf)
        bf = bt_thread["frames"][bj]

        def mk(_gi=gi, _gf=gf, _scope=scope, _opt=optimized, **kw):
            outer = gdb_thread.frames[_gi + 1] if _gi + 1 < len(gdb_thread.frames) else None
            d = Diff(scope=_scope, optimized=_opt, gdb_thread=gdb_thread.num, gdb_frame=_gi,
                     gdb_function=_gf.function, caller_frame=callers[_gi], frame=gdb_frame_id(_gf),
                     caller_kind=outer.kind if outer is not None else None, **kw)
            d.decide()
            return d

        bvars = bf.get("variables")
        if not gfv.has_scope:
            if bvars is not None:
                res.diffs.append(mk(what="scope", where=where,
                                    gdb="No symbol table info available.",
                                    bt=f"variables: {len(bvars)} entries"))
            continue
        if bvars is None:
            res.diffs.append(mk(what="scope", where=where,
                                gdb=f"a DWARF scope: {len(gfv.params)} params, {len(gfv.locals)} locals"
                                + (" (No locals.)" if gfv.no_locals else ""),
                                bt="no `variables` (no DWARF scope)"))
            continue
        bparams = [v for v in bvars if v.get("kind") == "param"]
        blocals = [v for v in bvars if v.get("kind") == "local"]
        for v in bvars:
            if v.get("kind") not in ("param", "local"):
                res.diffs.append(mk(what="extra-in-bt", where=where, name=v.get("name"), kind=v.get("kind"),
                                    gdb="(absent)", bt=f"kind={v.get('kind')!r} value={v.get('value')!r}"))
        res.compared_vars += len(gfv.params) + len(gfv.locals)
        resolve = resolver(gi)
        res.diffs += compare_vars("param", gfv.params, bparams, where, mk, program, gf.function, resolve)
        res.diffs += compare_vars("local", gfv.locals, blocals, where, mk, program, gf.function, resolve,
                                  ordered=False)
    return res


def compare(gdb_full: gdbvars.GdbFullBacktrace, doc: dict, source_dir: str, fixture_opt: int,
            program: str = "", alias_check=None) -> Comparison:
    """Every thread gdb shows, matched by tid."""
    res = Comparison()
    bt_threads = {t["tid"]: t for t in doc["threads"]}
    for gt in gdb_full.bt.threads:
        bt = bt_threads.get(gt.tid)
        if bt is None:
            res.diffs.append(Diff("thread-missing", f"thread {gt.tid}", gdb=f"{len(gt.frames)} frames",
                                  bt="(no such thread)"))
            continue
        r = compare_thread(gt, gdb_full, bt, source_dir, fixture_opt, program, alias_check)
        res.diffs += r.diffs
        res.compared_frames += r.compared_frames
        res.compared_vars += r.compared_vars
    for tid in bt_threads:
        if tid not in {t.tid for t in gdb_full.bt.threads}:
            res.diffs.append(Diff("thread-missing", f"thread {tid}", gdb="(no such thread)",
                                  bt="a thread gdb does not show"))
    return res


# ---------------------------------------------------------------------------
# gdb-clobbered-register: where gdb reads a variable from (second gdb run)

CALL_CLOBBERED = re.compile(r"^(?:[re]?ax|[re]?cx|[re]?dx|[re]?si|[re]?di|r(?:8|9|10|11)[dwb]?|"
                            r"[xyz]mm\d+|st\d|k\d)$")
_RANGE_RE = re.compile(r"Range (0x[0-9a-f]+)-(0x[0-9a-f]+): (.*)")
_REG_RE = re.compile(r"\$(\w+)")


def location_candidates(cmp: Comparison) -> List[Diff]:
    """Value differences where gdb shows a value (or a read error) and bt says
    <optimized out>, not in a category: gdb-clobbered-register may explain
    them (in a caller frame), and gdb's location at the pc is kept in
    Diff.gdb_location for the report and the baseline causes (e.g.
    DW_OP_entry_value in inline-entry-value)."""
    return [d for d in cmp.diffs
            if d.what == "value" and d.category is None and d.bt_optimized_out
            and d.gdb != gdbvars.OPTIMIZED_OUT and d.gdb_thread is not None]


def symbol_candidates(cmp: Comparison) -> List[Diff]:
    """Locals gdb shows as <optimized out> and bt does not list: gdb's symbols
    of that name in the frame's blocks (Diff.gdb_symbols) tell a C label
    (gdb-label-as-local) from a variable."""
    return [d for d in cmp.diffs
            if d.what == "missing-in-bt" and d.category is None and d.kind == "local"
            and d.gdb_thread is not None and (d.gdb or "").endswith("=" + gdbvars.OPTIMIZED_OUT)]


# Defines bt_syms(NAME) in gdb: prints `BT-SYM <addr_class> <type>` for every
# symbol NAME of the selected frame's blocks, innermost first, up to the
# function's block.
GDB_SYMBOLS_PY = (
    'python exec("def bt_syms(name):\\n'
    ' b = gdb.selected_frame().block()\\n'
    ' while b is not None:\\n'
    '  for s in b:\\n'
    '   if s.name == name: print(\\"BT-SYM\\", s.addr_class, s.type)\\n'
    '  if b.function is not None: break\\n'
    '  b = b.superblock")'
)
GDB_LABEL_TYPE = "__CORE_ADDR"  # gdb's type of a DW_TAG_label symbol


def apply_symbols(cmp: Comparison, answers: Dict[tuple, List[str]]):
    """answers: location_query_key -> the `BT-SYM ...` lines of gdb's bt_syms."""
    for d in symbol_candidates(cmp):
        got = answers.get(location_query_key(d))
        if got is not None:
            d.gdb_symbols = "; ".join(got) if got else "(no such symbol in the frame's blocks)"


def location_query_key(d: Diff):
    """Diffs at the same place share one query (200 recursion levels, one pc)."""
    return (d.gdb_thread, d.gdb_function, d.where.split(" ", 3)[-1], d.name)


def location_at(info_address: str, addr: int) -> Optional[str]:
    """From the text of gdb's `info address NAME`, the location description
    that applies at addr (None: no location there)."""
    text = info_address.strip()
    if "is multi-location:" not in text:
        m = re.search(r'^Symbol "[^"]*" is (.*)', text, re.S)
        return m.group(1).rstrip(".").strip() if m else None
    entries = []
    for line in text.splitlines():
        m = _RANGE_RE.search(line)
        if m:
            entries.append([int(m.group(1), 16), int(m.group(2), 16), m.group(3)])
        elif entries and line.strip() not in ("", "."):
            entries[-1][2] += "\n" + line.strip()
    for lo, hi, desc in entries:
        if lo <= addr < hi:
            return desc
    return None


def only_call_clobbered(desc: Optional[str]) -> bool:
    """The location reads registers and all of them are call-clobbered (and it
    is not an entry value or a memory location relative to the frame)."""
    if not desc or "DW_OP_entry_value" in desc or "frame base" in desc or "DW_OP_fbreg" in desc:
        return False
    regs = _REG_RE.findall(desc)
    return bool(regs) and all(CALL_CLOBBERED.match(r) for r in regs)


def apply_locations(cmp: Comparison, answers: Dict[tuple, Tuple[Optional[int], str]]):
    """answers: location_query_key -> (gdb's $pc in that frame, `info address` text)."""
    for d in location_candidates(cmp):
        got = answers.get(location_query_key(d))
        if not got or got[0] is None:
            continue
        pc, text = got
        addr = pc - 1 if d.caller_frame else pc
        desc = location_at(text, addr)
        d.gdb_location = " ".join(desc.split()) if desc else "(no location at this pc)"
        if d.caller_frame and only_call_clobbered(desc):
            d.category = GDB_CLOBBERED_REGISTER
            d.note = f"gdb's location at {addr:#x}: {' '.join(desc.split())}"
            d.decide()


# ---------------------------------------------------------------------------
# The baseline of known differences (tests/e2e/data/vars-known-differences.json)

BASELINE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "e2e", "data",
                             "vars-known-differences.json")
# The key of an entry: nothing that changes from run to run (no value, address,
# tid, pc or frame number).  A key may have several entries with different
# causes (a variable whose garbage content shows one rendering difference in
# one run, another in the next).  Entries of a VOLATILE cause are written for
# every binary of the fixture program and both modes: binary `<program>.*`,
# mode `*` (their differences depend on memory contents, e.g. pointer bytes
# under ASLR, so no set of runs shows them all per binary).
BASELINE_KEY_FIELDS = ("binary", "mode", "scope", "function", "variable", "kind")
BASELINE_FIELDS = BASELINE_KEY_FIELDS + ("cause", "note")
ANY_MODE = "*"


def baseline_path() -> str:
    return os.environ.get("BT_VARS_BASELINE") or BASELINE_PATH


def program_pattern(program: str) -> str:
    return f"{program}.*"


def diff_key(d: Diff, binary: str, mode: str) -> tuple:
    """The baseline key of a difference of (binary, mode)."""
    return (binary, mode, d.scope, d.frame, d.name or "", d.what)


def record_key(r: dict) -> tuple:
    """The baseline key of a record of the JSON report (or of an entry)."""
    if "function" in r:  # a baseline entry
        return tuple(r[k] for k in BASELINE_KEY_FIELDS)
    return (r["binary"], r["mode"], r["scope"], r.get("frame") or "", r.get("name") or "", r["what"])


def volatile_key(key: tuple, program: str) -> tuple:
    """The key of a volatile-cause entry for a difference's key."""
    return (program_pattern(program), ANY_MODE) + tuple(key[2:])


def key_covers(pattern_key: tuple, binary: str, mode: str, scope: str) -> bool:
    """Does an entry key apply to (binary, mode, scope)?"""
    b, m, s = pattern_key[:3]
    if s != scope or m not in (mode, ANY_MODE):
        return False
    return b == binary or (b.endswith(".*") and binary.startswith(b[:-1]))


def entry_problems(e) -> List[str]:
    """What is wrong with one baseline entry (empty: nothing)."""
    if not isinstance(e, dict):
        return [f"not an object: {e!r}"]
    p = []
    for k in BASELINE_FIELDS:
        if not isinstance(e.get(k), str):
            p.append(f"field {k!r} is {e.get(k)!r}, not a string")
    extra = set(e) - set(BASELINE_FIELDS)
    if extra:
        p.append(f"unknown fields {sorted(extra)}")
    if e.get("mode") not in ("core", "live", ANY_MODE):
        p.append(f"mode {e.get('mode')!r}")
    if e.get("scope") not in ("own", "lib"):
        p.append(f"scope {e.get('scope')!r}")
    cause = e.get("cause")
    if cause == UNCLASSIFIED:
        p.append("cause is unclassified: a human must classify it (a rule in "
                 "vars_report.baseline_cause, with a new cause in varscmp.BASELINE_CAUSES if "
                 "none fits; then --write-baseline again)")
    elif isinstance(cause, str) and cause not in BASELINE_CAUSE_NAMES:
        p.append(f"unknown cause {cause!r} (varscmp.BASELINE_CAUSES)")
    elif cause in VOLATILE_CAUSES:
        if not str(e.get("binary", "")).endswith(".*") or e.get("mode") != ANY_MODE:
            p.append(f"cause {cause} is volatile: binary must be `<program>.*` and mode `*`")
    elif str(e.get("binary", "")).endswith(".*") or e.get("mode") == ANY_MODE:
        p.append("a pattern (`<program>.*`, mode `*`) is only for volatile causes")
    return p


@dataclass
class Baseline:
    path: str
    entries: Dict[tuple, List[dict]] = field(default_factory=dict)  # key -> entries (one per cause)
    problems: List[str] = field(default_factory=list)  # file-level problems

    @classmethod
    def load(cls, path: Optional[str] = None) -> "Baseline":
        import json
        path = path or baseline_path()
        b = cls(path)
        if not os.path.exists(path):
            b.problems.append(f"{path}: no such file (no differences are pinned)")
            return b
        try:
            data = json.loads(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as e:
            b.problems.append(f"{path}: {e}")
            return b
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            b.problems.append(f"{path}: no `entries` list")
            return b
        for i, e in enumerate(entries):
            p = entry_problems(e)
            if p and not all(x.startswith("cause is unclassified") or x.startswith("unknown cause") for x in p):
                b.problems.append(f"entry {i}: " + "; ".join(p))
                continue
            key = record_key(e)
            same = b.entries.setdefault(key, [])
            if any(x.get("cause") == e.get("cause") for x in same):
                b.problems.append(f"entry {i}: duplicate (key {key}, cause {e.get('cause')})")
                continue
            same.append(e)
        return b

    def all_entries(self) -> List[dict]:
        return [e for k in sorted(self.entries) for e in self.entries[k]]

    def match(self, d: Diff, binary: str, mode: str, program: str) -> List[dict]:
        """The entries for the difference: its own key's, then the volatile
        pattern's."""
        key = diff_key(d, binary, mode)
        return self.entries.get(key, []) + self.entries.get(volatile_key(key, program), [])


def entry_id(e: dict) -> tuple:
    return record_key(e) + (e.get("cause"),)


def pin(d: Diff, entries: List[dict], rule_cause: str) -> Optional[dict]:
    """Decide a not-accepted difference against its baseline entries (empty:
    not in the baseline).  rule_cause: vars_report.baseline_cause() of the
    difference now; an entry pins the difference only if its cause is that
    one (so that another difference at the same place, e.g. a wrong value
    where the entry is about the spelling of a symbol, fails).  Sets
    d.pinned (and returns the entry used), or d.baseline_problem."""
    if d.accepted or not entries:
        return None
    for e in entries:
        if e.get("cause") == rule_cause and rule_cause in BASELINE_CAUSE_NAMES:
            d.pinned = rule_cause
            return e
    causes = [e.get("cause") for e in entries]
    if all(c == UNCLASSIFIED or c not in BASELINE_CAUSE_NAMES for c in causes):
        d.baseline_problem = (f"baseline entry with cause {causes[0]!r}: classify it "
                              f"(the rules would say {rule_cause!r})")
    else:
        d.baseline_problem = (f"pinned in the baseline as {', '.join(map(repr, causes))} but it now "
                              f"looks like {rule_cause!r}: a different difference at the same place")
    return None
