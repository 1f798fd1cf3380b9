"""The Python-level stack of every thread of a CPython 3.11 process, like `py-spy dump --native`.

Read through the engine's values from the interpreter's own structures (the DWARF types of the
interpreter, e.g. Debian's python3.11-dbg): `_PyRuntime` -> interpreters -> thread states (matched to
the OS threads by `native_thread_id`) -> `cframe->current_frame`, a chain of `_PyInterpreterFrame`s,
each with its code object (file, qualified name) and the last instruction (the line, from the 3.11
location table). One native `_PyEval_EvalFrameDefault` call runs the Python frames up to the one
marked `is_entry`, so each Python frame is annotated on the native frame that runs it.

It adds:
- annotations on every `_PyEval_EvalFrameDefault` frame: "python: QUALNAME (FILE:LINE)", innermost
  first — read with the native frames, the interleaved stack;
- the attribute `python_stack.TID` per thread: "QUALNAME (FILE:LINE) < ..." (innermost first);
- for a crash in a thread running Python, the classification `python-crash`: where it crashed
  (the C extension module whose code was running, else the interpreter) and the Python function
  that called it, with its file and line.

A process that is not CPython 3.11 (no `_PyRuntime`, another `Py_Version`) is left alone; one
without the interpreter's debug information gets the attribute `cpython` saying so.
"""

import os
import re

from btengine.plugins import classifier

_MAX_FRAMES = 4096      # per thread: a corrupt `previous` chain must end
_MAX_THREADS = 4096
_MAX_STRING = 1024      # characters of a file or function name
_EXTENSION = re.compile(r"\.cpython-\d+[a-z]*-[\w-]+\.so$|/lib-dynload/")
_RUNTIME = re.compile(r"/(libc|libm|libpthread|ld-linux[\w-]*|libffi)\.so")


class PyFrame:
    """One Python frame: the function's qualified name, file, line; `entry`: the first frame its
    native _PyEval_EvalFrameDefault call ran."""

    def __init__(self, qualname, filename, line, entry):
        self.qualname, self.filename, self.line, self.entry = qualname, filename, line, entry

    def __str__(self):
        return f"{self.qualname} ({self.filename}:{self.line})"

    def __repr__(self):
        return f"<PyFrame {self}>"


def _unicode(proc, obj):
    """A str object's text (PyASCIIObject / PyCompactUnicodeObject), bounded."""
    if not int(obj):
        return "<NULL>"
    ascii_t = proc.type("PyASCIIObject")
    o = obj.cast(ascii_t.pointer())
    state = o.state
    length = min(int(o.length), _MAX_STRING)
    kind = int(state["kind"])  # ["kind"]: .kind is the Value's own property
    if not int(state.compact) or kind not in (1, 2, 4):
        return "<str>"
    data = int(o) + (ascii_t.size if int(state.ascii) else proc.type("PyCompactUnicodeObject").size)
    raw = proc.read(data, length * kind)
    return raw.decode({1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind], errors="replace")


def _varint(table, i):
    read = table[i]
    i += 1
    value, shift = read & 63, 0
    while read & 64 and i < len(table):
        read = table[i]
        i += 1
        shift += 6
        value |= (read & 63) << shift
    return value, i


def _signed_varint(table, i):
    value, i = _varint(table, i)
    return (-(value >> 1) if value & 1 else value >> 1), i


def addr_to_line(table, first_line, offset):
    """The line of the instruction at byte `offset` in a code object, from CPython 3.11's
    location table (Objects/locations.md): entries of (first byte: 1, code:4, length-1:3) and a
    code-dependent tail; -1 where the table says "no line"."""
    if offset < 0:
        return first_line
    line, addr, i = first_line, 0, 0
    while i < len(table):
        first = table[i]
        code = (first >> 3) & 15
        end = addr + ((first & 7) + 1) * 2
        delta = 0
        if code in (13, 14):
            delta, _ = _signed_varint(table, i + 1)
        elif code in (11, 12):
            delta = code - 10
        line += delta
        if addr <= offset < end:
            return -1 if code == 15 else line
        addr = end
        i += 1
        while i < len(table) and not table[i] & 128:  # the next entry starts with bit 7 set
            i += 1
    return -1


def _frames(proc, tstate):
    frames = []
    f = tstate.cframe.current_frame
    code_t = proc.type("PyCodeObject")
    bytes_t = proc.type("PyBytesObject")
    while int(f) and len(frames) < _MAX_FRAMES:
        code = f.f_code
        code_start = int(code) + code_t.offsetof("co_code_adaptive")
        last = int(f.prev_instr) - code_start  # bytes; -2 before the first instruction
        # An incomplete frame (being set up: before its first traceable instruction) is not
        # shown by CPython's own traceback, nor by py-spy.
        if int(f.owner) != 1 and last < int(code._co_firsttraceable) * 2:
            f = f.previous
            continue
        table_obj = code.co_linetable.cast(bytes_t.pointer())
        size = min(int(table_obj.ob_base.ob_size), 1 << 20)
        table = proc.read(int(table_obj) + bytes_t.offsetof("ob_sval"), size) if size > 0 else b""
        frames.append(PyFrame(_unicode(proc, code.co_qualname), _unicode(proc, code.co_filename),
                              addr_to_line(table, int(code.co_firstlineno), last), bool(f.is_entry)))
        f = f.previous
    return frames


def python_stacks(proc):
    """{native thread id: [PyFrame, innermost first]} for every Python thread; {} for a process
    that is not CPython 3.11. KeyError/btengine.MemoryError propagate (missing debug info,
    unreadable state)."""
    version = int(proc["Py_Version"])
    if version >> 16 != 0x030B:
        raise LookupError(f"CPython {version >> 24}.{version >> 16 & 255}: this plugin reads 3.11")
    stacks = {}
    interp = proc["_PyRuntime"].interpreters.head
    seen = 0
    while int(interp) and seen < _MAX_THREADS:
        tstate = interp.threads.head
        while int(tstate) and seen < _MAX_THREADS:
            seen += 1
            stacks[int(tstate.native_thread_id)] = _frames(proc, tstate)
            tstate = tstate.next
        interp = interp.next
    return stacks


def _eval_frames(thread):
    return [f for f in thread.frames if f.function == "_PyEval_EvalFrameDefault"]


def _runs(pyframes):
    """The Python frames split by the native _PyEval_EvalFrameDefault call that runs them,
    innermost first: each run ends with the frame marked `entry`."""
    runs, run = [], []
    for p in pyframes:
        run.append(p)
        if p.entry:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def interleaved(thread, pyframes):
    """The native frames of `thread` with the Python frames each _PyEval_EvalFrameDefault ran
    put in its place (py-spy dump --native's order): a list of (kind, text), kind "native" or
    "python"."""
    groups = _runs(pyframes)
    out = []
    for f in thread.frames:
        if f.function == "_PyEval_EvalFrameDefault" and groups:
            out += [("python", str(p)) for p in groups.pop(0)]
        else:
            out.append(("native", f.function or f"{os.path.basename(f.module or '??')}+{f.module_offset:#x}"))
    return out


@classifier
def cpython(proc, result):
    try:
        proc.address_of("_PyRuntime")
    except KeyError:
        return  # not a Python process
    try:
        stacks = python_stacks(proc)
    except KeyError as e:
        result.attribute("cpython", f"no debug information for the interpreter's structures ({e}): "
                                    "install the interpreter's debug symbols (Debian: python3.11-dbg)")
        return
    except LookupError as e:
        result.attribute("cpython", str(e))
        return
    by_tid = {t.tid: t for t in proc.threads}
    for tid, pyframes in stacks.items():
        thread = by_tid.get(tid)
        result.attribute(f"python_stack.{tid}", " < ".join(str(p) for p in pyframes) or "(no Python frames)")
        if thread is None:
            continue
        for native, run in zip(_eval_frames(thread), _runs(pyframes)):
            for p in run:
                result.annotate(native, f"python: {p}")
    crashed = proc.crashed_thread
    if crashed is None or not stacks.get(crashed.tid):
        return
    python = stacks[crashed.tid][0]
    # Where the crash happened: the innermost frame in code of its own (past libc, libffi and the
    # signal machinery), and the extension module, if any, between it and the interpreter loop.
    extension, top = None, None
    for f in crashed.frames:
        if f.function == "_PyEval_EvalFrameDefault":
            break
        module = f.module or ""
        if top is None and module and not _RUNTIME.search(module):
            top = f
        if extension is None and _EXTENSION.search(module):
            extension = f
    where = (f"in C extension {os.path.basename(extension.module).split('.')[0]}"
             if extension else "in the interpreter")
    native = (crashed.frames[0].function or "??") if crashed.frames else "??"
    result.classify("python-crash", proc.analysis.severity or "unknown",
                    f"{where} ({native}), called from Python {python}",
                    evidence=[("python_function", python.qualname), ("python_file", python.filename),
                              ("python_line", python.line),
                              ("extension", os.path.basename(extension.module) if extension else "none"),
                              ("native_function", native),
                              ("first_own_frame", (top.function or "??") if top else "none")])
