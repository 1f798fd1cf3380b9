"""The variable fixtures (vars_c, vars_cpp) are what they claim, and the
values varscmp.KNOWN_VALUES takes from the fixtures' sources are what gdb
prints at -O0 (where gdb is reliable).  Needs the fixtures and gdb, not bt.

(test_fixtures_sanity.py checks the call chains of the other programs; these
two are checked here.)"""

from __future__ import annotations

import os

import pytest

import e2e_util as u
import gdbparse
import gdbvars
import varscmp
from test_fixtures_sanity import PAUSE_TOP, assert_chain

VARS_CHAINS = {
    "vars_c": ["vc_inner", "vc_middle", "vc_outer", "main"],
    "vars_cpp": ["vp::inspect", r"re:operator\(\)$", "vp::Square::run", "main"],
}


KNOWN_PROGRAMS = sorted({k[0] for k in varscmp.KNOWN_VALUES})


def _entries(select):
    """Manifest entries for which select(entry) holds (BT_E2E_SELECT applies);
    [None] when the manifest is missing, so that the test fails saying so."""
    try:
        entries = u.load_manifest()["binaries"]
    except (OSError, ValueError, KeyError):
        return [None]
    keys = [k for k in os.environ.get("BT_E2E_SELECT", "").split(",") if k]
    return [e for e in entries if select(e) and (not keys or any(k in e["name"] for k in keys))]


def pytest_generate_tests(metafunc):
    # Parametrised here (not with conftest's fixture_binary) so that only the
    # binaries concerned become tests.
    if "vars_binary" in metafunc.fixturenames:
        es = _entries(lambda e: e["program"] in VARS_CHAINS)
    elif "known_binary" in metafunc.fixturenames:
        es = _entries(lambda e: e["program"] in KNOWN_PROGRAMS and e["opt"] == 0)
    else:
        return
    name = "vars_binary" if "vars_binary" in metafunc.fixturenames else "known_binary"
    metafunc.parametrize(name, es, ids=[e["name"] if e else "manifest-missing" for e in es])


def _check(entry):
    if entry is None:
        pytest.fail(f"fixture manifest {u.manifest_path()} is missing: build the fixtures", pytrace=False)
    return entry


def test_vars_crash_core_known_chain(vars_binary, cores):
    e = _check(vars_binary)
    run, bt = cores.gdb(e)
    where = f"{e['name']} core"
    assert bt.signal == "SIGSEGV", f"{where}: {run.describe()}"
    assert bt.siginfo == (11, 1, 0), f"{where}: NULL write expected: {bt.siginfo}"
    assert len(bt.threads) == 1
    assert_chain(bt.threads[0], VARS_CHAINS[e["program"]], where)


def test_vars_pause_known_chain(vars_binary, paused_process):
    e = _check(vars_binary)
    p = paused_process(e["path"])
    run = u.gdb_live(p.pid, debug_dir=e.get("debug_dir"))
    bt = gdbparse.parse(run.stdout)
    main = bt.by_tid().get(p.pid)
    assert main is not None, run.describe()
    assert_chain(main, PAUSE_TOP + VARS_CHAINS[e["program"]], f"{e['name']} live")


def test_known_values_match_gdb_at_O0(known_binary, cores):
    """Every KNOWN_VALUES entry of the program that gdb shows in the crash
    core of an -O0 build (where gdb's values are reliable) is the value gdb
    prints."""
    e = _check(known_binary)
    core = cores.core(e)
    run = u.gdb_core_full(e["path"], str(core), e.get("debug_dir"))
    full = gdbvars.parse_full(run.stdout)
    checked, wrong = 0, []
    for t in full.bt.threads:
        for i, f in enumerate(t.frames):
            fv = full.frame_vars(t, f)

            def resolve(same, _i=i, _t=t):
                for g in _t.frames[_i + 1:]:
                    if g.function and varscmp.framecmp.normalize_function(g.function) == same.function:
                        for v in full.frame_vars(_t, g).params + full.frame_vars(_t, g).locals:
                            if v.name == same.name:
                                return v.value
                return None

            for v in fv.params + fv.locals:
                known = varscmp.known_value(e["program"], f.function, v.name)
                if known is None:
                    continue
                checked += 1
                if not varscmp._matches(known, v.value, resolve):
                    wrong.append(f"#{i} {f.function}: {v.name} = {v.value!r}, KNOWN_VALUES says {known!r}")
    assert not wrong, "\n".join(wrong) + "\n" + " ".join(run.cmd)
    expected = {k for k in varscmp.KNOWN_VALUES if k[0] == e["program"]}
    assert checked >= len(expected), f"only {checked} of {len(expected)} known values seen"
