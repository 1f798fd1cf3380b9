"""Parser for gdb's `thread apply all bt full` output (gdb 13, batch mode,
`set width 0`): the frames of gdbparse plus, per frame, the parameters gdb
prints in the frame line and the locals it prints below it.

What gdb prints (seen on the fixtures, see tests/oracle/data/gdb-full/):

  #1  0x... in vc_middle (ip=0x7ffd..., rp=0x55... <g_rect>, lit=0x55... "a \\"literal\\"", pt={x = -10, y = 20}) at /abs/vars_c.c:95
          call_count = 78
          buf = "short\\000\\000..."
          r = {tl = {x = -1, y = -2}, br = {x = 3, y = 4}, name = "box", '\\000' <repeats 12 times>, tags = {10, 20, 30}}
  #2  0x... in vc_outer (c=<optimized out>, c@entry=GREEN, flags=<optimized out>, ...) at ...
  #3  <signal handler called>
  No locals.
  #6  0x... in _start ()
  No symbol table info available.

- Parameters: `name=value` separated by `, `; values contain commas,
  parentheses, braces, `<symbol>` references, strings and char literals with
  escapes.  The list is split by a small tokenizer that tracks ()/{}/[]
  nesting and string/char literals, and only splits at a top-level `, `
  followed by `NAME=` (so `<f(int, char)>` or `<std::map<int, int>>` inside a
  value is never split).
- Entry values (`set print entry-values default`): `x=x@entry=5` (the
  current value is the entry value), `x=6, x@entry=5` (both known, differ),
  `x=<optimized out>, x@entry=5`.  `x@entry` is folded into parameter `x`.
- With `set print frame-arguments scalars` (gdb's default) non-scalar
  arguments are printed as `...`; the oracle runs with `all`.
- A parameter gdb cannot read: `x=<error reading variable: MSG>`; a local:
  `x = <error reading variable x (MSG)>`.
- Locals: one per line, indented 8 spaces, `name = value`, innermost block
  first; several blocks may hold the same name (shadowing), so locals are a
  list, not a map.  With `set width 0` a value never continues on another
  line (strings are escaped; pretty printers print on one line without
  `set print pretty`); a line that does not match is kept as a continuation
  of the previous value and noted.
- `No locals.`: the frame has a symbol table but no locals in scope;
  `No symbol table info available.`: the function has no DWARF (the frame
  line then shows `()` or nothing gdb could read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import gdbparse

NO_LOCALS = "No locals."
NO_SYMTAB = "No symbol table info available."
OPTIMIZED_OUT = "<optimized out>"

_ARG_NAME_RE = re.compile(r"([A-Za-z_$][\w$]*(?:#\d+)?)(@entry)?=")
_CHAR_LIT_RE = re.compile(r"'(?:\\(?:[0-7]{1,3}|x[0-9a-fA-F]+|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|[^'\\])'")
# The name is everything up to the first " = " (names never contain one).
_LOCAL_RE = re.compile(r"^ {8}(\S.*?) = (.*)$")
_LOCAL_EMPTY_RE = re.compile(r"^ {8}(\S.*?) =$")


@dataclass
class GdbVar:
    name: str
    kind: str  # "param" | "local"
    value: Optional[str]  # as printed; None if gdb printed only NAME@entry (not in `default` mode)
    entry_value: Optional[str] = None  # NAME@entry=... (params only)
    # "equal" for `x=x@entry=V`, "separate" for `x=A, x@entry=B`, None
    entry_form: Optional[str] = None

    @property
    def optimized_out(self) -> bool:
        return self.value == OPTIMIZED_OUT

    @property
    def error(self) -> bool:
        return self.value is not None and self.value.startswith("<error reading variable")

    def show(self) -> str:
        s = f"{self.name}={self.value}"
        if self.entry_form == "equal":
            s = f"{self.name}={self.name}@entry={self.entry_value}"
        elif self.entry_value is not None:
            s += f", {self.name}@entry={self.entry_value}"
        return s


@dataclass
class FrameVars:
    params: List[GdbVar] = field(default_factory=list)
    locals: List[GdbVar] = field(default_factory=list)
    no_locals: bool = False  # "No locals."
    no_symtab: bool = False  # "No symbol table info available."
    notes: List[str] = field(default_factory=list)  # parse oddities (continuation lines)

    @property
    def has_scope(self) -> bool:
        """gdb found a symbol table (a DWARF scope) for the frame."""
        return not self.no_symtab


@dataclass
class GdbFullBacktrace:
    bt: gdbparse.GdbBacktrace
    # (thread num, frame index) -> FrameVars
    vars: Dict[Tuple[int, int], FrameVars] = field(default_factory=dict)

    def frame_vars(self, thread: gdbparse.GdbThread, frame: gdbparse.GdbFrame) -> FrameVars:
        return self.vars[(thread.num, frame.index)]


def _skip_string(text: str, i: int) -> int:
    """text[i] == '"'; index past the closing quote (len(text) if unterminated)."""
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    return n


def split_args(text: Optional[str]) -> List[str]:
    """Split the text between a frame line's argument parentheses into
    `name=value` items (see the module docstring)."""
    text = (text or "").strip()
    if not text:
        return []
    parts = []
    depth = angle = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "'":
            m = _CHAR_LIT_RE.match(text, i)
            if m:
                i = m.end()
                continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == "<" and i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_") and text[i + 1:i + 2] not in ("<", "="):
            # A generic's arguments in a type name (Rust's Box<dyn FnOnce<(), Output=()>, ...>,
            # C++'s map<int, int>): its ", Name=" is no next argument. Not <optimized out>,
            # `0x1 <sym>` or `<repeats N times>` (no identifier right before), nor operator<<.
            angle += 1
        elif c == ">" and angle > 0 and text[i - 1] != "-":
            angle -= 1
        elif (c == "," and depth == 0 and angle == 0 and text.startswith(" ", i + 1)
              and _ARG_NAME_RE.match(text, i + 2)):
            parts.append(text[start:i])
            start = i + 2
            i += 2
            continue
        i += 1
    parts.append(text[start:])
    return parts


class GdbVarsParseError(gdbparse.GdbParseError):
    pass


def parse_args(text: Optional[str]) -> List[GdbVar]:
    """The parameters of a frame line (gdbparse.GdbFrame.args), entry values
    folded into their parameter."""
    out: List[GdbVar] = []
    by_name: Dict[str, GdbVar] = {}
    for item in split_args(text or ""):
        m = _ARG_NAME_RE.match(item)
        if not m:
            raise GdbVarsParseError(f"argument without a name: {item!r} in {text!r}")
        name, entry, value = m.group(1), m.group(2), item[m.end():]
        if entry:
            v = by_name.get(name)
            if v is None:
                # `x@entry=V` alone (gdb's `print entry-values` other than default).
                v = GdbVar(name, "param", None)
                by_name[name] = v
                out.append(v)
            v.entry_value = value
            v.entry_form = "separate"
            continue
        eq = re.match(re.escape(name) + r"@entry=", value)
        if eq:
            v = GdbVar(name, "param", value[eq.end():], entry_value=value[eq.end():], entry_form="equal")
        else:
            v = GdbVar(name, "param", value)
        by_name[name] = v
        out.append(v)
    return out


def parse_local_line(line: str) -> Optional[GdbVar]:
    m = _LOCAL_RE.match(line) or _LOCAL_EMPTY_RE.match(line)
    if not m:
        return None
    value = m.group(2) if m.re is _LOCAL_RE else ""
    return GdbVar(m.group(1), "local", value)


def parse_full(output: str) -> GdbFullBacktrace:
    """Parse the stdout of `gdb -batch ... -ex "thread apply all bt full"
    -x gdb_frame_info.py`.  The frames are gdbparse's (same threads, frames
    and frame kinds); each gets a FrameVars."""
    bt = gdbparse.parse(output)
    full = GdbFullBacktrace(bt)
    threads = iter(bt.threads)
    thread = None
    frame_vars: Optional[FrameVars] = None
    frame = None
    for line in output.splitlines():
        stripped = line.rstrip()
        if gdbparse.parse_thread_header(stripped) is not None:
            thread = next(threads)
            frame_vars = None
            continue
        if stripped.startswith("BT-FRAME-KINDS ") or stripped.startswith("BT-SIGINFO "):
            thread = None
            frame_vars = None
            continue
        if thread is None:
            continue
        if stripped.startswith("#"):
            idx = int(gdbparse._FRAME_RE.match(stripped).group(1))
            frame = thread.frames[idx]
            frame_vars = FrameVars(params=parse_args(frame.args))
            full.vars[(thread.num, idx)] = frame_vars
            continue
        if frame_vars is None:
            continue
        if stripped == NO_LOCALS:
            frame_vars.no_locals = True
            continue
        if stripped == NO_SYMTAB:
            frame_vars.no_symtab = True
            continue
        if line.startswith(" " * 8):
            v = parse_local_line(stripped)
            if v is not None:
                frame_vars.locals.append(v)
            elif frame_vars.locals:
                frame_vars.locals[-1].value += "\n" + line
                frame_vars.notes.append(f"continuation line: {line!r}")
            else:
                raise GdbVarsParseError(f"frame #{frame.index}: indented line before any local: {line!r}")
            continue
        # Anything else ends the frame's variables (Backtrace stopped, blank lines, chatter).
        frame_vars = None
    for t in bt.threads:
        for f in t.frames:
            if (t.num, f.index) not in full.vars:
                raise GdbVarsParseError(f"thread {t.num} frame #{f.index}: not seen")
    return full
