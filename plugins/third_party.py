"""third_party: a crash in a library the team does not own.

A crash whose innermost frames (past libc's abort and signal machinery) are in a module outside
the application is classified "third-party-crash", reason "in third-party library NAME", and
the library becomes the attribute `third_party_library`, so crashes group by library. The
application is the executable's directory, or the path prefixes in BTENGINE_APP_PREFIX
(`:`-separated). Evidence: the library, the function, and the application frame that called
into it.
"""

import os

from btengine.plugins import classifier

# Frames that only deliver a crash (abort, raise, assert): the crash is where they were called.
MACHINERY = {"raise", "abort", "__pthread_kill_implementation", "__pthread_kill_internal",
             "pthread_kill", "__GI_raise", "__GI_abort", "__assert_fail", "__assert_fail_base",
             "<signal handler called>", "__libc_message", "__fortify_fail", "__chk_fail",
             "__stack_chk_fail", "malloc_printerr"}


def _prefixes(proc):
    configured = [p for p in os.environ.get("BTENGINE_APP_PREFIX", "").split(os.pathsep) if p]
    return configured or [os.path.dirname(proc.executable) + os.sep]


@classifier
def third_party(proc, result):
    thread = proc.crashed_thread
    if thread is None:
        return
    frames = [f for f in thread.frames if f.module and (f.function or "") not in MACHINERY]
    if not frames:
        return
    prefixes = _prefixes(proc)
    own = [f for f in frames if any(f.module.startswith(p) for p in prefixes)]
    top = frames[0]
    if own and own[0] is top:
        return  # the application's own code crashed
    library = os.path.basename(top.module)
    caller = own[0] if own else None
    result.classify("third-party-crash", "unknown", f"in third-party library {library}",
                    evidence=[("library", library), ("function", top.function or "??"),
                              ("called_from", caller.function if caller else "(no application frame)")])
    result.attribute("third_party_library", library)
