"""char * values whose bytes are not plain ASCII (valid UTF-8, invalid bytes, a sequence cut
short by the terminating NUL) are printed exactly as gdb prints them in a UTF-8 locale."""

from __future__ import annotations

import json
import re
import subprocess

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "strings" / "utf8_strings.c"


def test_utf8_strings_match_gdb(bt_bin, tmp_path):
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], SOURCE, tmp_path, "utf8_strings")
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    crashed = next(t for t in json.loads(run.stdout)["threads"] if t["crashed"])
    frame = next(f for f in crashed["frames"] if f["function"] == "crash")
    got = {v["name"]: v["value"] for v in frame["variables"] if v["kind"] == "param"}
    env = {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "frame function crash"] +
                         sum((["-ex", f"print {n}"] for n in "abcde"), []) + [str(exe), str(core)],
                         capture_output=True, text=True, timeout=120, env=env)
    want = dict(zip("abcde", re.findall(r"^\$\d+ = (.*)$", gdb.stdout, re.M)))
    assert len(want) == 5, gdb.stdout + gdb.stderr
    # gdb loses the character just before a cut-short sequence when its iconv call converted
    # both (charset.c: EINVAL discards that call's output): it prints `<incomplete sequence
    # \342\202>` for "x\342\202". bt keeps the "x".
    assert want["c"].endswith("<cut_three_byte> <incomplete sequence \\342\\202>"), want["c"]
    want["c"] = want["c"].replace("<cut_three_byte> ", '<cut_three_byte> "x", ')
    assert got == want
    assert "<incomplete sequence \\314>" in want["a"]  # the oracle says what the test is about
