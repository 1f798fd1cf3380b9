"""A multi-threaded Python program for the real-program oracle (real_programs.py), run by the
Python 3.11 debug interpreter: every thread blocks in a different way, then the main thread
prints "READY <pid>" and waits. Nothing here is for btengine; it is what a Python service does."""

import functools
import os
import select
import socket
import sys
import threading
import time

held = threading.Lock()
held.acquire()
cond = threading.Condition()
never = threading.Event()


def wait_on_lock():
    with held:
        pass


def wait_on_condition():
    with cond:
        cond.wait()


def accept_forever():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.accept()


def recv_forever():
    a, b = socket.socketpair()
    threading.current_thread().peer = b  # keep it open
    a.recv(16)


def sleep_long():
    time.sleep(100000)


def recurse(depth, payload):
    if depth == 0:
        never.wait()
        return payload
    return recurse(depth - 1, payload + [depth])


def through_c_code():
    # map() and functools.reduce() are C functions calling back into Python.
    list(map(lambda x: functools.reduce(lambda a, b: never.wait() or a + b, [x, 1, 2]), [3]))


def in_select():
    r, w = os.pipe()
    select.select([r], [], [])


THREADS = [wait_on_lock, wait_on_condition, accept_forever, recv_forever, sleep_long,
           lambda: recurse(40, []), through_c_code, in_select]


def main():
    for fn in THREADS:
        threading.Thread(target=fn, daemon=True).start()
    time.sleep(0.5)
    print(f"READY {os.getpid()}", flush=True)
    never.wait()


if __name__ == "__main__":
    sys.exit(main())
