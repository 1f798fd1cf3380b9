"""A CPython 3.11 program for the cpython plugin's tests: threads in time.sleep, in a deep recursion
and inside a C extension (json's scanner calling back into Python, which waits); with `crash`
one thread crashes through ctypes (memset to NULL), with `crash-json` one kills itself with SIGSEGV
from inside json's C scanner. Before blocking (or crashing) it writes every thread's Python stack
as CPython itself sees it (sys._current_frames(): qualified name, file, line, innermost first) to
the file named by PY_STACKS_OUT, keyed by native thread id, then prints READY."""

import ctypes
import json
import os
import signal
import sys
import threading
import time

release = threading.Event()
ready = threading.Barrier(4)


def stacks():
    names = {t.ident: t.native_id for t in threading.enumerate()}
    out = {}
    for ident, frame in sys._current_frames().items():
        frames = []
        while frame is not None:
            frames.append([frame.f_code.co_qualname, frame.f_code.co_filename, frame.f_lineno])
            frame = frame.f_back
        # This thread: from write_stacks()'s caller on, the frames it has when it blocks.
        out[str(names[ident])] = frames[2:] if ident == threading.get_ident() else frames
    return out


def write_stacks():
    with open(os.environ["PY_STACKS_OUT"], "w") as f:
        json.dump(stacks(), f)


def sleeper():
    ready.wait()
    time.sleep(1000)


def recurse(n):
    if n == 0:
        ready.wait()
        time.sleep(1000)
    return recurse(n - 1) + 1


def hook(obj):
    if "crash" in obj:
        write_stacks(); os.kill(os.getpid(), signal.SIGSEGV)  # noqa: E702 (same line: same stack)
    ready.wait()
    release.wait()
    return obj


def in_json():
    return json.loads('{"a": [1, 2, {"b": 3}]}', object_hook=hook)


class Crasher:
    def crash_here(self):
        write_stacks(); ctypes.memset(0, 1, 8)  # noqa: E702 (same line: same stack)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "pause"
    if mode == "crash-json":
        json.loads('{"crash": 1}', object_hook=hook)
    for target, name in ((sleeper, "sleeper"), (lambda: recurse(40), "recursion"), (in_json, "json")):
        threading.Thread(target=target, name=name, daemon=True).start()
    ready.wait()
    time.sleep(0.2)  # the three are blocked now
    if mode == "crash":
        Crasher().crash_here()
    write_stacks(); print("READY", os.getpid(), flush=True); time.sleep(1000)  # noqa: E702 (same line: same stack)


main()
