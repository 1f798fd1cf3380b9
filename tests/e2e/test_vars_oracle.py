"""gdb's `bt full` as the oracle for variables: for every fixture binary, in a
crash core and in a live paused process, `bt --json --vars --past-main` must
report per thread and per frame the same parameters and locals, with the same
value strings, as gdb 13's `thread apply all bt full` (run with the settings
of e2e_util.gdb_base_command plus `set print frame-arguments all`, see
e2e_util.gdb_full_command).

Frames are aligned as in test_oracle.py (framecmp's rules); the comparison
itself is varscmp.py, gdb's output is parsed by gdbvars.py.

Each (binary, core|live) is tested twice:
  [own-...]  frames in the fixture's own sources (tests/fixtures/src), and
  [lib-...]  every other frame (libc, libstdc++, headers, _start),
so that library differences are visible separately.  Rules (varscmp.py):
  - frames compiled at -O0 (the -O0 fixtures' own code and the /usr/include
    code instantiated in them) must agree exactly;
  - frames compiled with optimisation (-O2 fixtures, system libraries) may
    differ only by a named category (varscmp.CATEGORIES):
      bt-knows-more           gdb <optimized out> / no entry value, bt a value
                              (checked against varscmp.KNOWN_VALUES when known)
      gdb-pretty-printer      gdb used a libstdc++ printer, bt's text differs
      gdb-no-printers         static executable: gdb has no printers, bt does
      entry-value             gdb shows x@entry=, bt's entry_value is null
      gdb-wrong-value         gdb contradicts the fixture's source (KNOWN_VALUES)
      gdb-clobbered-register  gdb reads a call-clobbered register in a caller
                              frame (proven with gdb's own `info address`, in
                              a second gdb run on the same core / process)
    every use is printed with the test and counted in the summary at the end
    of the run, and all differences (failing and accepted) are written to a
    JSON report ($BT_VARS_REPORT, default <build>/tests/vars-oracle-report.json);
    `python3 tests/e2e/vars_report.py` groups them by likely cause.
  - locals are compared as a multiset of (name, value) (gdb's order of the
    symbols of nested blocks is its hash order), parameters in order (see
    varscmp's docstring).

Known differences outside the categories are pinned one by one in the
baseline tests/e2e/data/vars-known-differences.json ($BT_VARS_BASELINE):
entries keyed by (binary, core|live, own|lib, frame function [+ inline /
tailcall marker], variable, kind of difference) -- never by value, address or
tid -- each with a cause (varscmp.BASELINE_CAUSES).  A difference that
matches an entry passes, is printed as `[pinned: <cause>]` and counted per
cause in the summary; one that matches none fails with the detailed diff; so
does one that matches an entry whose cause is `unclassified`, or whose cause
the rules (vars_report.baseline_cause) now see differently.  Entries no run
has seen are listed in the summary as "possibly fixed" (not a failure).
Differences that depend on memory contents (volatile causes: the UTF-8
rendering of garbage bytes, which change with ASLR) are pinned for every
binary of the fixture program and both modes (`libc_crash_c.*`, `*`), and
their unseen entries are only counted.  Regenerate after engine changes:

    python3 -m pytest tests/e2e/test_vars_oracle.py -q -p no:cacheprovider
    python3 tests/e2e/vars_report.py --write-baseline     # (--merge: keep unseen entries)
    python3 tests/e2e/vars_report.py                      # what still fails, and why
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import btjson
import e2e_util as u
import elfsyms
import gdb_locations
import gdbvars
import vars_report
import varscmp

SCOPES = ["own", "lib"]
MAX_SHOWN = 80  # differences printed per test (all are in the JSON report)
_HEX = re.compile(r"^0x[0-9a-f]+$")


# ---------------------------------------------------------------------------
# Summary plugin (registered by the session fixture below, so that conftest.py
# needs no change).


def _record(nodeid, entry, mode, scope, d: varscmp.Diff) -> dict:
    """One difference as a record of the JSON report (and the input of
    vars_report.baseline_cause)."""
    return {
        "test": nodeid, "binary": entry["name"], "program": entry["program"],
        "mode": mode, "scope": scope, "opt": entry["opt"], "what": d.what,
        "category": d.category.name if d.category else None, "accepted": d.accepted,
        "pinned": d.pinned, "baseline_problem": d.baseline_problem,
        "optimized_frame": d.optimized, "where": d.where, "frame": d.frame, "kind": d.kind,
        "name": d.name, "type": d.bt_type, "gdb": d.gdb, "bt": d.bt,
        "caller_frame": d.caller_frame, "caller_kind": d.caller_kind, "gdb_location": d.gdb_location,
        "gdb_symbols": d.gdb_symbols,
        "note": d.note,
    }


class _Summary:
    def __init__(self):
        self.records = []  # one dict per difference
        self.tests = {}  # nodeid -> "passed"/"failed" for the report
        self.baseline = None  # varscmp.Baseline, loaded on first use
        self.seen = set()  # varscmp.entry_id of the baseline entries used in this run
        self.ran = set()  # (binary, mode, scope) compared in this run

    def get_baseline(self) -> varscmp.Baseline:
        if self.baseline is None:
            self.baseline = varscmp.Baseline.load()
        return self.baseline

    def add(self, nodeid, entry, mode, scope, diffs, compared):
        self.tests[nodeid] = {"binary": entry["name"], "mode": mode, "scope": scope,
                              "opt": entry["opt"],
                              "failures": sum(not d.accepted and not d.pinned for d in diffs),
                              "accepted": sum(d.accepted for d in diffs),
                              "pinned": sum(bool(d.pinned) and not d.accepted for d in diffs), **compared}
        self.ran.add((entry["name"], mode, scope))
        for d in diffs:
            self.records.append(_record(nodeid, entry, mode, scope, d))

    def unseen(self):
        """Baseline entries of the (binary, mode, scope) compared in this run
        that no difference matched."""
        if self.baseline is None:
            return []
        return [e for e in self.baseline.all_entries()
                if varscmp.entry_id(e) not in self.seen
                and any(varscmp.key_covers(varscmp.record_key(e), *r) for r in self.ran)]

    def pytest_terminal_summary(self, terminalreporter):
        if not self.records and not self.tests:
            return
        tr = terminalreporter
        tr.section("bt full oracle (test_vars_oracle.py)")
        acc = defaultdict(lambda: [0, set()])
        fail = defaultdict(lambda: [0, set()])
        pinned = defaultdict(lambda: [0, set(), set()])
        for r in self.records:
            key = r["category"] or r["what"]
            if r["accepted"]:
                acc[key][0] += 1
                acc[key][1].add(r["test"])
            elif r["pinned"]:
                pinned[r["pinned"]][0] += 1
                pinned[r["pinned"]][1].add(r["test"])
                pinned[r["pinned"]][2].add(varscmp.record_key(r))
            else:
                k = f"{r['what']}" + (f" [{r['category']}]" if r["category"] else "")
                if r["baseline_problem"]:
                    k += " [baseline entry cannot pin it]"
                fail[k][0] += 1
                fail[k][1].add(r["test"])
        tr.write_line("accepted differences (optimised frames only):")
        for c in varscmp.CATEGORIES:
            n, tests = acc.get(c.name, (0, set()))
            tr.write_line(f"  {c.name}: {n} variable(s) in {len(tests)} test(s)")
        b = self.baseline
        if b is not None:
            tr.write_line(f"pinned differences by cause (baseline {b.path}, {len(b.all_entries())} entries):")
            for c in varscmp.BASELINE_CAUSES:
                n, tests, keys = pinned.get(c.name, (0, set(), set()))
                bug = " [bt bug]" if c.bt_bug else ""
                tr.write_line(f"  {c.name}{bug}: {n} difference(s), {len(keys)} entr{'y' if len(keys) == 1 else 'ies'}, "
                              f"in {len(tests)} test(s)")
            for p in b.problems:
                tr.write_line(f"  baseline problem: {p}")
            unseen = self.unseen()
            volatile = [e for e in unseen if e["cause"] in varscmp.VOLATILE_CAUSES]
            unseen = [e for e in unseen if e["cause"] not in varscmp.VOLATILE_CAUSES]
            if volatile:
                tr.write_line(f"volatile baseline entries not seen in this run: {len(volatile)} (expected: "
                              "they depend on memory contents)")
            if unseen:
                tr.write_line(f"baseline entries not seen in this run ({len(unseen)}; possibly fixed: "
                              "remove from baseline):")
                for e in unseen[:60]:
                    tr.write_line("  " + " | ".join(e[k] for k in varscmp.BASELINE_KEY_FIELDS)
                                  + f" ({e['cause']})")
                if len(unseen) > 60:
                    tr.write_line(f"  ... {len(unseen) - 60} more (JSON report: baseline_unseen)")
        if fail:
            tr.write_line("failing differences by kind [category]:")
            for k, (n, tests) in sorted(fail.items(), key=lambda kv: -kv[1][0]):
                tr.write_line(f"  {k}: {n} in {len(tests)} test(s)")
        else:
            tr.write_line("failing differences: none")
        path = _report_path()
        if path:
            tr.write_line(f"all differences: {path}")


def _report_path():
    p = os.environ.get("BT_VARS_REPORT")
    if p:
        return Path(p)
    return u.build_dir() / "tests" / "vars-oracle-report.json"


@pytest.fixture(scope="session", autouse=True)
def vars_summary(request):
    plugin = _Summary()
    request.config.pluginmanager.register(plugin, "bt-vars-oracle-summary")
    yield plugin
    if not plugin.tests:
        return  # no oracle test compared anything: keep the last report
    path = _report_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tests": plugin.tests, "differences": plugin.records,
                                    "baseline_unseen": plugin.unseen()}, indent=1))
    except OSError:
        pass


# ---------------------------------------------------------------------------
# Running gdb and bt once per (binary, mode)


def _bt_args(entry, target_args):
    args = ["--json", "--vars", "--past-main"] + [str(a) for a in target_args]
    if entry.get("split_debug"):
        args += ["--debug-dir", entry["debug_dir"]]
    return args


def variables_schema_problems(doc) -> list:
    """The `variables` arrays of bt --json --vars (docs/json-output.md)."""
    p = []
    for ti, t in enumerate(doc.get("threads", [])):
        for fi, f in enumerate(t.get("frames", [])):
            if "variables" not in f:
                continue
            vs = f["variables"]
            w = f"threads[{ti}].frames[{fi}].variables"
            if not isinstance(vs, list):
                p.append(f"{w} is not a list")
                continue
            for vi, v in enumerate(vs):
                vw = f"{w}[{vi}]"
                if not isinstance(v, dict):
                    p.append(f"{vw} is not an object")
                    continue
                if not isinstance(v.get("name"), str):
                    p.append(f"{vw}.name {v.get('name')!r}")
                if v.get("kind") not in ("param", "local"):
                    p.append(f"{vw}.kind {v.get('kind')!r}")
                if v.get("type") is not None and not isinstance(v.get("type"), str):
                    p.append(f"{vw}.type {v.get('type')!r}")
                if not isinstance(v.get("value"), str):
                    p.append(f"{vw}.value {v.get('value')!r}")
                for k in ("optimized_out", "error"):
                    if not isinstance(v.get(k), bool):
                        p.append(f"{vw}.{k} {v.get(k)!r}")
                a = v.get("address", "absent")
                if a == "absent" or (a is not None and not (isinstance(a, str) and _HEX.match(a))):
                    p.append(f"{vw}.address {a!r}")
                if "entry_value" in v and v["entry_value"] is not None and not isinstance(v["entry_value"], str):
                    p.append(f"{vw}.entry_value {v['entry_value']!r}")
                if v.get("optimized_out") is True and v.get("value") != "<optimized out>":
                    p.append(f"{vw}: optimized_out but value {v.get('value')!r}")
    return p


class _Result:
    def __init__(self, entry, mode):
        self.entry = entry
        self.mode = mode
        self.error = None  # text: the run itself failed (both scopes fail)
        self.cmp = None
        self.gdb_run = None
        self.bt_run = None
        self.loc_run = None
        self.full = None

    def commands(self):
        out = []
        if self.bt_run:
            out.append("$ " + " ".join(self.bt_run.cmd))
        for run in (self.gdb_run, self.loc_run):
            if run:
                out.append("$ " + " ".join(f"'{c}'" if " " in c or "$" in c else c for c in run.cmd))
        return "\n".join(out)


_CACHE = {}


def _compare(entry, mode, res: _Result, gdb_run, bt_run):
    res.gdb_run, res.bt_run = gdb_run, bt_run
    if bt_run.returncode != 0:
        res.error = f"bt failed:\n{bt_run.describe()}"
        return res
    try:
        doc = btjson.load(bt_run.stdout)
    except ValueError as e:
        res.error = f"{e}\n{bt_run.describe()}"
        return res
    problems = btjson.schema_problems(doc) + variables_schema_problems(doc)
    if problems:
        res.error = "bt --json --vars does not follow the schema:\n  " + "\n  ".join(problems[:40])
        return res
    try:
        full = gdbvars.parse_full(gdb_run.stdout)
    except gdbvars.gdbparse.GdbParseError as e:
        res.error = f"cannot parse gdb's output: {e}\n{gdb_run.describe()}"
        return res
    if not full.bt.threads:
        res.error = f"gdb printed no threads:\n{gdb_run.describe()}"
        return res
    debug_dirs = ([entry["debug_dir"]] if entry.get("debug_dir") else []) + ["/usr/lib/debug"]

    def alias_check(module, a, b):
        return elfsyms.are_aliases(module, a, b, debug_dirs)

    source_dir = os.path.dirname(entry["source"])
    res.cmp = varscmp.compare(full, doc, source_dir, entry["opt"], entry["program"], alias_check)
    res.full = full
    return res


def _query_locations(entry, res: _Result, target_args):
    res.loc_run = gdb_locations.query_locations(res.cmp, target_args, entry.get("debug_dir"))


def _core_result(entry, cores) -> _Result:
    key = (entry["name"], "core")
    if key not in _CACHE:
        core = cores.core(entry)  # skips the test if no core can be made here
        res = _Result(entry, "core")
        gdb_run = u.gdb_core_full(entry["path"], str(core), entry.get("debug_dir"))
        bt_run = u.run_bt(_bt_args(entry, [core, "--exe", entry["path"]]))
        _compare(entry, "core", res, gdb_run, bt_run)
        if res.cmp is not None:
            _query_locations(entry, res, [entry["path"], core])
        _CACHE[key] = res
    return _CACHE[key]


def _live_result(entry) -> _Result:
    key = (entry["name"], "live")
    if key not in _CACHE:
        res = _Result(entry, "live")
        with u.paused(entry["path"]) as p:
            # READY is printed before the fixture blocks: let every thread reach
            # its blocking syscall first (else bt may catch one inside write()).
            u.wait_all_sleeping(p.pid)
            bt_run = u.run_bt(_bt_args(entry, [p.pid]))
            # Let restarted syscalls block again before gdb looks (same pcs for both).
            u.wait_all_sleeping(p.pid)
            gdb_run = u.gdb_live_full(p.pid, debug_dir=entry.get("debug_dir"))
            _compare(entry, "live", res, gdb_run, bt_run)
            if res.cmp is not None:
                _query_locations(entry, res, ["-p", p.pid])
        _CACHE[key] = res
    return _CACHE[key]


# ---------------------------------------------------------------------------
# Reporting


def _report(request, summary, res: _Result, scope: str):
    entry = res.entry
    label = f"{entry['name']} ({res.mode}), {'own-source' if scope == 'own' else 'library'} frames"
    if res.error:
        pytest.fail(f"{label}: {res.error}\n\n{res.commands()}", pytrace=False)
    diffs = [d for d in res.cmp.diffs if d.scope == scope]
    baseline = summary.get_baseline()
    for d in diffs:
        if d.accepted:
            continue
        d.pinned = d.baseline_problem = None
        entries = baseline.match(d, entry["name"], res.mode, entry["program"])
        if entries:
            rule = vars_report.baseline_cause(_record(request.node.nodeid, entry, res.mode, scope, d))
            used = varscmp.pin(d, entries, rule)
            if used is not None:
                summary.seen.add(varscmp.entry_id(used))
    summary.add(request.node.nodeid, entry, res.mode, scope, diffs,
                {"frames": res.cmp.compared_frames, "variables": res.cmp.compared_vars})
    failures = [d for d in diffs if not d.accepted and not d.pinned]
    accepted = [d for d in diffs if d.accepted]
    pinned = [d for d in diffs if d.pinned and not d.accepted]
    lines = []
    if pinned:
        counts = Counter(d.pinned for d in pinned)
        lines.append(f"pinned by the baseline ({baseline.path}): "
                     + ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())))
        lines += [d.show() for d in pinned[:MAX_SHOWN]]
        if len(pinned) > MAX_SHOWN:
            lines.append(f"... {len(pinned) - MAX_SHOWN} more pinned (JSON report)")
    if accepted:
        counts = Counter(d.category.name for d in accepted)
        lines.append("accepted (optimised code): " + ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())))
        lines += [d.show() for d in accepted[:MAX_SHOWN]]
        if len(accepted) > MAX_SHOWN:
            lines.append(f"... {len(accepted) - MAX_SHOWN} more accepted (JSON report)")
    if failures:
        kinds = Counter(d.what + (f" [{d.category.name}]" if d.category else "") for d in failures)
        head = (f"{label}: bt and gdb disagree on {len(failures)} item(s) that are neither in an "
                f"accepted category nor pinned by the baseline "
                f"({', '.join(f'{k} x{n}' for k, n in kinds.most_common())}); "
                f"-O{entry['opt']} fixture; {res.cmp.compared_frames} frames / "
                f"{res.cmp.compared_vars} gdb variables compared in all scopes")
        shown = [d.show() for d in failures[:MAX_SHOWN]]
        if len(failures) > MAX_SHOWN:
            shown.append(f"... {len(failures) - MAX_SHOWN} more (JSON report: {_report_path()})")
        hint = ("(a bt regression: fix bt; a known limitation: classify it in vars_report.baseline_cause "
                "and pin it with `python3 tests/e2e/vars_report.py --write-baseline`)")
        pytest.fail("\n".join([head] + shown + [hint] + lines + ["", res.commands()]), pytrace=False)
    if lines:
        print("\n".join([f"{label}: agree"] + lines))


@pytest.mark.parametrize("scope", SCOPES)
def test_core_vars_match_gdb(request, vars_summary, scope, fixture_binary_entry, bt_bin, cores):
    _report(request, vars_summary, _core_result(fixture_binary_entry, cores), scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_live_vars_match_gdb(request, vars_summary, scope, fixture_binary_entry, bt_bin):
    _report(request, vars_summary, _live_result(fixture_binary_entry), scope)


# ---------------------------------------------------------------------------
# The baseline file and the comparison rules (need neither bt nor the fixtures)


def test_vars_baseline_is_classified():
    """Every entry of the baseline is well-formed, unique and has a known
    cause: an `unclassified` entry fails here even when no run meets it."""
    b = varscmp.Baseline.load()
    problems = list(b.problems)
    for e in b.all_entries():
        p = varscmp.entry_problems(e)
        if p:
            problems.append(f"{' | '.join(e.get(k, '?') for k in varscmp.BASELINE_KEY_FIELDS)}: "
                            + "; ".join(p) + f"\n      note: {e.get('note')}")
    assert not problems, f"{b.path}:\n  " + "\n  ".join(problems)


def test_baseline_causes_are_documented():
    names = [c.name for c in varscmp.BASELINE_CAUSES]
    assert len(names) == len(set(names)) and varscmp.UNCLASSIFIED not in names
    assert all(len(c.description) > 40 for c in varscmp.BASELINE_CAUSES)
    assert not set(names) & {c.name for c in varscmp.CATEGORIES}


def _local(name, value):
    return gdbvars.GdbVar(name, "local", value)


def _bt_local(name, value):
    return {"name": name, "kind": "local", "type": "int", "value": value,
            "optimized_out": value == "<optimized out>", "error": False, "address": None}


def _cmp_locals(gvars, bvars):
    def mk(**kw):
        d = varscmp.Diff(optimized=False, **kw)
        d.decide()
        return d
    return varscmp.compare_vars("local", gvars, bvars, "w", mk, "x", "f", lambda s: None, ordered=False)


def test_locals_compared_as_a_multiset():
    # gdb's hash order of nested blocks' symbols: no difference.
    g = [_local(n, v) for n, v in [("sc_ret", "1"), ("__arg6", "6"), ("sc_ret", "2"), ("_a5", "5")]]
    b = [_bt_local(n, v) for n, v in [("sc_ret", "2"), ("sc_ret", "1"), ("_a5", "5"), ("__arg6", "6")]]
    assert _cmp_locals(g, b) == []
    # Duplicates count: a shadowed local missing once is missing.
    (d,) = _cmp_locals(g, b[1:])
    assert (d.what, d.name, d.gdb) == ("missing-in-bt", "sc_ret", "sc_ret=2")
    (d,) = _cmp_locals(g[1:], b)
    assert (d.what, d.name, d.bt) == ("extra-in-bt", "sc_ret", "1")
    # Equal pairs first, then the rest of a name in order: one value difference.
    (d,) = _cmp_locals([_local("s", "1"), _local("s", "2")], [_bt_local("s", "3"), _bt_local("s", "1")])
    assert (d.what, d.gdb, d.bt) == ("value", "2", "3")
    # Parameters stay ordered.
    def mk(**kw):
        return varscmp.Diff(**kw)
    ds = varscmp.compare_vars("param", gdbvars.parse_args("a=1, b=2"),
                              [dict(_bt_local("b", "2"), kind="param", entry_value=None),
                               dict(_bt_local("a", "1"), kind="param", entry_value=None)],
                              "w", mk, "x", "f", lambda s: None)
    assert [d.what for d in ds] == ["order"]


def _diff(**kw):
    kw.setdefault("where", "thread 1 #0 f")
    d = varscmp.Diff(**kw)
    d.decide()
    return d


def test_baseline_pinning(tmp_path):
    entry = {"binary": "b.gcc-O2", "mode": "core", "scope": "lib", "function": "f [inline]",
             "variable": "x", "kind": "value", "cause": "inline-entry-value", "note": ""}
    volatile = [{"binary": "b.*", "mode": "*", "scope": "lib", "function": "g", "variable": "s",
                 "kind": "value", "cause": c, "note": ""}
                for c in ("utf8-invalid-lead-byte", "utf8-unprintable-char")]
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"entries": [entry, dict(entry, variable="y", cause="unclassified")]
                                + volatile}))
    b = varscmp.Baseline.load(str(path))
    assert not b.problems and len(b.all_entries()) == 4
    d = _diff(what="value", name="x", kind="param", frame="f [inline]", scope="lib", optimized=True,
              gdb="0", bt="<optimized out>", gdb_location="DW_OP_entry_value(DW_OP_reg8 [$r8])")
    es = b.match(d, "b.gcc-O2", "core", "b")
    assert es == [entry] and b.match(d, "b.gcc-O2", "live", "b") == []
    rec = _record("t", {"name": "b.gcc-O2", "program": "b", "opt": 2}, "core", "lib", d)
    assert vars_report.baseline_cause(rec) == "inline-entry-value"
    assert varscmp.pin(d, es, "inline-entry-value") == entry
    assert d.pinned == "inline-entry-value" and "pinned: inline-entry-value" in d.show()
    # The same place, another kind of difference: not pinned.
    d2 = _diff(what="value", name="x", kind="param", frame="f [inline]", scope="lib", optimized=True)
    assert varscmp.pin(d2, es, "parameter-ref") is None
    assert d2.pinned is None and "now looks like" in d2.baseline_problem
    # Unclassified entries never pin.
    d3 = _diff(what="value", name="y", kind="param", frame="f [inline]", scope="lib", optimized=True)
    varscmp.pin(d3, b.match(d3, "b.gcc-O2", "core", "b"), "unclassified")
    assert d3.pinned is None and "classify" in d3.baseline_problem
    # Volatile causes: any binary of the program, any mode, one entry per cause.
    d4 = _diff(what="value", name="s", kind="local", frame="g", scope="lib", optimized=True)
    es = b.match(d4, "b.clang-O0", "live", "b")
    assert len(es) == 2 and b.match(d4, "bb.clang-O0", "live", "bb") == []
    assert varscmp.pin(d4, es, "utf8-unprintable-char") == volatile[1]
    d5 = _diff(what="value", name="s", kind="local", frame="g", scope="lib", optimized=True)
    assert varscmp.pin(d5, es, "utf8-incomplete-sequence") is None and d5.baseline_problem
    assert varscmp.key_covers(varscmp.record_key(volatile[0]), "b.gcc-O2", "core", "lib")
    assert not varscmp.key_covers(varscmp.record_key(volatile[0]), "b.gcc-O2", "core", "own")
    # Volatile causes need the pattern, the others must not use it.
    assert varscmp.entry_problems(dict(volatile[0], binary="b.gcc-O2"))
    assert varscmp.entry_problems(dict(entry, binary="b.*", mode="*"))
    assert not varscmp.entry_problems(volatile[0]) and not varscmp.entry_problems(entry)


@pytest.mark.parametrize("what,gdb,bt,extra,cause", [
    # bt spells C++ function symbols as gdb does: any other spelling is a bug.
    ("value", "0x55d0 <main(int, char**)>", "0x55d0 <main>", {}, "unclassified"),
    ("entry-value", "main@entry=0x55d0 <main(int, char**)>", "entry_value='0x55d0 <main>'", {},
     "unclassified"),
    ("value", "0x55d0 <g_counter>", "0x55d0 <g_rect>", {}, "unclassified"),
    ("value", "@0x7ffd: (void (W::*)(W * const)) 0x55d0 <W::run()>", "@0x7ffd: 0x55d0", {},
     "unclassified"),
    ("value", "@0x7ffd: (void (W::*)(W * const)) 0x55d0 <W::run()>", "@0x7ffd: 0x55d1", {}, "unclassified"),
    ("value", '"h\u00e9"', '"h\\303\\251"', {}, "utf8-strings"),
    ("value", "<optimized out>", "<error: unsupported DWARF operation 0xfa>", {}, "parameter-ref"),
    ("value", "256", "<optimized out>", {"frame": "f", "caller_kind": "tailcall",
                                         "gdb_location": "DW_OP_entry_value(DW_OP_reg1 [$rdx])"},
     "tailcall-entry-value"),
    ("value", "256", "<optimized out>", {"frame": "f"}, "other-optimized-out"),
    ("value", "256", "<optimized out>", {"frame": "f [inline]"}, "unclassified"),
    ("value", "256", "<optimized out>", {"frame": "f", "optimized_frame": False}, "unclassified"),
    ("value", "1", "2", {}, "unclassified"),
    ("missing-in-bt", "done=<optimized out>", "(absent)",
     {"kind": "local", "gdb_symbols": "9 __CORE_ADDR; 13 __CORE_ADDR"}, "gdb-label-as-local"),
    ("missing-in-bt", "x=<optimized out>", "(absent)", {"kind": "local", "gdb_symbols": "13 int"},
     "abstract-locals"),
    ("missing-in-bt", "x=<optimized out>", "(absent)", {"kind": "local", "gdb_symbols": "13 int",
                                                         "scope": "own"}, "unclassified"),
    ("missing-in-bt", "x=<optimized out>", "(absent)", {"kind": "local"}, "unclassified"),
    ("missing-in-bt", "done=1", "(absent)", {"kind": "local"}, "unclassified"),
    ("scope", "No symbol table info available.", "variables: 0 entries",
     {"frame": "<signal handler called>"}, "signal-frame-no-symtab"),
    ("extra-in-bt", "(absent)", "<optimized out>", {"kind": "local", "frame": "f [inline]",
                                                     "binary": "deep_c.clang-O0"}, "abstract-block-duplicate"),
    ("value", "0x5 <std::_Function_handler<int(int), main(int, char**)::<lambda(int)> >::_M_invoke"
              "(const std::_Any_data &, int &&)>",
     "0x5 <std::_Function_handler<int (int), main::'lambda'(int)>::_M_invoke(std::_Any_data const&, int&&)>",
     {}, "unclassified"),
    ("value", "0x5 <f(int)+4>", "0x5 <f+8>", {}, "unclassified"),
    ("value", '0x7ffe "=\\320\\373\\275\\222U"', '0x7ffe "=\\320\ufffd\ufffd\ufffdU"', {},
     "utf8-invalid-lead-byte"),
    ("value", '0x7ffe "=\\320\\373\\275\\222U"', '0x7ffe "=\\320\ufffd\ufffd\ufffdV"', {},
     "unclassified"),
    ("value", '0x7ffe <incomplete sequence \\360>', '0x7ffe "=", <incomplete sequence \\360>', {},
     "utf8-incomplete-sequence"),
    ("value", '{a = 1, t = 0x7ffe <incomplete sequence \\320>}',
     '{a = 1, t = 0x7ffe "\\004", <incomplete sequence \\320>}', {}, "utf8-incomplete-sequence"),
    ("value", '0x7ffe "ab", <incomplete sequence \\320>', '0x7ffe "ab=", <incomplete sequence \\320>', {},
     "utf8-incomplete-sequence"),
    # bt's old form (the bytes in one literal), another sequence, two lost characters, another
    # string before: not this gdb fault.
    ("value", '0x7ffe <incomplete sequence \\320>', '0x7ffe "\\020\\320"', {}, "unclassified"),
    ("value", '0x7ffe <incomplete sequence \\320>', '0x7ffe "=", <incomplete sequence \\321>', {},
     "unclassified"),
    ("value", '0x7ffe <incomplete sequence \\320>', '0x7ffe "ab", <incomplete sequence \\320>', {},
     "unclassified"),
    ("value", '0x7ffe "ab", <incomplete sequence \\320>', '0x7ffe "xb=", <incomplete sequence \\320>', {},
     "unclassified"),
    ("value", '0x7fff "\\020\\260\\036\\327\\273U"', '0x7fff "\\020\\260\\036\u05fbU"', {},
     "utf8-unprintable-char"),
    ("value", '0x7fff "\\020\\303\\251U"', '0x7fff "\\020\u00e9U"', {}, "unclassified"),
    ("scope", "a DWARF scope: 2 params, 0 locals (No locals.)", "no `variables` (no DWARF scope)",
     {"frame": "g [tailcall]"}, "unclassified"),
    ("scope", "a DWARF scope: 0 params, 0 locals (No locals.)", "no `variables` (no DWARF scope)",
     {"frame": "<signal handler called>"}, "signal-frame-no-locals"),
    ("scope", "a DWARF scope: 1 params, 0 locals", "no `variables` (no DWARF scope)", {"frame": "g"},
     "unclassified"),
])
def test_baseline_cause_rules(what, gdb, bt, extra, cause):
    r = {"what": what, "gdb": gdb, "bt": bt, "frame": "f", "kind": "param", "scope": "lib",
         "optimized_frame": True, "binary": "x.gcc-O2", **extra}
    assert vars_report.baseline_cause(r) == cause
