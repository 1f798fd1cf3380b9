"""btengine: the crash-capture and debugging engine as a Python library.

Open a core file, a snapshot or a live process and walk its threads, frames, variables and
values (``core_path``/``exe_path``: a core of the ``vars_c`` test fixture and its executable)::

    >>> import btengine
    >>> with btengine.open(core_path, exe=exe_path) as proc:
    ...     frame = next(f for f in proc.crashed_thread.frames if f.function == "vc_middle")
    ...     rect = frame["r"].value                          # a struct rect
    ...     print(frame.function, rect["tags"][2].value, rect["name"].string())
    ...     print(frame["h"].value.r.name.string())         # members through a pointer
    ...     print(proc["g_rect"].tl, proc.type("struct rect").size)     # globals, types
    vc_middle 30 b'box'
    b'global'
    {x = 1, y = 2} 44

Objects stay valid only while their Process is open; afterwards they raise ClosedError (a
Process stays open as long as any object taken from it is referenced, until it is closed or its
``with`` block ends). Errors: FileNotFoundError, IsADirectoryError or OSError (paths),
PermissionError, ProcessLookupError, FormatError (bad or truncated input; a ValueError),
btengine.MemoryError (memory that cannot be read: its .address, .size and whether it is .mapped
but not captured; a FormatError and a LookupError), KeyError/IndexError/TypeError (no such
variable, type, field or key, index out of range, wrong kind of value) and ValueError (other
misuse); btengine's own derive from btengine.Error.
"""

from __future__ import annotations

import builtins
import errno
import operator
import os
import stat
import threading
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

from . import _containers, _printers
from ._errors import ClosedError, Error, FormatError, MemoryError

if TYPE_CHECKING:
    from . import _btengine

__all__ = ["open", "attach", "capture", "container_of", "Process", "Thread", "Frame", "Variable",
           "Value", "Variant", "Type", "Field", "Symbol", "Module", "Region", "Signal", "Instruction",
           "Analysis", "Classification", "CaptureResult", "Error", "FormatError", "ClosedError",
           "MemoryError", "__version__"]

_CLOSED_MESSAGE = "the target is closed (the Process was closed or its `with` block ended)"

_extension: Any = None


def _engine() -> Any:
    """The C++ extension, loaded on first use: `import btengine` alone costs no more than a
    small pure-Python package (the extension brings LLVM's libraries with it)."""
    global _extension
    if _extension is None:
        from . import _btengine
        _extension = _btengine
    return _extension


def __getattr__(name: str) -> Any:
    if name == "__version__":  # CMakeLists.txt project(VERSION), the one place it is set
        return _engine().__version__
    raise AttributeError(f"module 'btengine' has no attribute {name!r}")


PathLike = Union[str, "os.PathLike[str]"]


def open(path: PathLike, exe: Optional[PathLike] = None,
         debug_dirs: Sequence[PathLike] = (), *, allow_mismatch: bool = False,
         symbols: Sequence[PathLike] = (), offline: bool = False) -> "Process":
    """Open a btengine snapshot (.btsnap), an ELF core file or a minidump (Breakpad/Crashpad).

    `exe`: the core's executable, when the path recorded in the core has moved (ignored for
    snapshots); `debug_dirs`: extra directories searched for separate debug files
    (DIR/.build-id/xx/rest.debug); `symbols`: Breakpad symbol stores (NAME/DEBUGID/NAME.sym)
    or .sym files, for modules without DWARF (a minidump's, typically). Executables and debug
    files missing here are fetched by build-id from the debuginfod servers in DEBUGINFOD_URLS
    (when it is set), unless `offline`. A module whose file here is another build than the process
    ran (its build-id differs: `Module.mismatch`) gets no symbols, and its frames only a
    module offset (`Frame.build_id_mismatch`); `allow_mismatch=True` uses that file anyway.
    Use the result as a context manager::

        >>> with btengine.open(core_path, exe=exe_path) as proc:
        ...     print(proc.kind, proc.signal.name if proc.signal else None)
        core SIGSEGV

    Raises FileNotFoundError (no such file, or the executable is missing), FormatError (not a
    core, snapshot or minidump, or truncated) or PermissionError.
    """
    _check_file(os.fspath(path), "a snapshot, core or minidump")
    if exe:
        _check_file(os.fspath(exe), "an executable")
    return Process(_engine().Session.open_file(os.fspath(path), os.fspath(exe) if exe else "",
                                             bool(allow_mismatch),
                                             [os.fspath(d) for d in debug_dirs],
                                             [os.fspath(s) for s in symbols], bool(offline)))


def _check_file(path: str, what: str) -> None:
    """The OSError a path deserves before the engine reads it: a directory is
    IsADirectoryError, a FIFO, socket or device is refused (reading a FIFO would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"Is a directory, not a regular file (expected {what} file)",
                                path)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device")
        raise OSError(errno.EINVAL, f"{kind}, not a regular file (expected {what} file)", path)


def attach(pid: int, debug_dirs: Sequence[PathLike] = (), *,
           symbols: Sequence[PathLike] = (), offline: bool = False) -> "Process":
    """Freeze a live process (PTRACE_SEIZE) and read it.

    Use it as a context manager: the process runs on when the block ends, normally or by an
    exception (and, the kernel seeing to it, when this interpreter dies)::

        >>> with btengine.attach(pid) as proc:                # doctest: +SKIP
        ...     for t in proc.threads:
        ...         print(t.tid, t.name, t.frames[0].function)

    Raises ProcessLookupError (no such process), PermissionError (ptrace not allowed) or
    ValueError (pid <= 0, or this interpreter's own pid).
    """
    return Process(_engine().Session.attach(int(pid), [os.fspath(d) for d in debug_dirs],
                                            [os.fspath(s) for s in symbols], bool(offline)))


def capture(pid: int, path: PathLike, *, variables: bool = True,
            all_threads: bool = True, max_stack_bytes: int = 512 * 1024,
            redact_env: bool = True, attributes: Optional[Dict[str, str]] = None,
            debug_dirs: Sequence[PathLike] = (), writable_memory: bool = False,
            max_memory_bytes: int = 0, keep_stopped: bool = False,
            symbols: Sequence[PathLike] = ()) -> "CaptureResult":
    """Take a snapshot of live process `pid` into the file `path` (what `bt snapshot` does):
    freeze it, copy its registers and stacks, let it run on, unwind and read variables, write
    the file. What was read from its writable memory after it ran on (heap objects behind
    pointers) is marked (Variable.read_after_release); `keep_stopped` keeps it stopped until
    everything is read instead.

    `attributes` are stored in the snapshot (Process.attributes when it is opened);
    `redact_env` replaces environment values by hashes; `writable_memory` also keeps the
    process's heap and data (what plugins read), within `max_memory_bytes` (0: 64 MiB). Open the
    result with btengine.open()::

        >>> r = btengine.capture(pid, "/tmp/x.btsnap", attributes={"build": "42"})  # doctest: +SKIP
        >>> btengine.open(r.path).attributes                                       # doctest: +SKIP
        {'build': '42'}
    """
    size, stopped = _engine().capture(int(pid), os.fspath(path), variables, all_threads,
                                    int(max_stack_bytes), redact_env,
                                    list((attributes or {}).items()),
                                    [os.fspath(d) for d in debug_dirs], bool(writable_memory),
                                    int(max_memory_bytes), bool(keep_stopped),
                                    [os.fspath(s) for s in symbols])
    return CaptureResult(os.fspath(path), size, stopped)


class CaptureResult:
    """Where a snapshot went (`path`), its `size` in bytes and how long the process was
    stopped (`stopped_ms`)."""

    def __init__(self, path: str, size: int, stopped_ms: float) -> None:
        self.path: str = path
        self.size: int = size
        self.stopped_ms: float = stopped_ms

    def __repr__(self) -> str:
        return f"<CaptureResult {self.path} {self.size} bytes, stopped {self.stopped_ms:.1f} ms>"


class Signal(NamedTuple):
    """A signal: its `number` and `name` ("SIGSEGV"), `code` (si_code) and its name
    (`code_name`, "SEGV_MAPERR"; None when Linux defines none for that signal, or the source
    did not record it), fault `address`
    (None for signals without one) and `sender_pid` (None unless sent by a process)."""

    number: int
    name: str
    code: int
    address: Optional[int]
    sender_pid: Optional[int]
    code_name: Optional[str] = None


@dataclass(frozen=True)
class Instruction:
    """The instruction at the crashed thread's pc, decoded from its bytes (a snapshot keeps them):
    `pc`, `text` (Intel syntax), `length`, `access` ("none", "read", "write", "read_write",
    "block_move", "call", "jump", "return", "privileged", "trap"), `size` (bytes of the memory
    operand or None), `base`, `index`, `scale`, `displacement`, `segment` (the memory operand),
    `address` (the effective address from the registers, or None), `branch_target` and
    `description` ("write of 8 bytes at 0x18")."""

    pc: int
    text: str
    length: int
    access: str
    size: Optional[int]
    base: Optional[str]
    index: Optional[str]
    scale: Optional[int]
    displacement: int
    segment: Optional[str]
    address: Optional[int]
    branch_target: Optional[int]
    description: str


@dataclass(frozen=True)
class Classification:
    """One finding of the analysis (docs/analysis.md): `kind` ("null-deref", "stack-overflow",
    "uncaught-exception", ...), `severity` ("exploitable", "probably_exploitable",
    "probably_not_exploitable", "unknown"), the `rule` that fired, a one-line `reason`,
    `breakpad_rating` ("HIGH", "INTERESTING", "NONE") and the `evidence` the rule used, as
    (fact, value) pairs in order."""

    kind: str
    severity: str
    rule: str
    reason: str
    breakpad_rating: str
    evidence: Tuple[Tuple[str, str], ...]

    def fact(self, name: str) -> Optional[str]:
        """The value of one piece of evidence, or None."""
        return next((v for k, v in self.evidence if k == name), None)


@dataclass(frozen=True)
class Analysis:
    """What the engine concludes about a crash: the fault's classification (`fault`, None when
    nothing crashed) and any further `classifications`, the `fingerprint` and its frames, and the
    crashed thread's `instruction`. `kind`, `severity` and `reason` are the fault's."""

    classifications: Tuple[Classification, ...]
    fingerprint: str
    fingerprint_frames: Tuple[str, ...]
    instruction: Optional[Instruction]

    @property
    def fault(self) -> Optional[Classification]:
        return self.classifications[0] if self.classifications else None

    @property
    def kind(self) -> Optional[str]:
        return self.fault.kind if self.fault else None

    @property
    def severity(self) -> Optional[str]:
        return self.fault.severity if self.fault else None

    @property
    def reason(self) -> Optional[str]:
        return self.fault.reason if self.fault else None


def _signal(ns: Any) -> Optional[Signal]:
    if ns is None:
        return None
    return Signal(ns.number, ns.name, ns.code, ns.address, ns.sender_pid, ns.code_name)


class Module:
    """A loaded module: `path`, `build_id` (hex: the build the process ran), `file_build_id`
    (the build of the file at `path` on this machine, "" if missing), `mismatch` (the two
    differ: the file is not used unless opened with allow_mismatch=True, then
    `mismatch_allowed`), `start`/`end` addresses, `load_bias` and whether it is the `main`
    executable."""

    def __init__(self, ns: Any) -> None:
        self.path: str = ns.path
        self.build_id: str = ns.build_id
        self.file_build_id: str = ns.file_build_id
        self.mismatch: bool = ns.mismatch
        self.mismatch_allowed: bool = ns.mismatch_allowed
        self.start: int = ns.start
        self.end: int = ns.end
        self.load_bias: int = ns.load_bias
        self.main: bool = ns.main

    def __repr__(self) -> str:
        flag = " (build-id mismatch)" if self.mismatch else ""
        return f"<Module {self.path} {self.start:#x}-{self.end:#x}{flag}>"


class Region:
    """A memory mapping: `start`, `end`, `perms` ("r-xp"), file `offset` and `path`."""

    def __init__(self, ns: Any) -> None:
        self.start: int = ns.start
        self.end: int = ns.end
        self.perms: str = ns.perms
        self.offset: int = ns.offset
        self.path: str = ns.path

    def __repr__(self) -> str:
        return f"<Region {self.start:#x}-{self.end:#x} {self.perms} {self.path}>"


class Process:
    """An open target: a snapshot, a core file or a frozen live process.

    Made by open() and attach(); close() (or the end of the ``with`` block) releases it, after
    which it and every Thread, Frame, Variable and Value taken from it raise ClosedError.
    """

    def __init__(self, session: _btengine.Session) -> None:
        self._s = session
        # Held around the engine calls that run without the GIL (memory reads) and around
        # close(), so that a close() from another thread waits for them to finish.
        self._lock = threading.RLock()

    def _live(self) -> _btengine.Session:
        if self._s.closed:
            raise ClosedError(_CLOSED_MESSAGE)
        return self._s

    # Lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the target (a live process runs on); every object from it becomes invalid.
        Closing twice is harmless."""
        with self._lock:
            self._s.close()

    @property
    def closed(self) -> bool:
        """True once close() was called (or the ``with`` block ended)."""
        return self._s.closed

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # Facts --------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """"snapshot", "core", "minidump" or "live"."""
        return self._live().kind

    @property
    def pid(self) -> int:
        """The process id (for cores and snapshots: of the process they were taken from)."""
        return self._live().pid

    @property
    def executable(self) -> str:
        """The executable's path as the target knew it."""
        return self._live().executable

    @property
    def command_line(self) -> List[str]:
        """argv of the process."""
        return self._live().command_line

    @property
    def signal(self) -> Optional[Signal]:
        """The fatal signal of a core or snapshot (None for a live process)."""
        return _signal(self._live().signal)

    @property
    def instruction(self) -> Optional[Instruction]:
        """The crashed thread's instruction and the access it makes (None when no thread
        crashed or its pc holds no readable, valid instruction, e.g. after a jump to 0)."""
        ns = self._live().instruction
        if ns is None:
            return None
        return Instruction(ns.pc, ns.text, ns.length, ns.access, ns.size, ns.base, ns.index,
                           ns.scale, ns.displacement, ns.segment, ns.address, ns.branch_target,
                           ns.description)

    @property
    def analysis(self) -> Analysis:
        """The analysis of the crash (docs/analysis.md): fault class, severity, reason and
        evidence, fingerprint, instruction. A snapshot's is the one stored when it was taken, so
        it needs no binaries; for cores, minidumps and live processes it is computed."""
        s = self._live()
        cls = tuple(Classification(c.kind, c.severity, c.rule, c.reason, c.breakpad_rating,
                                   tuple(tuple(e) for e in c.evidence))
                    for c in s.classifications)
        return Analysis(cls, s.fingerprint, tuple(s.fingerprint_frames), self.instruction)

    @property
    def attributes(self) -> Dict[str, str]:
        """User attributes stored in a snapshot (empty for cores and live processes)."""
        return self._live().attributes

    @property
    def fingerprint(self) -> str:
        """The crash fingerprint (16 hex digits): the signal and the crashed thread's top frames
        of the program's own code, so the same bug groups together across runs and hosts. A
        snapshot's is the one stored when it was taken; for cores, minidumps and live processes it
        is computed from the backtraces."""
        return self._live().fingerprint

    @property
    def warnings(self) -> List[str]:
        """What the source and its files contradicted or lacked (a damaged note, a missing debug
        file, corrupt DWARF, ...): part of the result, not only of stderr."""
        return list(self._live().warnings)

    @property
    def partial(self) -> bool:
        """The source is incomplete (a truncated core, a missing or mismatched executable):
        what could be read is here, and `warnings` say what is missing."""
        return self._live().partial

    @property
    def fingerprint_frames(self) -> List[str]:
        """The frames the fingerprint hashes, as ``module!function``."""
        return list(self._live().fingerprint_frames)

    @property
    def threads(self) -> List["Thread"]:
        """Every thread, as bt lists them: the crashed thread first, then the others by tid."""
        s = self._live()
        crashed = s.crashed_tid
        tids = sorted(s.thread_ids, key=lambda t: (t != crashed, t))
        return [Thread(self, s.thread(t)) for t in tids]

    def thread(self, tid: int) -> "Thread":
        """The thread `tid` (KeyError if there is none)."""
        return Thread(self, self._live().thread(int(tid)))

    @property
    def crashed_thread(self) -> Optional["Thread"]:
        """The thread that received the fatal signal (None for a live process)."""
        tid = self._live().crashed_tid
        return None if tid is None else self.thread(tid)

    @property
    def modules(self) -> List[Module]:
        """The loaded modules (executable and shared libraries)."""
        return [Module(m) for m in self._live().modules]

    @property
    def regions(self) -> List[Region]:
        """The memory mappings (for a snapshot: those it recorded)."""
        return [Region(r) for r in self._live().regions]

    def read(self, address: int, size: int) -> bytes:
        """`size` bytes of target memory at `address`; FormatError if any of them is
        unreadable (unmapped, or not captured in a snapshot), ValueError for a negative address
        or size or more than 64 MiB."""
        address, size = int(address), int(size)
        if address < 0 or size < 0 or address + size > 1 << 64:
            raise ValueError(f"bad memory range: {size} bytes at {address:#x}")
        with self._lock:
            return self._live().read(address, size)

    def report(self, json: bool = False, variables: bool = False,
               plugins: Optional[Dict[str, Any]] = None) -> str:
        """What bt prints for this target: `bt show FILE` for a snapshot, `bt CORE` for a core
        or minidump, `bt PID` for a live process; with `json` the btengine.backtrace/2 document
        (docs/json-output.md), with `variables` every frame's parameters and locals, with
        `plugins` (btengine.plugins.report()'s document) as bt prints it with those plugins."""
        import json as json_module
        doc = None if plugins is None else json_module.dumps(plugins)
        with self._lock:
            return str(self._live().report(bool(json), bool(variables), doc))

    # The program: variables, types, symbols ------------------------------------------------
    def variable(self, name: str, file: Optional[PathLike] = None,
                 thread: Optional[int] = None) -> "Variable":
        """A variable with static storage by name: a global, a file or function static
        ("function::name"), a class static ("Class::name"), a thread-local (read in `thread`,
        default the crashed or first thread; a shared library's found through glibc's link_map),
        in any module (the executable first). `file` picks among file statics of the same name: the compile unit's source path
        ends with it. KeyError if the debug information has no such variable::

            >>> with btengine.open(core_path, exe=exe_path) as proc:
            ...     print(proc.variable("g_counter").text, proc.variable("vc_middle::call_count").text)
            1234 78
        """
        v = self._live().variable(str(name), os.fspath(file) if file else "",
                                  int(thread) if thread else 0)
        return Variable(self, v)

    def __getitem__(self, name: str) -> "Value":
        """``proc["name"]``: the Value of a variable with static storage (see variable());
        KeyError if there is none, FormatError if it cannot be read."""
        var = self.variable(name)
        value = var.value
        if value is None:
            raise FormatError(f"{name}: {var.text}")
        return value

    def type(self, name: str) -> "Type":
        """A type by name as C/C++ spell it: "struct Job", "Job", "unsigned long", "char **",
        "std::vector<int>" (template arguments left at their defaults may be omitted). KeyError
        if no module's debug information defines it."""
        return Type(self, self._live().type(str(name)))

    def _type(self, t: Union[str, "Type"]) -> "Type":
        return t if isinstance(t, Type) else self.type(t)

    def value(self, type: Union[str, "Type"], address: int) -> "Value":
        """The object of `type` (a Type or its name) at `address`, read now (drgn's
        ``Object(prog, type, address=...)``); btengine.MemoryError if it cannot be read."""
        t = self._type(type)
        with self._lock:
            return Value(self, self._live().value(t._t, int(address)))

    def pointer(self, type: Union[str, "Type"], address: int) -> "Value":
        """A pointer Value of type ``type *`` holding `address` (nothing is read until it is
        dereferenced)."""
        pt = self._type(type).pointer()
        return Value(self, self._live().make_value(pt._t, (int(address) % (1 << 64)).to_bytes(8, "little")))

    def symbol(self, address: int) -> Optional["Symbol"]:
        """The ELF symbol holding `address`: a function for code addresses, else a data object
        (None when no symbol does)."""
        ns = self._live().symbol(int(address))
        if ns is None:
            return None
        return Symbol(ns.name, ns.address, ns.size, ns.offset, ns.module,
                      "function" if ns.function else "object")

    def address_of(self, name: str) -> int:
        """The address of a variable (as variable() finds it), a function or a data symbol
        (ELF symbol names, as the linker sees them). KeyError if there is none."""
        return int(self._live().address_of(str(name)))

    def __repr__(self) -> str:
        if self._s.closed:
            return "<Process (closed)>"
        sig = self.signal
        return (f"<Process {self.kind} pid {self.pid} {self.executable!r}, "
                f"{len(self._s.thread_ids)} threads" + (f", {sig.name}" if sig else "") + ">")


class Thread:
    """A thread: `tid`, `name`, `crashed`, `registers`, `signal`, `frames` (innermost first).
    Iterating a Thread iterates its frames."""

    def __init__(self, process: Process, t: _btengine.Thread) -> None:
        self._p = process
        self._t = t

    def _live(self) -> _btengine.Thread:
        self._p._live()
        return self._t

    @property
    def process(self) -> Process:
        """The Process this thread belongs to."""
        return self._p

    @property
    def tid(self) -> int:
        """The thread id."""
        return self._live().tid

    @property
    def name(self) -> Optional[str]:
        """The thread's name (/proc/PID/task/TID/comm); None where unknown (cores only know the
        main thread's name)."""
        return self._live().name or None

    @property
    def crashed(self) -> bool:
        """This thread received the fatal signal."""
        return self._live().crashed

    @property
    def registers(self) -> Dict[str, int]:
        """The thread's general-purpose registers (rip, rsp, rbp, rax, ..., fs_base)."""
        return self._live().registers

    @property
    def signal(self) -> Optional[Signal]:
        """The signal pending for this thread, or None."""
        return _signal(self._live().signal)

    @property
    def stop_reason(self) -> str:
        """Why the backtrace ends ("outermost frame", "stack pointer did not increase", ...)."""
        return self._live().stop_reason

    @property
    def frames(self) -> List["Frame"]:
        """The frames, innermost first; inlined calls are frames of their own."""
        t = self._live()
        return [Frame(self._p, t.frame(i), self) for i in range(t.frame_count)]

    def __iter__(self) -> Iterator["Frame"]:
        return iter(self.frames)

    def __repr__(self) -> str:
        if self._p.closed:
            return "<Thread (closed)>"
        return f"<Thread {self.tid} {self.name!r}{' crashed' if self.crashed else ''}>"


class Frame:
    """A frame (inlined calls are frames of their own): pc, function, file, line, module,
    inlined, suspect, how ("context", "cfi", "fp", "scan", "tailcall"), variables, registers.
    ``frame["name"]`` is the Variable of that name."""

    def __init__(self, process: Process, f: _btengine.Frame, thread: Optional[Thread] = None) -> None:
        self._p = process
        self._f = f
        self._thread = thread

    @property
    def thread(self) -> Optional[Thread]:
        """The Thread this frame is in (None for a frame not reached through a Thread)."""
        return self._thread

    def _live(self) -> _btengine.Frame:
        self._p._live()
        return self._f

    @property
    def index(self) -> int:
        """Position in the thread's list, inlined frames included (as gdb numbers frames)."""
        return self._live().index

    @property
    def pc(self) -> int:
        """The frame's pc: the current pc for frame 0 (and frames a signal interrupted), else
        the return address."""
        return self._live().pc

    @property
    def function(self) -> Optional[str]:
        """The function's name, demangled, without parameters; "<signal handler called>" for
        the signal trampoline; None when unknown."""
        return self._live().function

    @property
    def file(self) -> Optional[str]:
        """The source file (None without line information)."""
        return self._live().file

    @property
    def line(self) -> Optional[int]:
        """The source line (None without line information)."""
        return self._live().line

    @property
    def module(self) -> Optional[str]:
        """Path of the module holding the pc."""
        return self._live().module

    @property
    def module_offset(self) -> int:
        """pc minus the module's load bias (``addr2line -e MODULE OFFSET`` works)."""
        return self._live().module_offset

    @property
    def inlined(self) -> bool:
        """An inlined call inside the next frame's function (it shares that frame's pc)."""
        return self._live().inlined

    @property
    def suspect(self) -> bool:
        """Found by a heuristic (frame pointers or a stack scan): may be wrong."""
        return self._live().suspect

    @property
    def signal_frame(self) -> bool:
        """The signal trampoline (__restore_rt)."""
        return self._live().signal_frame

    @property
    def build_id_mismatch(self) -> bool:
        """The module's file here is another build than the process ran: without
        allow_mismatch the frame has no function or source; with it the names may be wrong."""
        return self._live().build_id_mismatch

    @property
    def how(self) -> str:
        """How the frame was found: "context", "cfi", "fp", "scan" or "tailcall"."""
        return self._live().how

    @property
    def registers(self) -> Optional[Dict[str, Optional[int]]]:
        """The registers the unwinder recovered for this frame (a value of None: unknown);
        None when the frame has none of its own."""
        return self._live().registers

    @property
    def variables(self) -> List["Variable"]:
        """Parameters first, then locals, as gdb's `bt full` lists them (empty for frames
        without debug information)."""
        return [Variable(self._p, v, self) for v in self._live().variables]

    def __getitem__(self, name: str) -> "Variable":
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"no variable {name!r} in {self.function}")

    def __repr__(self) -> str:
        if self._p.closed:
            return "<Frame (closed)>"
        where = f" at {self.file}:{self.line}" if self.file else ""
        return f"<Frame #{self.index} {self.function or '??'}{where}>"


class Variable:
    """A parameter or local: name, kind ("param"/"local"), type, text (rendered as gdb and
    `bt --vars` print it), value (a walkable Value; None when optimized out, unreadable or not
    walkable), optimized_out, error, entry_value, address."""

    def __init__(self, process: Process, v: _btengine.Variable, frame: Optional[Frame] = None) -> None:
        self._p = process
        self._v = v
        self._frame = frame

    @property
    def frame(self) -> Optional[Frame]:
        """The Frame this variable is in (None for a global)."""
        return self._frame

    def _live(self) -> _btengine.Variable:
        self._p._live()
        return self._v

    @property
    def name(self) -> str:
        """The variable's name."""
        return self._live().name

    @property
    def kind(self) -> str:
        """"param" or "local"."""
        return self._live().kind

    @property
    def type(self) -> str:
        """The C/C++ type name ("struct rect *")."""
        return self._live().type

    @property
    def text(self) -> str:
        """The value rendered as `bt --vars` (and gdb) print it."""
        return self._live().text

    @property
    def entry_value(self) -> Optional[str]:
        """Parameters: the rendered value at function entry (gdb's x@entry), when known."""
        return self._live().entry_value

    @property
    def optimized_out(self) -> bool:
        """The compiler left no location for this pc (or the register was not recovered)."""
        return self._live().optimized_out

    @property
    def highlighted(self) -> Optional[str]:
        """Why the crash analysis points at this variable ("its value is the fault address",
        ...), or None: the crashed thread's variables that hold the bad pointer are marked."""
        return self._live().highlighted

    @property
    def error(self) -> bool:
        """The value could not be read (the message is in `text`)."""
        return self._live().error

    @property
    def read_after_release(self) -> bool:
        """Part of the value was read from a live process after bt let it run on (a snapshot's
        heap objects behind pointers, say): the running process's state, not the frozen one."""
        return self._live().read_after_release

    @property
    def address(self) -> Optional[int]:
        """Where the variable lives in memory, when it does."""
        return self._live().address

    @property
    def value(self) -> Optional["Value"]:
        """The walkable Value, or None (optimized out, unreadable, or a snapshot read without
        its binaries)."""
        v = self._live().value
        return None if v is None else Value(self._p, v)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        if self._p.closed:
            return "<Variable (closed)>"
        return f"<Variable {self.kind} {self.type} {self.name} = {self.text}>"


class Symbol(NamedTuple):
    """An ELF symbol: `name` (demangled as gdb shows it), runtime `address`, `size`, the
    `offset` of the address asked about from its start, the `module`'s path and `kind`
    ("function" or "object")."""

    name: str
    address: int
    size: int
    offset: int
    module: str
    kind: str

    def __str__(self) -> str:
        return f"{self.name}+{self.offset}" if self.offset else self.name


class Field(NamedTuple):
    """A member of a struct, class or union: `name` (base classes as "<Base>"), `offset` in
    bytes, `bit_offset`/`bit_size` (bit-fields; bit_size 0 otherwise), `is_base` and `type`."""

    name: str
    offset: int
    bit_offset: int
    bit_size: int
    is_base: bool
    type: "Type"


class Type:
    """A type from the debug information (Process.type(), Value.type_info): `name` as C/C++
    write it, `kind`, `size`, `fields`, `target` (what a pointer points to, an array holds, a
    typedef names), `length` (array elements), `enumerators`, `template_args`; pointer() is
    ``T *``; offsetof("a.b") is a member's offset. Equal Types are the same type."""

    def __init__(self, process: "Process", t: "_btengine.Type") -> None:
        self._p = process
        self._t = t

    @property
    def name(self) -> str:
        """The type's name ("struct rect", "u32", "std::vector<int, std::allocator<int> >")."""
        return str(self._t.name)

    @property
    def kind(self) -> str:
        """As Value.kind (typedefs and qualifiers resolved)."""
        return str(self._t.kind)

    @property
    def size(self) -> int:
        """sizeof, in bytes."""
        return int(self._t.size)

    @property
    def length(self) -> Optional[int]:
        """An array's number of elements (None for other types or an unknown bound)."""
        n = self._t.length
        return None if n is None else int(n)

    @property
    def target(self) -> Optional["Type"]:
        """The pointee, element, aliased type (typedef, const) or an enum's underlying type."""
        t = self._t.target
        return None if t is None else Type(self._p, t)

    @property
    def unaliased(self) -> "Type":
        """The type with typedefs and qualifiers stripped."""
        return Type(self._p, self._t.unaliased)

    @property
    def is_alias(self) -> bool:
        """A typedef or a cv-qualified type (the structure is in `target`)."""
        return bool(self._t.is_alias)

    @property
    def fields(self) -> List[Field]:
        """Members in declaration order, base classes first."""
        return [Field(f.name, f.offset, f.bit_offset, f.bit_size, f.is_base, Type(self._p, f.type))
                for f in self._t.fields]

    @property
    def enumerators(self) -> List[Tuple[str, int]]:
        """An enum's (name, value) pairs."""
        return [(str(n), int(v)) for n, v in self._t.enumerators]

    @property
    def template_args(self) -> List["Type"]:
        """A class template instance's type arguments (std::map<K, V, ...>: K, V, ...)."""
        return [Type(self._p, t) for t in self._t.template_args]

    def pointer(self) -> "Type":
        """``T *``."""
        return Type(self._p, self._t.pointer())

    def member(self, name: str, _depth: int = 0) -> Field:
        """A member by name, searched in anonymous members and base classes too (KeyError)."""
        for f in self.unaliased.fields:
            if f.name == name:
                return f
        for f in self.unaliased.fields:
            if (f.name == "" or f.is_base) and _depth < 32:  # bounded: hostile DWARF may loop
                try:
                    inner = f.type.member(name, _depth + 1)
                except KeyError:
                    continue
                return inner._replace(offset=inner.offset + f.offset)
        raise KeyError(f"{self.name} has no member named {name}")

    def offsetof(self, member: str) -> int:
        """The offset of a member, "a.b.c" for nested ones and "a[3]" for array elements."""
        t, offset = self, 0
        for part in member.replace("]", "").split("."):
            name, _, index = part.partition("[")
            f = t.member(name)
            offset += f.offset
            t = f.type
            if index:
                elem = t.unaliased.target
                if elem is None or t.kind != "array":
                    raise TypeError(f"{name} is not an array")
                offset += int(index) * elem.size
                t = elem
        return offset

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and bool(self._t.same(other._t))

    def __hash__(self) -> int:
        return hash((self.name, self.size))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Type {self.name} ({self.size} bytes)>"


_SCALAR_KINDS = ("base", "enum", "pointer")


class Variant(NamedTuple):
    """A Rust enum's active variant (Value.variant): its `name` ("Some", "Err", "Rect") and its
    `value`, the variant's struct: the fields of a tuple variant are ``__0``, ``__1``, ...,
    those of a struct variant their names (a variant without data has none)."""

    name: str
    value: "Value"


class Value:
    """A typed value, like drgn's Object. `value` is the natural Python object (int for
    integers, enums, pointers and references (their address); float; bool; bytes for char
    arrays; None for aggregates); ``str(v)`` renders it as gdb's ``print`` does.

    Walk it with ``v["field"]`` or ``v.field_name`` (through pointers too: ``job.next.id``),
    ``v[i]`` (arrays and pointers), ``v.deref()``, ``v + n`` (pointers); compute with
    ``cast()``, ``reinterpret()``, ``address_of()``; compare and convert with ``==``, ``<``,
    ``int()``, ``float()``, ``bool()`` (scalars). A C++ standard container (vector, map,
    unordered_map, list, deque, set, string, unique_ptr, shared_ptr, optional, variant, ...) or
    a Rust one (String, &str, Vec, VecDeque, slices, HashMap, HashSet, BTreeMap, BTreeSet, Box,
    Rc, Arc, Cell, RefCell, Option, ...) is walked as Python walks its own: ``len(v)``,
    ``iter(v)``, ``v[i]``, ``v["key"]``, ``v.items()``, ``v.get()``; its raw members stay
    reachable with ``v.field("name")``. A Rust enum tells its active variant: ``v.variant``."""

    def __init__(self, process: Process, v: "_btengine.Value") -> None:
        self._p = process
        self._v = v
        self._view: Any = False  # the container view, computed on first use

    def _live(self) -> "_btengine.Value":
        self._p._live()
        return self._v

    def _wrap(self, v: "_btengine.Value") -> "Value":
        return Value(self._p, v)

    @property
    def type(self) -> str:
        """The type's name."""
        return str(self._live().type)

    @property
    def type_info(self) -> Type:
        """The Type itself (fields, size, target, template_args, ...)."""
        return Type(self._p, self._live().type_info)

    @property
    def kind(self) -> str:
        """"base", "pointer", "reference", "rvalue_reference", "struct", "class", "union",
        "enum", "array", "function", "pointer_to_member", "void" or "unknown" (typedefs and
        qualifiers resolved)."""
        return str(self._live().kind)

    @property
    def size(self) -> int:
        """The size in bytes."""
        return int(self._live().size)

    @property
    def address(self) -> Optional[int]:
        """Where the value lives in target memory (None for registers, bit fields, computed
        values, ...)."""
        a = self._live().address
        return None if a is None else int(a)

    @property
    def bytes(self) -> builtins.bytes:
        """The value's bytes."""
        return builtins.bytes(self._live().bytes)

    @property
    def value(self) -> Union[int, float, bool, builtins.bytes, None]:
        """The natural Python object: int, float, bool, bytes (char arrays) or None."""
        v: Union[int, float, bool, builtins.bytes, None] = self._live().value
        return v

    @property
    def enumerator(self) -> Optional[str]:
        """For an enum: the name of the enumerator equal to the value ("GREEN"), else None."""
        e = self._live().enumerator
        return None if e is None else str(e)

    @property
    def variant(self) -> Optional[Variant]:
        """A Rust enum's active variant, as its discriminant says (niche layouts included):
        ``name, payload = v.variant``; None for values that are no Rust enum with data (a C-like
        enum has its `enumerator`). FormatError when the discriminant names no variant (corrupt
        memory, or another type laid over it), never a guess."""
        got = self._live().variant
        if got is None:
            return None
        return Variant(str(got[0]), self._wrap(got[1]))

    @property
    def fields(self) -> Dict[str, "Value"]:
        """Struct, class and union members by name (base classes as "<Base>")."""
        v = self._live()
        return {n: self._wrap(v.field(n)) for n in v.field_names}

    def field(self, name: str) -> "Value":
        """A member by name (of the struct itself, also for containers; through a pointer or
        reference, of what it points to). KeyError if there is none."""
        if self.kind in ("pointer", "reference", "rvalue_reference"):
            return self.deref().field(name)
        if name not in self._live().field_names and isinstance(self.container, _containers.Pointer):
            return self.deref().field(name)  # a unique_ptr<Job>'s job.name
        return self._wrap(self._live().field(name))

    @property
    def elements(self) -> List["Value"]:
        """An array's or a container's elements (empty for other values)."""
        c = self.container
        if isinstance(c, (_containers.Sequence, _containers.Mapping)):
            return list(c)
        v = self._live()
        return [self._wrap(v.element(i)) for i in range(v.element_count)]

    @property
    def container(self) -> Optional[_containers.View]:
        """The view of a C++ or Rust standard container (None for other values): its
        sequence, mapping, string or pointer as Python objects."""
        if self._view is False:
            self._view = _containers.view(self)
        view: Optional[_containers.View] = self._view
        return view

    # Walking ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Elements of an array or a container (0 for other values)."""
        c = self.container
        if c is not None:
            return len(c)
        return int(self._live().element_count)

    def __iter__(self) -> Iterator["Value"]:
        c = self.container
        if c is not None:
            return iter(c)
        if self.kind != "array":
            raise TypeError(f"a {self.type} is not iterable")
        return iter(self.elements)

    def __getitem__(self, key: Union[str, int, "Value"]) -> "Value":
        """A member by name (through pointers), an element by index (arrays, pointers: p[i]
        is *(p + i); negative counts from the end of an array) or a container's element or
        key. KeyError, IndexError, or TypeError for a value without members/elements."""
        c = self.container
        if isinstance(c, _containers.Mapping):
            return c[key]
        if isinstance(key, str):
            if c is not None and not isinstance(c, _containers.Pointer) and \
                    key not in self._live().field_names:
                raise TypeError(f"a {self.type} is a container: v.field({key!r}) for a member")
            return self.field(key)
        index = int(key)
        if isinstance(c, _containers.Sequence):
            return c[index]
        kind = self.kind
        if kind == "array":
            n = int(self._live().element_count)
            if index < 0:
                index += n
                if index < 0:
                    raise IndexError(f"index {key} is out of bounds (the array has {n} elements)")
        elif kind not in ("pointer",):
            raise TypeError(f"a {self.type} has no elements (not an array, pointer or container)")
        with self._p._lock:
            return self._wrap(self._live().index(index))

    def __getattr__(self, name: str) -> "Value":
        # Only for names that are no attribute of Value: its members (job.next.id, and C's
        # reserved ones: mutex.__data.__owner), never Python's protocol names.
        if (name.startswith("__") and name.endswith("__")) or name in ("_p", "_v", "_view"):
            raise AttributeError(name)
        try:
            return self.field(name)
        except (KeyError, TypeError) as e:
            raise AttributeError(f"{self.type} has no member {name!r}") from e

    def deref(self) -> "Value":
        """The object a pointer or reference refers to, read from the target now (for a
        unique_ptr, shared_ptr or optional: the held object). TypeError for values that are not
        pointers (or void/function pointers), btengine.MemoryError for a null or unreadable
        pointer (its `address`, and whether it is mapped but not captured)."""
        c = self.container
        if isinstance(c, _containers.Pointer) and self.kind in ("struct", "class"):
            got = c.get()
            if got is None:
                raise MemoryError(f"{self.type} is empty", 0, 0, False)
            return got
        with self._p._lock:
            return self._wrap(self._live().deref())

    def get(self) -> Optional["Value"]:
        """What a unique_ptr, shared_ptr, weak_ptr or optional holds, or a variant's active
        alternative (Rust: what a Box, Rc, Arc, Cell, RefCell or Option holds; None when
        empty); for a plain pointer, deref() (None when null)."""
        c = self.container
        if isinstance(c, _containers.Pointer):
            return c.get()
        if self.kind == "pointer":
            return None if int(self) == 0 else self.deref()
        raise TypeError(f"a {self.type} holds no object (not a pointer, smart pointer or optional)")

    def items(self) -> Iterator[Tuple["Value", "Value"]]:
        """A std::map's or unordered_map's (key, value) pairs."""
        c = self.container
        if not isinstance(c, _containers.Mapping):
            raise TypeError(f"a {self.type} is not a map")
        return c.items()

    def keys(self) -> List["Value"]:
        """A map's keys."""
        return [k for k, _ in self.items()]

    def values(self) -> List["Value"]:
        """A map's values."""
        return [v for _, v in self.items()]

    def string_view(self) -> Optional[builtins.bytes]:
        """The characters of a std::string/string_view, char array or char pointer, or None
        for other values (no exception)."""
        try:
            return self.string()
        except (TypeError, MemoryError):
            return None

    def string(self, max_length: int = 4096) -> builtins.bytes:
        """The characters of a std::string or string_view (all of them, up to max_length), or
        the C string at a char pointer or in a char array (up to NUL or max_length)."""
        c = self.container
        if isinstance(c, _containers.String):
            return c.bytes(max_length)
        with self._p._lock:
            return builtins.bytes(self._live().string(max_length))

    # Computing -------------------------------------------------------------------------------
    def cast(self, type: Union[str, Type]) -> "Value":
        """C's conversion to a scalar type (integer, float, bool, enum, pointer; arrays decay
        to pointers), as gdb's ``(T) v``. TypeError for aggregates: see reinterpret()."""
        return self._wrap(self._live().cast(self._p._type(type)._t))

    def reinterpret(self, type: Union[str, Type]) -> "Value":
        """The same memory read as another type (``*(T *)&v``); needs an address when the
        new type is larger."""
        with self._p._lock:
            return self._wrap(self._live().reinterpret(self._p._type(type)._t))

    def address_of(self) -> "Value":
        """``&v``: a pointer to this value (TypeError when it is not in memory)."""
        return self._wrap(self._live().address_of())

    def __add__(self, n: int) -> "Value":
        if not isinstance(n, int) or isinstance(n, bool):
            return NotImplemented
        if self.kind != "pointer":
            raise TypeError(f"a {self.type} is not a pointer: use int(v) + n for numbers")
        return self._wrap(self._live().pointer_add(n))

    __radd__ = __add__

    def __sub__(self, other: Union[int, "Value"]) -> Any:
        if isinstance(other, Value):
            # p - q: elements between two pointers of the same type, as in C.
            if self.kind != "pointer" or other.kind != "pointer":
                raise TypeError("only two pointers can be subtracted")
            target = self.type_info.unaliased.target
            step = target.size if target is not None and target.kind != "void" else 1
            return (int(self) - int(other)) // (step or 1)
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return self + (-other)

    def _scalar(self) -> Union[int, float, bool]:
        v = self.value
        if self.kind not in _SCALAR_KINDS + ("reference", "rvalue_reference") or \
                not isinstance(v, (int, float, bool)):
            raise TypeError(f"a {self.type} is not a number")
        return v

    def __int__(self) -> int:
        v = self._scalar()
        return int(v)

    def __index__(self) -> int:
        v = self._scalar()
        if isinstance(v, float):
            raise TypeError(f"a {self.type} is not an integer")
        return int(v)

    def __float__(self) -> float:
        return float(self._scalar())

    def __bool__(self) -> bool:
        """Scalars: their truth (a null pointer is false); aggregates are always true."""
        if self.kind in _SCALAR_KINDS:
            return bool(self.value)
        return True

    def _other(self, other: object) -> Any:
        if isinstance(other, Value):
            return other._scalar()
        if isinstance(other, (int, float)):
            return other
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Value) and (self.kind not in _SCALAR_KINDS or other.kind not in _SCALAR_KINDS):
            return self.type == other.type and self.bytes == other.bytes
        o = self._other(other)
        if o is NotImplemented or self.kind not in _SCALAR_KINDS:
            return False
        return bool(self._scalar() == o)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def _order(self, other: object, op: Callable[[Any, Any], bool]) -> bool:
        o = self._other(other)
        if o is NotImplemented:
            return NotImplemented  # type: ignore[no-any-return]
        return bool(op(self._scalar(), o))

    def __lt__(self, other: object) -> bool:
        return self._order(other, operator.lt)

    def __le__(self, other: object) -> bool:
        return self._order(other, operator.le)

    def __gt__(self, other: object) -> bool:
        return self._order(other, operator.gt)

    def __ge__(self, other: object) -> bool:
        return self._order(other, operator.ge)

    __hash__ = None  # type: ignore[assignment]  # mutable contents, as drgn's Objects

    # Text --------------------------------------------------------------------------------------
    def format(self, depth: int = 8, elements: int = 200, hex: bool = False,
               symbols: bool = True, type_prefix: bool = True, printers: bool = True) -> str:
        """The value as bt and gdb render it: `depth` levels of nested aggregates, `elements`
        per array or container (gdb's print elements), integers in `hex` (print /x), `symbols`
        after pointers ("<g_rect>"), and `type_prefix`: gdb's ``print`` names a pointer's or
        reference's type first ("(struct rect *) 0x..."), `bt --vars` does not. With `printers`,
        the pretty-printers plugins registered (docs/plugins.md) render the types they match,
        here and nested."""
        wants, render = _printers.hooks(self._p) if printers else (None, None)
        with self._p._lock:
            return str(self._live().format(int(depth), int(elements), bool(hex), bool(symbols),
                                           bool(type_prefix), wants, render))

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        if self._p.closed:
            return "<Value (closed)>"
        at = f" at {self.address:#x}" if self.address is not None else ""
        v = self.value
        shown = f" = {v!r}" if v is not None else ""
        return f"<Value {self.type}{at}{shown}>"


def container_of(ptr: Value, type: Union[str, Type], member: str) -> Value:
    """The Linux kernel's container_of: from a pointer to `member` inside a `type`, a pointer to
    the enclosing `type` (``(type *)((char *)ptr - offsetof(type, member))``)."""
    proc = ptr._p
    t = proc._type(type)
    if ptr.kind != "pointer":
        raise TypeError(f"container_of needs a pointer, not a {ptr.type}")
    return proc.pointer(t, int(ptr) - t.offsetof(member))
