"""btengine: the crash-capture and debugging engine as a Python library.

Open a core file, a snapshot or a live process and walk its threads, frames, variables and
values::

    >>> import btengine
    >>> with btengine.open("core.1234") as proc:          # doctest: +SKIP
    ...     frame = proc.crashed_thread.frames[0]
    ...     print(frame.function, frame.line)
    ...     rect = frame["r"].value                          # a struct
    ...     print(rect["tl"]["x"].value, rect["name"].string())

Objects stay valid only while their Process is open; afterwards they raise ClosedError.
Engine errors come as FileNotFoundError, PermissionError, ProcessLookupError, FormatError (bad
or truncated input; a ValueError) and ValueError (misuse).
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Sequence, Union

from . import _btengine as _engine

__all__ = ["open", "attach", "capture", "Process", "Thread", "Frame", "Variable", "Value",
           "Module", "Region", "FormatError", "ClosedError", "__version__"]
__version__ = "0.1.0"

FormatError = _engine.FormatError
ClosedError = _engine.ClosedError


def open(path: Union[str, os.PathLike], exe: Optional[str] = None,
         debug_dirs: Sequence[str] = ()) -> "Process":
    """Open a btengine snapshot (.btsnap) or an ELF core file (`exe`: its executable, when the
    path recorded in the core has moved; `debug_dirs`: extra debug-file directories)."""
    return Process(_engine.Session.open_file(os.fspath(path), exe or "", list(debug_dirs)))


def attach(pid: int, debug_dirs: Sequence[str] = ()) -> "Process":
    """Freeze a live process (PTRACE_SEIZE; it runs on if this interpreter dies) and read it.
    Use it as a context manager: the process is resumed when the block ends, normally or not."""
    return Process(_engine.Session.attach(int(pid), list(debug_dirs)))


def capture(pid: int, path: Union[str, os.PathLike], *, variables: bool = True,
            all_threads: bool = True, max_stack_bytes: int = 512 * 1024,
            redact_env: bool = True, attributes: Optional[Dict[str, str]] = None,
            debug_dirs: Sequence[str] = ()) -> "CaptureResult":
    """Take a snapshot of live process `pid` into `path` (what `bt snapshot` does)."""
    size, stopped = _engine.capture(int(pid), os.fspath(path), variables, all_threads,
                                    int(max_stack_bytes), redact_env,
                                    list((attributes or {}).items()), list(debug_dirs))
    return CaptureResult(os.fspath(path), size, stopped)


class CaptureResult:
    """Where a snapshot went, its size in bytes and how long the process was stopped (ms)."""

    def __init__(self, path: str, size: int, stopped_ms: float):
        self.path, self.size, self.stopped_ms = path, size, stopped_ms

    def __repr__(self) -> str:
        return f"<CaptureResult {self.path} {self.size} bytes, stopped {self.stopped_ms:.1f} ms>"


class Module:
    """A loaded module: path, build_id (hex), start/end addresses, load_bias, main."""

    def __init__(self, ns):
        self.path: str = ns.path
        self.build_id: str = ns.build_id
        self.start: int = ns.start
        self.end: int = ns.end
        self.load_bias: int = ns.load_bias
        self.main: bool = ns.main

    def __repr__(self) -> str:
        return f"<Module {self.path} {self.start:#x}-{self.end:#x}>"


class Region:
    """A memory mapping: start, end, perms ("r-xp"), offset, path."""

    def __init__(self, ns):
        self.start: int = ns.start
        self.end: int = ns.end
        self.perms: str = ns.perms
        self.offset: int = ns.offset
        self.path: str = ns.path

    def __repr__(self) -> str:
        return f"<Region {self.start:#x}-{self.end:#x} {self.perms} {self.path}>"


class Process:
    """An open target: a snapshot, a core file or a frozen live process."""

    def __init__(self, session):
        self._s = session

    # Lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the target (a live process runs on); every object from it becomes invalid."""
        self._s.close()

    @property
    def closed(self) -> bool:
        return self._s.closed

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._s.close()
        except Exception:
            pass

    # Facts --------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """"snapshot", "core" or "live"."""
        return self._s.kind

    @property
    def pid(self) -> int:
        return self._s.pid

    @property
    def executable(self) -> str:
        return self._s.executable

    @property
    def command_line(self) -> List[str]:
        return self._s.command_line

    @property
    def signal(self):
        """The fatal signal (number, name, code, address, sender_pid), or None."""
        return self._s.signal

    @property
    def attributes(self) -> Dict[str, str]:
        """User attributes stored in a snapshot (empty for cores and live processes)."""
        return self._s.attributes

    @property
    def fingerprint(self) -> Optional[str]:
        """A snapshot's crash fingerprint."""
        return self._s.fingerprint

    @property
    def threads(self) -> List["Thread"]:
        return [Thread(self._s.thread(t)) for t in self._s.thread_ids]

    def thread(self, tid: int) -> "Thread":
        return Thread(self._s.thread(tid))

    @property
    def crashed_thread(self) -> Optional["Thread"]:
        tid = self._s.crashed_tid
        return None if tid is None else self.thread(tid)

    @property
    def modules(self) -> List[Module]:
        return [Module(m) for m in self._s.modules]

    @property
    def regions(self) -> List[Region]:
        return [Region(r) for r in self._s.regions]

    def read(self, address: int, size: int) -> bytes:
        """`size` bytes of target memory at `address`; FormatError if any is unreadable."""
        return self._s.read(int(address), int(size))

    def __repr__(self) -> str:
        if self._s.closed:
            return "<Process (closed)>"
        sig = self.signal
        return (f"<Process {self.kind} pid {self.pid} {self.executable!r}, "
                f"{len(self._s.thread_ids)} threads" + (f", {sig.name}" if sig else "") + ">")


class Thread:
    """A thread: tid, name, crashed, registers (dict), signal, frames."""

    def __init__(self, t):
        self._t = t

    @property
    def tid(self) -> int:
        return self._t.tid

    @property
    def name(self) -> str:
        return self._t.name

    @property
    def crashed(self) -> bool:
        return self._t.crashed

    @property
    def registers(self) -> Dict[str, int]:
        return self._t.registers

    @property
    def signal(self):
        return self._t.signal

    @property
    def stop_reason(self) -> str:
        """Why the backtrace ends ("outermost frame", "pc 0", ...)."""
        return self._t.stop_reason

    @property
    def frames(self) -> List["Frame"]:
        return [Frame(self._t.frame(i)) for i in range(self._t.frame_count)]

    def __iter__(self) -> Iterator["Frame"]:
        return iter(self.frames)

    def __repr__(self) -> str:
        return f"<Thread {self.tid} {self.name!r}{' crashed' if self.crashed else ''}>"


class Frame:
    """A frame (inlined calls are frames of their own): pc, function, file, line, module,
    inlined, suspect, how ("context", "cfi", "fp", "scan", "tailcall"), variables, registers."""

    def __init__(self, f):
        self._f = f

    index = property(lambda self: self._f.index)
    pc = property(lambda self: self._f.pc)
    function = property(lambda self: self._f.function)
    file = property(lambda self: self._f.file)
    line = property(lambda self: self._f.line)
    module = property(lambda self: self._f.module)
    module_offset = property(lambda self: self._f.module_offset)
    inlined = property(lambda self: self._f.inlined)
    suspect = property(lambda self: self._f.suspect)
    signal_frame = property(lambda self: self._f.signal_frame)
    how = property(lambda self: self._f.how)

    @property
    def registers(self) -> Optional[Dict[str, Optional[int]]]:
        """The registers the unwinder recovered for this frame (None where unknown)."""
        return self._f.registers

    @property
    def variables(self) -> List["Variable"]:
        """Parameters first, then locals, as gdb's `bt full` lists them."""
        return [Variable(v) for v in self._f.variables]

    def __getitem__(self, name: str) -> "Variable":
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"no variable {name!r} in {self.function}")

    def __repr__(self) -> str:
        where = f" at {self.file}:{self.line}" if self.file else ""
        return f"<Frame #{self.index} {self.function or '??'}{where}>"


class Variable:
    """A parameter or local: name, kind, type, text (rendered like gdb), value (a walkable
    Value, None when optimized out or unreadable), optimized_out, error, address."""

    def __init__(self, v):
        self._v = v

    name = property(lambda self: self._v.name)
    kind = property(lambda self: self._v.kind)
    type = property(lambda self: self._v.type)
    text = property(lambda self: self._v.text)
    entry_value = property(lambda self: self._v.entry_value)
    optimized_out = property(lambda self: self._v.optimized_out)
    error = property(lambda self: self._v.error)
    address = property(lambda self: self._v.address)

    @property
    def value(self) -> Optional["Value"]:
        v = self._v.value
        return None if v is None else Value(v)

    def __repr__(self) -> str:
        return f"<Variable {self.kind} {self.type} {self.name} = {self.text}>"


class Value:
    """A typed value. `value` is the natural Python object (int, float, bool, bytes for char
    arrays; None for aggregates); v["field"], v[index], v.deref() walk it; fields and elements
    iterate; string() reads a C string."""

    def __init__(self, v):
        self._v = v

    type = property(lambda self: self._v.type)
    kind = property(lambda self: self._v.kind)
    size = property(lambda self: self._v.size)
    address = property(lambda self: self._v.address)
    bytes = property(lambda self: self._v.bytes)
    value = property(lambda self: self._v.value)
    enumerator = property(lambda self: self._v.enumerator)

    @property
    def fields(self) -> Dict[str, "Value"]:
        return {n: Value(self._v.field(n)) for n in self._v.field_names}

    @property
    def elements(self) -> List["Value"]:
        return [Value(self._v.element(i)) for i in range(self._v.element_count)]

    def __len__(self) -> int:
        return self._v.element_count

    def __getitem__(self, key: Union[str, int]) -> "Value":
        if isinstance(key, str):
            return Value(self._v.field(key))
        n = self._v.element_count
        if key < 0 and n:
            key += n
        return Value(self._v.element(key))

    def deref(self) -> "Value":
        """The object a pointer or reference refers to, read from the target now."""
        return Value(self._v.deref())

    def string(self, max_length: int = 4096) -> bytes:
        """The C string at a char pointer or in a char array (up to NUL or max_length)."""
        return self._v.string(max_length)

    def __int__(self) -> int:
        v = self.value
        if not isinstance(v, (int, bool)):
            raise TypeError(f"a {self.type} is not an integer")
        return int(v)

    def __float__(self) -> float:
        v = self.value
        if not isinstance(v, (int, float)):
            raise TypeError(f"a {self.type} is not a number")
        return float(v)

    def __repr__(self) -> str:
        at = f" at {self.address:#x}" if self.address is not None else ""
        v = self.value
        shown = f" = {v!r}" if v is not None else ""
        return f"<Value {self.type}{at}{shown}>"
