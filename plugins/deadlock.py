"""deadlock: the lock graph of a process — every thread blocked acquiring a pthread mutex
(std::mutex too) or a write-held pthread rwlock (std::shared_mutex too), the thread that holds it,
and any cycle among them, classified "deadlock" with the cycle's threads, locks and the functions
that asked for them. Works on live captures, snapshots and cores; needs the lock functions'
parameters (glibc's debug information: libc6-dbg). The built-in analysis finds cycles of mutexes
alone; this one follows rwlocks held by a writer too.
"""

import btengine
from btengine.plugins import classifier

# glibc's lock functions -> (their lock parameter, the field naming the owner's tid, the lock kind)
_LOCKS = [("pthread_mutex_", "mutex", "__owner", "mutex"),
          ("pthread_rwlock_", "rwlock", "__cur_writer", "rwlock")]


def _blocked_on(thread):
    """(kind, address, owner tid, the caller's function) of the lock this thread waits for."""
    frames = thread.frames
    for i, frame in enumerate(frames):
        name = frame.function or ""
        for marker, param, owner_field, kind in _LOCKS:
            if marker not in name or "unlock" in name or "init" in name:
                continue
            try:
                lock = frame[param].value
            except KeyError:
                continue
            if lock is None or not int(lock):
                continue
            owner = int(lock.__data[owner_field])
            caller = next((f.function for f in frames[i + 1:]
                           if f.function and "pthread_" not in f.function and not f.function.startswith("std::")),
                          None)
            return kind, int(lock), owner, caller
    return None


@classifier
def deadlock(proc, result):
    tids = {t.tid for t in proc.threads}
    waits, unreadable = {}, 0
    for t in proc.threads:
        try:
            b = _blocked_on(t)
        except btengine.MemoryError:  # a snapshot keeps stacks, not the locks in .data/.bss
            unreadable += 1
            continue
        if b and b[2] in tids and b[2] != t.tid:
            waits[t.tid] = b
    if unreadable:
        result.attribute("deadlock_check", f"incomplete: the locks of {unreadable} blocked "
                                           "thread(s) are not in this source")
    seen = set()
    for start in sorted(waits):
        path, t = [], start
        while t in waits and t not in path:
            path.append(t)
            t = waits[t][2]
        if t not in path:
            continue  # ends at a thread that waits for nothing: contention, not a deadlock
        cycle = path[path.index(t):]
        if frozenset(cycle) in seen:
            continue
        seen.add(frozenset(cycle))
        ring = " -> ".join(str(x) for x in cycle + [cycle[0]])
        evidence = [("cycle", ring)]
        for x in cycle:
            kind, address, owner, caller = waits[x]
            evidence.append((f"thread {x}", f"in {caller or '??'}, waits for {kind} {address:#x} held by {owner}"))
        kinds = sorted({waits[x][0] for x in cycle})
        result.classify("deadlock", "probably_not_exploitable",
                        f"{len(cycle)} threads wait for each other's locks ({', '.join(kinds)}): {ring}",
                        evidence=evidence)
