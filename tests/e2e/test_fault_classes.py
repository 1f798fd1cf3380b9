"""The analysis on real crashes: one program per fault class (tests/e2e/data/fault_classes.cpp),
built with g++ and clang++ at -O0 and -O2, each crashed for real. Its class, severity, reason and
the facts its rule used are checked from the kernel's core (`bt --json` and bt's text), from a
snapshot of that core with the executable deleted (`bt show`: the analysis is stored), and live
through the in-process handler (libbtcrash.so preloaded, the real bt writes the snapshot).

The facts checked are the program's own: the NULL pointer's field offset, the address it wrote,
the assertion's expression and line (read back from the source), the exception's type and
what(), glibc's own heap message."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import e2e_util as u

SOURCE = Path(__file__).parent / "data" / "fault_classes.cpp"
ASSERT_LINE = next(i for i, l in enumerate(SOURCE.read_text().splitlines(), 1) if "assert(queued" in l)

# mode -> (class, severity, regex the reason matches, {fact: regex its value matches})
CASES = {
    "null_field": ("null-deref", "probably_not_exploitable", r"^read at 0x30 through a NULL pointer \(a field at offset 48\)",
                   {"fault_address": "0x30", "access": "read"}),
    "null_write": ("null-deref", "probably_exploitable", r"^write at 0x0 through a NULL pointer$",
                   {"fault_address": "0x0", "access": "write"}),
    "call_null": ("call-to-null", "probably_exploitable", r"^a call to address 0x0", {"pc": "0x0"}),
    "wild_read": ("wild-read", "probably_exploitable", r"0x4141414141414141, an address no process can map.*text",
                  {"fault_address": "0x4141414141414141", "address_as_text": "AAAAAAAA"}),
    "wild_write": ("wild-write", "exploitable", r"^write at 0x10000000000, which is in no mapping",
                   {"fault_address": "0x10000000000"}),
    "write_rodata": ("write-to-readonly", "exploitable", r"^write at 0x[0-9a-f]+ into read-only data of fault_classes",
                     {"access": "write"}),
    "jump_unmapped": ("jump-to-unmapped", "exploitable", r"program counter 0x10000000000 is in no mapping",
                      {"pc": "0x10000000000"}),
    "exec_heap": ("execute-non-executable", "exploitable", r"executed anonymous mapping \(rw-\), which is not code", {}),
    "ret_corrupt": ("return-address-corruption", "exploitable", r"`ret` faulted on its return address",
                    {"instruction": "^ret$"}),
    "stack_pivot": ("stack-pivot", "exploitable", r"stack pointer 0x[0-9a-f]+ points into (anonymous mapping|\[heap\])", {}),
    "stack_overflow": ("stack-overflow", "probably_not_exploitable", r"^the stack ran out",
                       {"most_repeated_function": r"^recurse(\(int\))? \(\d+ frames\)$"}),
    "stack_smash": ("stack-buffer-overflow", "exploitable", r"stack protector found its canary overwritten",
                    {"abort_message": r"stack smashing detected"}),
    "fortify": ("buffer-overflow", "exploitable", r"_FORTIFY_SOURCE", {"abort_message": "buffer overflow detected"}),
    # With variables glibc's own parameter names the pointer, and the tcache holds it already.
    "double_free": ("double-free", "exploitable", r"^free\(\) was given 0x[0-9a-f]+, which is already free \(tcache\): a double free$",
                    {"?heap: freed_pointer": r"^the start of a free \(tcache\) chunk of 48 bytes at 0x[0-9a-f]+, its key is glibc's tcache_key$"}),
    "invalid_free": ("invalid-free", "exploitable", r"^glibc's allocator stopped the program: (free|munmap_chunk)\(\): invalid pointer$", {}),
    "heap_overflow": ("heap-corruption", "exploitable", r"^glibc's allocator stopped the program: ", {}),
    "memcpy_bad": ("wild-write", "exploitable", r"mem(cpy|move)\(\) was given a bad destination \(rdi\)$",
                   {"bad_argument": r"^the destination \(rdi\)$", "in_function": "mem(cpy|move)"}),
    "strcpy_null": ("null-deref", "probably_not_exploitable", r"strcpy\(\) was given a bad source \(rsi\)$",
                    {"bad_argument": r"^the source \(rsi\)$", "in_function": "strcpy"}),
    "free_wild": ("invalid-free", "exploitable", r"^free\(\) was given 0x10000000000, not a heap pointer \(no mapping\)$",
                  {"bad_argument": r"^the pointer \(rdi\)$", "in_function": "free"}),
    "assert": ("assertion-failure", "probably_not_exploitable",
               r"^assertion `queued > 0 && \"the queue must not be empty\"' failed in int main\(int, char ?\*\*\) at .*fault_classes.cpp:%d$" % ASSERT_LINE,
               {"expression": r'^queued > 0 && "the queue must not be empty"$', "line": f"^{ASSERT_LINE}$"}),
    "exception": ("uncaught-exception", "probably_not_exploitable", r"^uncaught C\+\+ exception of type QueueEmpty: queue is empty$",
                  {"exception_type": "^QueueEmpty$", "what": "^queue is empty$"}),
    "abort": ("abort", "unknown", r"^the program called abort\(\)$", {}),
    "divide": ("divide-by-zero", "probably_not_exploitable", r"^integer division by zero$", {}),
    "illegal": ("illegal-instruction", "exploitable", r"not a valid instruction", {}),
    "trap": ("trap-instruction", "probably_not_exploitable", r"trap instruction \(ud2\)", {}),
    "breakpoint": ("breakpoint", "probably_not_exploitable", r"breakpoint", {}),
    "bus": ("bus-error", "unknown", r"beyond the end of a mapped file", {}),
    "bad_syscall": ("bad-system-call", "probably_not_exploitable", r"system call was refused", {"?syscall": "^110$"}),
}
# mode -> ({(function of its frame, name), ...} any of which must be highlighted, reason regex).
# With -O2 a call through a pointer parameter can become a tail jump: the pointer is then the
# caller's (main's `nothing` or `code`).
CALLED = r"^the program called through it$"
HIGHLIGHT = {
    "null_field": ({("null_field", "job")}, r"base register \(r[a-z0-9]+\) holds it|48 bytes into"),
    "null_write": ({("null_write", "job")}, r"base register|fault address"),
    "call_null": ({("call_null", "fn"), ("main", "nothing")}, CALLED),
    "jump_unmapped": ({("call_null", "fn"), ("main", "nothing")}, CALLED),
    "exec_heap": ({("call_null", "fn"), ("main", "code")}, CALLED),
    "wild_read": ({("wild_read", "ptr")}, r"^its value is the fault address$"),
    "wild_write": ({("wild_write", "ptr")}, r"^its value is the fault address$"),
    "write_rodata": ({("write_rodata", "text")}, r"^its value is the fault address$"),
    "bus": ({("main", "m")}, r"^its value is the fault address$"),
    "memcpy_bad": ({("main", "dst")}, r"bytes into what it points at|fault address|bad argument"),
    "strcpy_null": ({("main", "nothing")}, r"fault address|bad argument"),
    "free_wild": ({("main", "wild")}, r"^it is the bad argument .*free was given$"),
}

# Breakpad's rating where its rules say something other than INTERESTING/NONE by signal alone.
BREAKPAD = {"call_null": "HIGH", "wild_read": "HIGH", "wild_write": "HIGH", "write_rodata": "HIGH",
            "jump_unmapped": "HIGH", "exec_heap": "HIGH", "stack_smash": "HIGH", "fortify": "HIGH",
            "null_field": "INTERESTING", "null_write": "INTERESTING", "abort": "NONE", "assert": "NONE",
            "divide": "NONE", "double_free": "NONE"}

VARIANTS = {"gcc-O0": ["g++", "-O0"], "gcc-O2": ["g++", "-O2"],
            "clang-O0": ["clang++-19", "-O0"], "clang-O2": ["clang++-19", "-O2"]}


def check(analysis: dict, mode: str, where: str, with_vars: bool = False):
    kind, severity, reason, facts = CASES[mode]
    assert analysis["classifications"], f"{mode} ({where}): no classification"
    c = analysis["classifications"][0]
    ctx = f"{mode} ({where}): {json.dumps(c, indent=1)}"
    assert (c["kind"], c["severity"]) == (kind, severity), ctx
    assert (analysis["class"], analysis["severity"], analysis["reason"]) == (kind, severity, c["reason"]), ctx
    assert re.search(reason, c["reason"]), ctx
    got = {e["fact"]: e["value"] for e in c.get("evidence", [])}
    assert got.get("signal"), ctx  # every classification names its signal
    for fact, want in facts.items():
        if fact.startswith("?"):  # where the source has it (a signal handler's context has no orig_rax)
            fact = fact[1:]
            if fact not in got and "live" in where:
                continue
        assert fact in got and re.search(want, got[fact]), f"fact {fact}: {ctx}"
    if mode in BREAKPAD:
        assert c["breakpad_rating"] == BREAKPAD[mode], ctx
    assert c["breakpad_rating"] in ("HIGH", "INTERESTING", "NONE"), ctx
    if with_vars:
        marked = [(h["function"], h["name"], h["reason"]) for h in analysis["highlighted"]]
        if mode in HIGHLIGHT:
            which, why = HIGHLIGHT[mode]
            # With -O2 the pointer may be optimized out or never held by a variable (clang
            # folds `nothing + 0x10000000000` into the call): then nothing is marked, but never
            # the wrong variable.
            assert all((f, n) in which and re.search(why, r) for f, n, r in marked), \
                f"{mode} ({where}): highlighted {marked}"
            assert marked or "O2" in where, f"{mode} ({where}): nothing highlighted"
        else:
            assert marked == [], f"{mode} ({where}): highlighted {marked}"


@pytest.fixture(scope="module", params=list(VARIANTS))
def crashed(request, tmp_path_factory):
    compiler, opt = VARIANTS[request.param]
    if not shutil.which(compiler):
        pytest.fail(f"{compiler} is not installed (scripts/setup installs it)")
    work = tmp_path_factory.mktemp("faults-" + request.param)
    exe = work / "fault_classes"
    subprocess.run([compiler, "-g", opt, "-fstack-protector-strong", str(SOURCE), "-o", str(exe)], check=True)
    out = {}
    for mode in CASES:
        d = work / mode
        d.mkdir()
        os.link(exe, d / "fault_classes")  # one directory per core; the same program
        os.environ["FAULT_MODE"] = mode
        try:
            out[mode] = (d / "fault_classes", u.make_core(str(d / "fault_classes"), d))
        finally:
            del os.environ["FAULT_MODE"]
    return request.param, out


@pytest.mark.parametrize("mode", list(CASES))
def test_core_and_snapshot_without_binary(crashed, mode, tmp_path):
    variant, programs = crashed
    exe, core = programs[mode]
    r = u.run_bt(["--json", "--vars", str(core)])
    assert r.returncode in (0, 9), r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "btengine.backtrace/2"
    check(doc["analysis"], mode, f"{variant} core", with_vars=True)
    if variant.endswith("O2") and mode in HIGHLIGHT and not doc["analysis"]["highlighted"]:
        # Say why not: the pointer's variable is optimized out, or no variable holds it.
        which, _ = HIGHLIGHT[mode]
        crashed_frames = next(t for t in doc["threads"] if t["crashed"])["frames"]
        held = [v for f in crashed_frames for v in f.get("variables", [])
                if (f["function"], v["name"]) in which and not v["optimized_out"]]
        fault = next((e["value"] for e in doc["analysis"]["classifications"][0]["evidence"]
                      if e["fact"] in ("fault_address", "pc")), None)
        assert all(not v["value"].startswith(fault + " ") and v["value"] != fault for v in held), held
    text = u.run_bt(["--vars", str(core)]).stdout  # the same input as the JSON above
    c = doc["analysis"]["classifications"][0]
    assert f"Analysis: {c['kind']} ({c['severity']}; Breakpad: {c['breakpad_rating']})\n  {c['reason']}\n" in text, text
    assert f"Fingerprint: {doc['analysis']['fingerprint']}" in text
    if variant != "gcc-O2":
        return  # the snapshot path once per program is enough
    snap = tmp_path / "s.btsnap"
    r = u.run_bt(["snapshot", str(core), "--exe", str(exe), "-o", str(snap)])
    assert r.returncode == 0, r.stderr
    moved = tmp_path / "gone"
    shutil.move(str(exe), moved)  # the analysis must come from the snapshot alone
    try:
        shown = u.run_bt(["show", "--json", "--vars", str(snap)])
        assert shown.returncode == 0, shown.stderr
        stored = json.loads(shown.stdout)["analysis"]
        check(stored, mode, f"{variant} snapshot without the executable", with_vars=True)
        assert stored["classifications"] == doc["analysis"]["classifications"]
        assert f"Analysis: {c['kind']} ({c['severity']}" in u.run_bt(["show", str(snap)]).stdout
    finally:
        shutil.move(str(moved), exe)


LIVE_MODES = ["null_field", "call_null", "wild_write", "memcpy_bad", "free_wild", "stack_smash", "double_free", "assert", "exception", "divide",
              "bad_syscall", "stack_pivot"]


@pytest.fixture(scope="module")
def live_exe(tmp_path_factory):
    """The clang -O2 build, for the live runs (once per program is enough there)."""
    exe = tmp_path_factory.mktemp("faults-live") / "fault_classes"
    subprocess.run(["clang++-19", "-g", "-O2", "-fstack-protector-strong", str(SOURCE), "-o", str(exe)],
                   check=True)
    return exe


@pytest.mark.parametrize("mode", LIVE_MODES)
def test_live_through_the_in_process_handler(live_exe, mode, tmp_path):
    variant, exe = "clang-O2", live_exe
    lib = u.build_dir() / "lib" / "libbtcrash.so"
    assert lib.exists(), f"{lib} is missing: cmake --build {u.build_dir()} --target btcrash"
    out = tmp_path / "snaps"
    env = dict(os.environ, FAULT_MODE=mode, LD_PRELOAD=str(lib), BTCRASH_BT=str(u.bt_path()), BTCRASH_DIR=str(out))
    subprocess.run([str(exe), "crash"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1, f"no snapshot from the handler in {out}"
    shown = u.run_bt(["show", "--json", "--vars", str(snaps[0])])
    assert shown.returncode == 0, shown.stderr
    check(json.loads(shown.stdout)["analysis"], mode, f"{variant} live, in-process handler", with_vars=True)


# Ten crash sites in ten different functions (or the same function with another signal).
DISTINCT_SITES = ["null_field", "null_write", "call_null", "wild_read", "wild_write", "write_rodata",
                  "stack_overflow", "stack_smash", "divide", "abort"]


def test_ten_crash_sites_give_ten_fingerprints_and_a_rule_file_changes_them(crashed, tmp_path):
    variant, programs = crashed

    def fingerprints(mode, *extra):
        exe, core = programs[mode]
        r = u.run_bt(["--json", *extra, str(core)])
        assert r.returncode in (0, 9), r.stderr
        a = json.loads(r.stdout)["analysis"]
        return a["fingerprint"], a["fingerprint_frames"]

    prints = {m: fingerprints(m) for m in DISTINCT_SITES}
    assert len({fp for fp, _ in prints.values()}) == 10, json.dumps(prints, indent=1)
    # The rule file, as docs/analysis.md says: the two NULL writers' and readers' own functions
    # are skipped, so both crashes are hashed as "SIGSEGV in main" and group together.
    rules = tmp_path / "rules.txt"
    rules.write_text("# our accessors are noise\nskip-function ^null_(field|write)$\n")
    a, a_frames = fingerprints("null_field", "--dedup-rules", str(rules))
    b, _ = fingerprints("null_write", "--dedup-rules", str(rules))
    assert a == b and a != prints["null_field"][0], a_frames
    assert a_frames == ["fault_classes!main"], a_frames
    # `frames 1` keeps the innermost frame only.
    rules.write_text("frames 1\n")
    _, one = fingerprints("null_field", "--dedup-rules", str(rules))
    assert one == prints["null_field"][1][:1]
    if variant == "gcc-O0":
        # bt show re-fingerprints a snapshot's stored frames with the rules given.
        exe, core = programs["null_field"]
        snap = tmp_path / "s.btsnap"
        assert u.run_bt(["snapshot", str(core), "-o", str(snap)]).returncode == 0
        shown = json.loads(u.run_bt(["show", "--json", "--dedup-rules", str(rules), str(snap)]).stdout)
        assert shown["analysis"]["fingerprint_frames"] == one
        # A bad rule file: the usage status and the line that is wrong.
        rules.write_text("frames 2\nskip-everything now\n")
        bad = u.run_bt(["--dedup-rules", str(rules), str(core)])
        assert bad.returncode == 2 and f"{rules}:2: unknown rule 'skip-everything'" in bad.stderr, bad.stderr


def test_uncaught_exception_with_libcxx(tmp_path):
    """The exception in flight under libc++abi (clang++ -stdlib=libc++): its header is found
    through the pointers libc++abi keeps (the object, the header's start), type and what()."""
    exe = tmp_path / "fault_classes"
    subprocess.run(["clang++-19", "-stdlib=libc++", "-g", "-O1", str(SOURCE), "-o", str(exe)], check=True)
    os.environ["FAULT_MODE"] = "exception"
    try:
        core = u.make_core(str(exe), tmp_path)
    finally:
        del os.environ["FAULT_MODE"]
    r = u.run_bt(["--json", str(core)])
    doc = json.loads(r.stdout)
    assert any("libc++abi" in m["path"] for m in doc["modules"]), "not linked with libc++abi"
    check(doc["analysis"], "exception", "clang libc++ core")
