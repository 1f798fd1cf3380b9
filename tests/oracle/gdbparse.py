"""Parser for gdb's `thread apply all bt` output (gdb 13, batch mode).

What gdb prints (seen on the fixtures, see tests/oracle/data/gdb/):

  Thread 6 (Thread 0x7f81001196c0 (LWP 4232) "bt-poller"):   live, libthread_db
  Thread 2 (Thread 0x7f810211d6c0 (LWP 4228)):               core, libthread_db
  Thread 1 (LWP 4187):                                       core, no libthread_db
  Thread 1 (process 4187):                                   live, single-threaded, no libthread_db

  #0  0x00005605928f19b4 in crash_chain::final_step (code=42) at /abs/threads_cpp.cpp:103
  #1  inl_c_outer (k=5, r=0x7ffd63c3b150, r@entry=0x7ffd63c3b130) at /abs/deep_c.c:20
  #3  <signal handler called>
  #8  0x00007f81024d44a3 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6
  #0  __strlen_evex () at ../sysdeps/x86_64/multiarch/strlen-evex.S:79
  #3  0x... in tmpl::apply_twice<main(int, char**)::<lambda(int)>::<lambda(int)> >(struct {...}, int) (f=..., x=3) at ...
  #5  0x... in _start ()
  Backtrace stopped: previous frame inner to this frame (corrupt stack?)

The address is omitted when the pc is at the start of a line-table entry,
which is always the case for inlined frames (they share the pc of the frame
they are inlined into) and often for frame #0 and the frame interrupted by a
signal.  Function names may contain spaces, parentheses, braces and templates,
and arguments may contain strings with parentheses and quotes, so the
argument list is found by matching parentheses (skipping quoted text) back
from the end of the frame's text, after the ` at FILE:LINE` / ` from LIB`
suffix has been removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

SIGNAL_FRAME_TEXT = "<signal handler called>"


@dataclass
class GdbFrame:
    index: int
    raw: str
    pc: Optional[int] = None  # only when gdb printed an address
    function: Optional[str] = None  # None for `??` and for the signal frame
    args: Optional[str] = None  # text between the argument parentheses
    file: Optional[str] = None  # as printed (may be relative: ./nptl/...)
    line: Optional[int] = None
    library: Optional[str] = None  # `from LIB` (frames without line info)
    signal_frame: bool = False  # `<signal handler called>`
    special: Optional[str] = None  # other `<...>` frames, e.g. <function called from gdb>
    # gdb's frame type, from gdb_frame_info.py (None when not available):
    # normal, inline, tailcall, sigtramp, ...
    kind: Optional[str] = None

    @property
    def unknown(self) -> bool:
        return self.function is None and not self.signal_frame and self.special is None


@dataclass
class GdbThread:
    num: int  # gdb's thread number
    tid: Optional[int]  # LWP
    pthread: Optional[int] = None  # pthread_t, when libthread_db is in use
    name: Optional[str] = None  # only printed for live processes
    frames: List[GdbFrame] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)  # "Backtrace stopped: ..." etc.


@dataclass
class GdbBacktrace:
    threads: List[GdbThread] = field(default_factory=list)
    signal: Optional[str] = None  # "Program terminated with signal SIGSEGV, ..." (cores)
    current_tid: Optional[int] = None  # "[Current thread is N (... LWP tid ...)]" (cores)
    # From gdb_frame_info.py (cores only): (signo, code, address)
    siginfo: Optional[tuple] = None
    has_frame_kinds: bool = False
    ignored: List[str] = field(default_factory=list)  # lines outside any thread section

    def by_tid(self):
        return {t.tid: t for t in self.threads}


class GdbParseError(ValueError):
    pass


_THREAD_RE = re.compile(r"^Thread (\d+) \((.*)\):\s*$")
# A core or live process: `Thread 0x7f.. (LWP n)` (libthread_db) or `LWP n`; a remote target
# (btserve): `Thread PID.TID`.
_THREAD_INNER_RE = re.compile(
    r"^(?:Thread (0x[0-9a-fA-F]+) \((?:LWP|process) (\d+)\)|(?:LWP|process) (\d+)"
    r"|Thread \d+\.(\d+))"
    r'(?: "(.*)")?$'
)
_FRAME_RE = re.compile(r"^#(\d+)\s+(.*?)\s*$")
_PC_RE = re.compile(r"^(0x[0-9a-fA-F]+) in (.*)$")
_AT_RE = re.compile(r"^(.*\)) at (.+):(\d+)$")
_FROM_RE = re.compile(r"^(.*\)) from (\S.*)$")
_SIGNAL_RE = re.compile(r"^Program (?:terminated|received) with signal (SIG[A-Z0-9]+)")
_SIGNAL2_RE = re.compile(r"^Program received signal (SIG[A-Z0-9]+)")
_CURRENT_RE = re.compile(r"^\[Current thread is \d+ \((.*)\)\]$")
_LWP_RE = re.compile(r"(?:LWP|process) (\d+)")
_KINDS_RE = re.compile(r"^BT-FRAME-KINDS (\d+) (\d+) ?(\S*)$")
_SIGINFO_RE = re.compile(r"^BT-SIGINFO (-?\d+) (-?\d+) (0x[0-9a-fA-F]+)$")


def _skip_quoted(text: str, i: int) -> int:
    """text[i] is a quote; return the index just past the closing quote, or -1."""
    q = text[i]
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == q:
            return i + 1
        i += 1
    return -1


def _arg_list_start_forward(text: str) -> int:
    """Index of the '(' matching the final ')' scanning forward, skipping
    quoted strings/chars; -1 if the text is not balanced."""
    stack = []
    last_open = -1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'" and stack:
            # Quotes only occur inside argument values (strings, chars); a
            # quote inside a name would be outside any parenthesis group.
            j = _skip_quoted(text, i)
            if j < 0:
                return -1
            i = j
            continue
        if c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                return -1
            last_open = stack.pop()
            if i == n - 1:
                return last_open if not stack else -1
        i += 1
    return -1


def _arg_list_start_backward(text: str) -> int:
    """Fallback: match parentheses from the end without quote handling."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        c = text[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return i
    return -1


def split_function_and_args(text: str):
    """'FUNC (ARGS)' -> (FUNC, ARGS).  FUNC may itself contain parentheses."""
    if not text.endswith(")"):
        raise GdbParseError(f"frame text does not end with an argument list: {text!r}")
    start = _arg_list_start_forward(text)
    if start <= 0 or text[start - 1] != " ":
        start = _arg_list_start_backward(text)
    if start <= 0 or text[start - 1] != " ":
        raise GdbParseError(f"cannot find the argument list in {text!r}")
    return text[: start - 1], text[start + 1 : -1]


def parse_frame_line(line: str) -> GdbFrame:
    m = _FRAME_RE.match(line)
    if not m:
        raise GdbParseError(f"not a frame line: {line!r}")
    frame = GdbFrame(index=int(m.group(1)), raw=line)
    text = m.group(2)
    if text == SIGNAL_FRAME_TEXT:
        frame.signal_frame = True
        return frame
    if text.startswith("<") and text.endswith(">"):
        frame.special = text
        return frame
    pm = _PC_RE.match(text)
    if pm:
        frame.pc = int(pm.group(1), 16)
        text = pm.group(2)
    am = _AT_RE.match(text)
    if am:
        text, frame.file, frame.line = am.group(1), am.group(2), int(am.group(3))
    else:
        fm = _FROM_RE.match(text)
        if fm:
            text, frame.library = fm.group(1), fm.group(2)
    func, args = split_function_and_args(text)
    frame.function = None if func == "??" else func
    frame.args = args
    return frame


def parse_thread_header(line: str) -> Optional[GdbThread]:
    m = _THREAD_RE.match(line)
    if not m:
        return None
    inner = m.group(2)
    im = _THREAD_INNER_RE.match(inner)
    if not im:
        raise GdbParseError(f"unrecognised thread header: {line!r}")
    pthread = int(im.group(1), 16) if im.group(1) else None
    tid = int(im.group(2) or im.group(3) or im.group(4))
    return GdbThread(num=int(m.group(1)), tid=tid, pthread=pthread, name=im.group(5))


def parse(output: str) -> GdbBacktrace:
    """Parse the stdout of `gdb -batch ... -ex "thread apply all bt"`.

    Frames printed before the first thread header (gdb shows the current frame
    when it loads a core or attaches) are ignored; so are warnings and other
    chatter."""
    bt = GdbBacktrace()
    current: Optional[GdbThread] = None
    kinds = {}
    for line in output.splitlines():
        stripped = line.rstrip()
        km = _KINDS_RE.match(stripped)
        if km:
            tid, n = int(km.group(1)), int(km.group(2))
            lst = km.group(3).split(",") if km.group(3) else []
            if len(lst) != n:
                raise GdbParseError(f"bad frame-kinds line: {stripped!r}")
            kinds[tid] = lst
            current = None
            continue
        im = _SIGINFO_RE.match(stripped)
        if im:
            bt.siginfo = (int(im.group(1)), int(im.group(2)), int(im.group(3), 16))
            current = None
            continue
        thread = parse_thread_header(stripped)
        if thread is not None:
            current = thread
            bt.threads.append(thread)
            continue
        sm = _SIGNAL_RE.match(stripped) or _SIGNAL2_RE.match(stripped)
        if sm and bt.signal is None:
            bt.signal = sm.group(1)
            continue
        cm = _CURRENT_RE.match(stripped)
        if cm:
            lm = _LWP_RE.search(cm.group(1))
            if lm:
                bt.current_tid = int(lm.group(1))
            continue
        if current is not None and stripped.startswith("#"):
            frame = parse_frame_line(stripped)
            if frame.index != len(current.frames):
                raise GdbParseError(
                    f"thread {current.num}: frame #{frame.index} follows "
                    f"{len(current.frames)} frames: {stripped!r}"
                )
            current.frames.append(frame)
            continue
        if current is not None and (
            stripped.startswith("Backtrace stopped")
            or stripped.startswith("(More stack frames follow")
        ):
            current.notes.append(stripped)
            continue
        if stripped:
            bt.ignored.append(stripped)
    for t in bt.threads:
        if not t.frames and not t.notes:
            raise GdbParseError(f"thread {t.num} (LWP {t.tid}) has no frames")
    if kinds:
        bt.has_frame_kinds = True
        for t in bt.threads:
            lst = kinds.get(t.tid)
            if lst is None or len(lst) != len(t.frames):
                raise GdbParseError(
                    f"thread {t.num} (LWP {t.tid}): {len(t.frames)} frames printed but "
                    f"frame kinds {lst!r}"
                )
            for f, k in zip(t.frames, lst):
                f.kind = k
    return bt
