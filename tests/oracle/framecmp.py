"""Comparing `bt --json` backtraces with gdb's.

A frame is compared as (function, file basename, line).  Function names are
normalised only as far as needed to make two correct spellings of the same
function compare equal; each normalisation below says which spellings it
reconciles.  Differences that remain are explained only by the named gdb
quirks at the end of this file (places where gdb is provably worse), and a
test that relies on one says so in its output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import List, Optional

from gdbparse import GdbFrame

# ---------------------------------------------------------------------------
# Function name normalisation


def _match_close(s: str, i: int, open_c: str, close_c: str) -> int:
    """s[i] == open_c; index of the matching close_c or -1."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_c:
            depth += 1
        elif s[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return -1


# N1. Whitespace.  gdb prints DWARF names as the compiler wrote them
# (gcc: `std::function<int(int)>`, `> >`), demanglers insert their own spaces
# (`std::function<int (int)>`, `>>`).  Spaces next to punctuation are dropped
# and runs of spaces collapsed; spaces between two words (`unsigned long`,
# `) const`) are kept as one space.
def _canon_space(s: str) -> str:
    s = re.sub(r"\s+", " ", s.strip())
    s = re.sub(r" ?([<>(),*&:\[\]{}]) ?", r"\1", s)
    # `operator()const` would be ambiguous with a name; keep the qualifier word apart.
    s = re.sub(r"\)(const|volatile|noexcept)\b", r") \1", s)
    return s


# N2. gcc clones.  gcc -O2 emits clones (`f.constprop.0`, `f.isra.0`,
# `f.part.0`, `f.cold`); gdb names frames in functions with DWARF by the
# abstract origin (`f`) but frames in functions without DWARF (static libc) by
# the symbol (`msort_with_tmp.part`), and demanglers render C++ clone names as
# `f(int) [clone .constprop.0]` (GNU) or `f(int) (.constprop.0)` (LLVM).  All
# these name one source function, so the suffix is dropped everywhere.
_CLONE_SUFFIX = r"(?:constprop|isra|part|cold|lto_priv|localalias|llvm|specialized)(?:\.\d+)*"
_CLONE_RES = [
    re.compile(r" ?\[clone \.[^\]]*\]"),
    re.compile(r" ?\(\." + _CLONE_SUFFIX + r"\)"),
    re.compile(r"\." + _CLONE_SUFFIX + r"(?=$|\()"),
]


def _strip_clones(s: str) -> str:
    for rx in _CLONE_RES:
        s = rx.sub("", s)
    return s


# N3. glibc internal aliases.  glibc defines `raise`, `qsort`, `__poll`, ...
# and a hidden alias `__GI_<name>` at the same address (libc_hidden_def); with
# libc6-dbg gdb prints the alias (`__GI_raise`, `__GI___qsort_r`) while the
# DWARF DW_AT_name is the plain name.  The prefix is dropped.
def _strip_glibc_alias(s: str) -> str:
    return re.sub(r"^__GI_", "", s)


# N4. Lambdas.  One closure type is spelled `{lambda(int)#1}` (GNU demangler,
# and gdb for names it demangles), `'lambda'(int)` / `'lambda0'(int)` (LLVM
# demangler, numbered differently), `<lambda(int)>` (gcc's DW_AT_name, shown
# by gdb) or `$_0` (clang's name for the closure class).  All become `{lambda}`.
def _canon_lambdas(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        if s.startswith("{lambda(", i):
            j = _match_close(s, i, "{", "}")
            if j > 0:
                out.append("{lambda}")
                i = j + 1
                continue
        m = re.match(r"'lambda\d*'", s[i:])
        if m:
            j = i + m.end()
            if j < len(s) and s[j] == "(":
                k = _match_close(s, j, "(", ")")
                if k > 0:
                    out.append("{lambda}")
                    i = k + 1
                    continue
        if s.startswith("<lambda(", i):
            j = _match_close(s, i + 7, "(", ")")
            if j > 0 and j + 1 < len(s) and s[j + 1] == ">":
                out.append("{lambda}")
                i = j + 2
                continue
        m = re.match(r"\$_\d+", s[i:])
        if m and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
            out.append("{lambda}")
            i += m.end()
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


_OPERATOR_RE = re.compile(
    r"operator(?:\(\)|\[\]|<=>|<<=|>>=|->\*|->|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|"
    r"[-+*/%^&|~!=<>,]=?|\s+(?:new|delete)(?:\[\])?)"
)


def _protect_operators(s: str):
    """Replace operator names (which contain <, >, ( and )) by placeholders."""
    saved = []

    def repl(m):
        saved.append(m.group(0))
        return f"\x01{len(saved) - 1}\x02"

    return _OPERATOR_RE.sub(repl, s), saved


def _restore_operators(s: str, saved) -> str:
    return re.sub(r"\x01(\d+)\x02", lambda m: saved[int(m.group(1))], s)


# N5. Template arguments.  The same instantiation is spelled differently by
# gdb from DWARF (`crash_site<long>`, `std::__invoke_impl<void,
# main(int, char**)::<lambda()> >`, `apply_twice<...>(struct {...}, int)`)
# and by demanglers (`crash_site<long>`, `std::__invoke_impl<void,
# main::{lambda()#1}>`), and gcc's own DW_AT_name says `crash_site<long int>`.
# Template argument lists are dropped: frames are compared by their
# qualified template names.
def _strip_templates(s: str) -> str:
    out = []
    depth = 0
    for c in s:
        if c == "<":
            depth += 1
        elif c == ">" and depth > 0:
            depth -= 1
        elif depth == 0:
            out.append(c)
    return "".join(out)


# N6. Parameter lists and return types.  gdb prints functions with DWARF
# without parameters (`tmpl::Accumulator<long>::add`) but falls back to a
# demangled name with parameters when it cannot build one from DWARF
# (`std::function<int (int)>::operator()(int) const`,
# `main::$_0::operator()(int) const::{lambda(int)#1}::operator()(int) const`);
# demangled template functions also carry a return type
# (`void tmpl::crash_site<long>(long)`).  Every parameter list (also those of
# enclosing scopes), the cv/ref/noexcept qualifiers after it and a leading
# return type are dropped.
def _strip_params(s: str) -> str:
    s = s.replace("(anonymous namespace)", "{anon}")
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "(":
            j = _match_close(s, i, "(", ")")
            if j < 0:
                out.append(s[i:])
                break
            i = j + 1
            m = re.match(r"(?:\s*(?:const|volatile|noexcept|&&|&))*", s[i:])
            i += m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _strip_return_type(s: str) -> str:
    # After N5/N6 there are no brackets left; the name is the last word
    # (`int tmpl::apply_twice` -> `tmpl::apply_twice`).
    parts = s.split(" ")
    return parts[-1] if parts else s


def normalize_function(name: Optional[str]) -> Optional[str]:
    """The comparison key of a function name (see N1..N6)."""
    if name is None:
        return None
    s = _canon_space(name)
    s = _strip_clones(s)
    s = _strip_glibc_alias(s)
    s = _canon_lambdas(s)
    s, ops = _protect_operators(s)
    s = _strip_templates(s)
    s = _strip_params(s)
    s = _canon_space(s)
    s = _strip_return_type(s)
    return _restore_operators(s, ops)


# ---------------------------------------------------------------------------
# Frames


SIGNAL_FRAME = "<signal frame>"

# The signal trampoline.  gdb prints the frame of the kernel-built signal
# frame as `<signal handler called>`; bt marks it `signal_frame: true` and
# names the function at that pc, which in glibc is `__restore_rt` (the
# sa_restorer glibc installs).  The frame is compared only as "the signal
# frame": gdb prints no source line for it.
SIGNAL_TRAMPOLINE_NAMES = {"__restore_rt"}


@dataclass
class Frame:
    """One frame in comparison form."""

    function: Optional[str]  # normalised; SIGNAL_FRAME for the signal frame
    file: Optional[str]  # basename
    line: Optional[int]
    inlined: Optional[bool] = None  # None: unknown (gdb without frame kinds)
    raw_function: Optional[str] = None
    module: Optional[str] = None  # basename, if known
    module_path: Optional[str] = None  # bt's module path (for the alias check)
    tailcall: bool = False  # gdb's synthesised tail-call frame
    extra: str = ""  # for display only

    def show(self) -> str:
        if self.function == SIGNAL_FRAME:
            return f"<signal frame> ({self.raw_function or ''})"
        fn = self.raw_function if self.raw_function is not None else "??"
        if self.file:
            loc = f"{self.file}:{self.line}"
        elif self.module:
            loc = f"[{self.module}]"
        else:
            loc = ""
        tags = ""
        if self.inlined:
            tags += " [inlined]"
        if self.tailcall:
            tags += " [tail-call frame]"
        return f"{fn} {loc}".rstrip() + tags


def _basename(path: Optional[str]) -> Optional[str]:
    return os.path.basename(path) if path else None


def frame_from_gdb(f: GdbFrame) -> Frame:
    if f.signal_frame:
        return Frame(SIGNAL_FRAME, None, None, inlined=False, raw_function="<signal handler called>")
    return Frame(
        function=normalize_function(f.function),
        file=_basename(f.file),
        line=f.line,
        inlined=None if f.kind is None else f.kind == "inline",
        raw_function=f.function,
        module=_basename(f.library),
        tailcall=f.kind == "tailcall",
    )


def frame_from_bt(f: dict) -> Frame:
    fn = f.get("function")
    if f.get("signal_frame") is True or (f.get("signal_frame") is None and fn in SIGNAL_TRAMPOLINE_NAMES):
        return Frame(SIGNAL_FRAME, None, None, inlined=False, raw_function=fn,
                     module=_basename(f.get("module")))
    return Frame(
        function=normalize_function(fn),
        file=_basename(f.get("file")),
        line=f.get("line"),
        inlined=bool(f.get("inlined")),
        raw_function=fn,
        module=_basename(f.get("module")),
        module_path=f.get("module"),
        tailcall=f.get("how") == "tailcall",
        extra=f"[{f.get('how')}{' SUSPECT' if f.get('suspect') else ''} pc={f.get('pc')}]",
    )


# ---------------------------------------------------------------------------
# gdb quirks: places where gdb's output is provably not what a correct
# unwinder of the machine state shows.  A test that relies on one names it in
# its output.


@dataclass
class Quirk:
    name: str
    description: str

    def __str__(self):
        return f"{self.name}: {self.description}"


GDB_UNQUALIFIED_GCC_LAMBDA = Quirk(
    "gdb-unqualified-gcc-lambda",
    "for a lambda compiled by gcc, gdb 13 prints the call operator as a bare "
    "`operator()`: gcc's DWARF names the closure type `<lambda(int)>` and gdb "
    "drops the whole enclosing scope, so two lambdas cannot be told apart. "
    "bt's name must be a qualified `...{lambda}::operator()` at the same file:line",
)



def _gdb_unqualified_gcc_lambda(g: Frame, b: Frame) -> bool:
    return (
        g.function == "operator()"
        and b.function is not None
        and b.function.endswith("::operator()")
        and "{lambda}" in b.function
        and (g.file, g.line) == (b.file, b.line)
        and (g.inlined is None or (g.inlined == b.inlined and g.tailcall == b.tailcall))
    )


QUIRKS = [(GDB_UNQUALIFIED_GCC_LAMBDA, _gdb_unqualified_gcc_lambda)]


# N7. Symbol aliases.  Where a name comes from the symbol table, one address
# often has several names (glibc: `pause`/`__libc_pause`, `read`/`__read`/
# `__libc_read`, `poll`/`__poll`; gdb picks the weak alias in static
# binaries), and glibc's DWARF names differ from its symbols the same way.
# Two names are the same function if both are symbols of the frame's module
# (or its debug file) at one address.  Needs an `alias_check(module, a, b)`.
ALIAS = "symbol-alias"


def frames_agree(g: Frame, b: Frame, alias_check=None):
    """(agree, quirk or None or ALIAS)."""
    if g.function == SIGNAL_FRAME or b.function == SIGNAL_FRAME:
        return g.function == b.function, None
    # With gdb's frame kinds known, an inlined frame must be inlined on both
    # sides, and a tail-call frame a tail-call frame on both sides.
    same_kind = g.inlined is None or (g.inlined == b.inlined and g.tailcall == b.tailcall)
    if (g.file, g.line) == (b.file, b.line) and same_kind:
        if g.function == b.function:
            return True, None
        if alias_check is not None and alias_check(b.module_path, g.raw_function, b.raw_function):
            return True, ALIAS
    for quirk, pred in QUIRKS:
        if pred(g, b):
            return True, quirk
    return False, None


# ---------------------------------------------------------------------------
# Threads


@dataclass
class ThreadComparison:
    tid: int
    ok: bool
    lines: List[str] = field(default_factory=list)  # a side-by-side diff
    quirks: List[str] = field(default_factory=list)
    quirk_names: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def report(self) -> str:
        out = list(self.lines)
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  gdb quirk used: {q}" for q in self.quirks]
        return "\n".join(out)


def _collapse(rows, keep=3):
    """Collapse long runs of identical agreeing rows (deep recursion)."""
    out = []
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1][0] == "  " and rows[i][0] == "  " and rows[j + 1][1:] == rows[i][1:]:
            j += 1
        run = j - i + 1
        if run > keep + 1:
            out.append(rows[i])
            out.append(("..", f"({run - 1} more identical frames)", ""))
        else:
            out.extend(rows[i : j + 1])
        i = j + 1
    return out


def compare_frame_lists(gdb_frames: List[Frame], bt_frames: List[Frame], tid: int,
                        alias_check=None) -> ThreadComparison:
    """Frame-by-frame comparison, innermost first.

    Allowances (each reported in the comparison's notes/quirks):
    - gdb runs with `backtrace past-main on` and so shows the frames above
      main (__libc_start_call_main, __libc_start_main_impl, _start); bt may
      show them too (then they are compared) or stop at main.
    - gdb's synthesised tail-call frames (from DW_TAG_call_site) must be shown
      by bt too (bt reconstructs them the same way) and are compared like any
      other frame, their kind included.
    """
    res = ThreadComparison(tid=tid, ok=True)
    expected = list(gdb_frames)
    main_idx = next((i for i, f in enumerate(gdb_frames) if f.function == "main" and not f.inlined), None)
    if main_idx is not None and len(gdb_frames) > main_idx + 1:
        bt_main = [j for j, f in enumerate(bt_frames) if f.function == "main" and not f.inlined]
        if bt_main and bt_main[-1] == len(bt_frames) - 1:
            expected = gdb_frames[: main_idx + 1]
            res.notes.append(
                f"bt stops at main; gdb (past-main on) shows "
                f"{len(gdb_frames) - main_idx - 1} more frames, not compared"
            )
    rows = []  # (mark, gdb text, bt text)
    i = j = 0
    while i < len(expected) or j < len(bt_frames):
        g = expected[i] if i < len(expected) else None
        b = bt_frames[j] if j < len(bt_frames) else None
        if g is not None and g.tailcall:
            agree = b is not None and frames_agree(g, b, alias_check)[0]
            if agree:
                rows.append(("  ", g.show(), f"{b.show()}   {b.extra}"))
                j += 1
            else:
                # bt reconstructs tail-call frames from DW_TAG_call_site like gdb: a missing
                # one is a failure, not a quirk.
                res.ok = False
                rows.append(("!!", g.show(), "(missing tail-call frame)"))
            i += 1
            continue
        if g is not None and b is not None:
            agree, quirk = frames_agree(g, b, alias_check)
            mark = "  " if agree else "!!"
            if quirk == ALIAS:
                res.notes.append(f"#{i}: {g.raw_function!r} and {b.raw_function!r} are aliases (N7)")
            elif quirk is not None:
                mark = "~~"
                res.quirks.append(
                    f"gdb #{i}: {quirk} (gdb {g.raw_function!r}, bt {b.raw_function!r})"
                )
                res.quirk_names.append(quirk.name)
            if not agree:
                res.ok = False
            rows.append((mark, g.show(), f"{b.show()}   {b.extra}"))
            i += 1
            j += 1
        elif g is not None:
            res.ok = False
            rows.append(("!!", g.show(), "(missing)"))
            i += 1
        else:
            res.ok = False
            rows.append(("!!", "(missing)", f"{b.show()}   {b.extra}"))
            j += 1
    rows = _collapse(rows)
    width = min(max([len(r[1]) for r in rows] + [10]), 110)
    res.lines.append(f"   {'gdb':<{width}}  | bt")
    for mark, gs, bs in rows:
        res.lines.append(f"{mark} {gs:<{width}}  | {bs}".rstrip())
    return res
