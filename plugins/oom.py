"""oom: crashes that are out of memory, whatever signal they end in.

- an uncaught std::bad_alloc (or std::bad_array_new_length): the built-in analysis names the
  exception's type; this says it is an allocation that failed;
- an abort whose message says memory ran out ("out of memory", "Cannot allocate memory",
  "std::bad_alloc");
- a NULL dereference in a thread whose errno is ENOMEM: malloc (calloc, realloc, mmap) failed and
  its NULL was used. The highlighted variables (those holding the fault address) are named.

Classified "out-of-memory" (severity "probably_not_exploitable": the NULL is not an attacker's),
with the evidence that decided it. errno needs libc's debug information (libc6-dbg).
"""

import btengine
from btengine.plugins import classifier

ENOMEM = 12
BAD_ALLOC = ("std::bad_alloc", "std::bad_array_new_length")
MESSAGES = ("out of memory", "cannot allocate memory", "std::bad_alloc", "memory exhausted")


def _errno(proc, tid):
    try:
        return int(proc.variable("errno", thread=tid).value)
    except (KeyError, TypeError, btengine.FormatError):
        return None


@classifier
def oom(proc, result):
    fault = proc.analysis.fault
    thread = proc.crashed_thread
    if fault is None or thread is None:
        return
    exception = fault.fact("exception_type")
    message = fault.fact("abort_message") or ""
    if exception in BAD_ALLOC:
        result.classify("out-of-memory", "probably_not_exploitable",
                        f"an allocation failed: uncaught {exception}",
                        evidence=[("exception_type", exception)])
    elif any(m in message.lower() for m in MESSAGES):
        result.classify("out-of-memory", "probably_not_exploitable",
                        f"aborted after an allocation failed: {message.strip()}",
                        evidence=[("abort_message", message.strip())])
    elif fault.kind == "null-deref" and _errno(proc, thread.tid) == ENOMEM:
        nulls = [v for f in thread.frames for v in f.variables if v.highlighted]
        named = ", ".join(v.name for v in nulls) or "a pointer"
        result.classify("out-of-memory", "probably_not_exploitable",
                        f"a failed allocation's NULL was used ({named}; errno is ENOMEM)",
                        evidence=[("errno", "ENOMEM"), ("null_variables", named)], highlight=nulls)
