"""Thread-local variables of the executable (DW_OP_form_tls_address / GNU_push_tls_address):
bt --vars must read a function-scope static __thread variable from the crashing thread's static
TLS block, at -O0 and -O2, and agree with gdb (which finds it through libthread_db)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "tls" / "tls_vars.c"


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_static_thread_local_matches_gdb(bt_bin, tmp_path, opt):
    exe, core = u.build_and_crash(["gcc", "-g", opt, "-pthread"], SOURCE, tmp_path, "tls_vars")
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    crashed = next(t for t in doc["threads"] if t["crashed"])
    frame = next(f for f in crashed["frames"] if f["function"] == "crash")
    values = {v["name"]: v["value"] for v in frame["variables"]}
    assert values.get("local_tls") == "12", frame["variables"]  # 9 + id (3), per the source
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "bt full", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r"^\s+local_tls = (.*)$", gdb.stdout, re.M)
    assert m, gdb.stdout
    assert m.group(1) == values["local_tls"]
