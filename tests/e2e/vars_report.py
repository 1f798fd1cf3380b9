"""Group the differences of the last test_vars_oracle.py run by likely cause
(a to-do list; heuristic: read the examples), and write the baseline of
known differences.

    python3 tests/e2e/vars_report.py [REPORT.json ...] [--pinned] [--all] [--examples N]
    python3 tests/e2e/vars_report.py [REPORT.json ...] --write-baseline [--merge] [--baseline PATH]

REPORT.json defaults to $BT_VARS_REPORT or <build>/tests/vars-oracle-report.json.
Failing differences only (neither in an accepted category nor pinned by the
baseline), unless --pinned (pinned ones too, grouped by their cause) or --all
(accepted ones too).

--write-baseline writes tests/e2e/data/vars-known-differences.json
($BT_VARS_BASELINE, or --baseline PATH) from the report(s): one entry per
(binary, mode, scope, frame, variable, kind) among the differences that are
not accepted by a category (failing or pinned), with the cause that
baseline_cause() gives (varscmp.BASELINE_CAUSES; "unclassified" when no rule
applies: those make the oracle fail until a human classifies them by adding
a rule to baseline_cause() -- and a cause to varscmp.BASELINE_CAUSES if none
fits -- and writes the baseline again; the oracle re-applies the rules to
every difference and pins it only with an entry of the same cause, so a
cause written into the file by hand does not pin anything).  Entries of
(binary, mode, scope) that the report(s) did not compare (BT_E2E_SELECT,
skipped tests, tests that errored) are kept as they are; --merge also keeps
the other entries of the existing baseline that the report(s) do not have
(differences that depend on stack garbage and do not show up in every run);
several reports are merged too.  Entries of the volatile causes (binary
`<program>.*`, mode `*`: differences that depend on memory contents) are kept
unless --drop-volatile, since one run cannot show that they are gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "oracle"))
import e2e_util as u  # noqa: E402
import framecmp  # noqa: E402
import varscmp  # noqa: E402

_OPS = {0xf3: "DW_OP_GNU_entry_value", 0xfa: "DW_OP_GNU_parameter_ref", 0xf2: "DW_OP_GNU_implicit_pointer",
        0xa3: "DW_OP_entry_value", 0xa0: "DW_OP_implicit_pointer", 0xf5: "DW_OP_GNU_regval_type",
        0xf6: "DW_OP_GNU_deref_type", 0xf7: "DW_OP_GNU_convert", 0xa8: "DW_OP_convert"}


def _entry_payload(s):
    if s is None:
        return None
    m = re.match(r"^[\w#]+@entry=(.*)$", s, re.S) or re.match(r"^entry_value='(.*)'$", s, re.S)
    return m.group(1) if m else s


def cause(r) -> str:
    what, g, b, where, name = r["what"], r["gdb"] or "", r["bt"] or "", r["where"], r["name"]
    fn = where.split(" ", 3)[-1] if where.startswith("thread") else where
    if what == "entry-value":
        g, b = _entry_payload(g), _entry_payload(b)
        if g == "(no entry value)":
            return "entry value: bt has one, gdb shows none"
    if what == "frame-unaligned":
        return "frame not aligned with gdb's (see test_oracle.py)"
    if what == "thread-missing":
        return "thread missing"
    if what == "scope":
        if "[tailcall]" in where:
            return "tail-call frame: gdb prints its parameters (entry values) and `No locals.`, bt no variables"
        if "<signal handler called>" in where:
            return ("signal frame: gdb prints `No locals.`, bt has no variables" if "no `variables`" in b
                    else "signal frame: gdb has no symbol table, bt has variables")
        return "scope: " + ("gdb has a DWARF scope, bt has no variables" if "no `variables`" in b
                            else "bt has variables, gdb has no symbol table")
    if what == "order":
        return ("variables in another order (gdb keeps the symbols of lexical blocks, unlike "
                "function blocks, in a hashed dictionary)")
    if what == "extra-in-bt":
        if name == "":
            return "unnamed parameter: bt lists it (name \"\"), gdb omits it"
        return "extra variable in bt"
    if what == "missing-in-bt":
        gv = g.split("=", 1)[1] if "=" in g else g
        if re.search(r"operator\(\)", fn) and r["kind"] == "local" and r["scope"] == "own":
            return "gcc lambda: gdb lists the captures as locals of operator(), bt does not"
        if gv.startswith("<optimized out>"):
            return "missing variable that gdb shows as <optimized out> (no location / nested block)"
        return "missing variable"
    m = re.match(r"^<error: unsupported DWARF operation (0x[0-9a-f]+)>$", b)
    if m:
        op = int(m.group(1), 16)
        return f"bt: unsupported DWARF operation {m.group(1)} ({_OPS.get(op, '?')}), gdb: {g[:20]}"
    if b.startswith("<error: bad location: No DW_AT_location>"):
        return "variable without DW_AT_location: bt prints an error, gdb <optimized out>"
    if b.startswith("<error"):
        return "bt read error: " + re.sub(r"0x[0-9a-f]+", "0x..", b)[:60]
    if b == "<optimized out>" and g != "<optimized out>":
        if "[inline]" in where:
            return "bt <optimized out> where gdb has a value: inlined frame (DW_OP_entry_value of the containing function)"
        if name in ("argc", "argv") and re.search(r"\bmain\b", fn):
            return "bt <optimized out> where gdb has a value: main's argc/argv (entry value from __libc_start_call_main's call site, in libc)"
        return "bt <optimized out> where gdb has a value"
    if _strip_symbols(g) == _strip_symbols(b) and g != b:
        return ("symbol in `0x... <sym>`: gdb spells C++ functions from DWARF (`main(int, char**)`, "
                "`<lambda(int)>`, `const T &`), bt as the demangler (`main`, `'lambda'(int)`, `T const&`)")
    if re.sub(r"\b(?:\w+::)+(\w+)\b", r"\1", g) == re.sub(r"\b(?:\w+::)+(\w+)\b", r"\1", b) and \
            re.search(r"\w+::\w+", g):
        return "enum class enumerator: gdb qualifies it (`vp::Mode::Done`), bt does not"
    if re.search(r"@0x[0-9a-f]+[,}]", g) and re.sub(r"(@0x[0-9a-f]+): ", r"\1", b) != b:
        return "reference member inside an aggregate: gdb prints only `@0x...`, bt adds `: value`"
    if g.endswith("...}") and re.fullmatch(r"0x[0-9a-f]+", b):
        return "array longer than 200 elements: bt prints an address"
    if re.search(r"[^\x00-\x7f]", g) and not re.search(r"[^\x00-\x7f]", b):
        return "string bytes that are valid UTF-8: gdb prints the characters, bt octal escapes"
    k = next((i for i, (x, y) in enumerate(zip(g, b)) if x != y), min(len(g), len(b)))
    gk, bk = g[k:], b[k:]
    if gk.startswith("static ") or (g[:k].endswith("{") and gk.startswith("static")):
        return "static data members: gdb prints them (`static _M_max_size = 16`), bt does not"
    if gk.startswith(", <No data fields>") or bk.startswith(", <No data fields>"):
        return "`<No data fields>` after the base classes of a class with no own members: gdb prints it, bt does not"
    if gk.startswith("NULL") and bk.startswith("0x0"):
        return "null pointer-to-data-member: gdb prints NULL, bt 0x0"
    if gk.startswith("(") and "::*)" in gk[:80]:
        return ("pointer to member function: gdb prints `(void (C::*)(C * const)) 0x.. <C::f()>`, "
                "bt only the address")
    if what == "order":
        return "variables in another order"
    hexless = re.sub(r"0x[0-9a-f]+", "0x..", f"gdb {g[max(0, k - 15):k + 25]!r} / bt {b[max(0, k - 15):k + 25]!r}")
    return f"value format difference (first at: {hexless})"


# ---------------------------------------------------------------------------
# Baseline causes (varscmp.BASELINE_CAUSES)

_OPT = "<optimized out>"
_SYM_RE = re.compile(r"0x[0-9a-f]+ <")


def baseline_cause(r) -> str:
    """The cause id (varscmp.BASELINE_CAUSES) of a difference of the JSON
    report, or varscmp.UNCLASSIFIED.  Deliberately narrow: a rule must name
    what it recognises, so that a new kind of difference is unclassified."""
    what, g, b = r["what"], r.get("gdb") or "", r.get("bt") or ""
    frame = r.get("frame") or ""
    inline = frame.endswith(" [inline]")
    optimized = r.get("optimized_frame", True)
    U = varscmp.UNCLASSIFIED
    if what == "scope":
        if b.startswith("no `variables`") and g.startswith("a DWARF scope"):
            if frame == varscmp.SIGNAL_FRAME_ID and g.startswith("a DWARF scope: 0 params, 0 locals"):
                return "signal-frame-no-locals"
        if (frame == varscmp.SIGNAL_FRAME_ID and g == "No symbol table info available."
                and b == "variables: 0 entries"):
            return "signal-frame-no-symtab"
        return U
    if what == "missing-in-bt":
        if r.get("kind") != "local" or not g.endswith("=" + _OPT):
            return U
        # gdb's symbols of that name in the frame's blocks (`<addr_class> <type>`; second gdb run).
        syms = [x.split(" ", 1)[1] for x in (r.get("gdb_symbols") or "").split("; ") if " " in x]
        if syms and all(t == varscmp.GDB_LABEL_TYPE for t in syms):
            return "gdb-label-as-local"
        if syms and r.get("scope") == "lib" and optimized:
            return "abstract-locals"
        return U
    if what == "extra-in-bt":
        if (r.get("kind") == "local" and b == _OPT and inline and ".clang-" in r.get("binary", "")):
            return "abstract-block-duplicate"
        return U
    if what == "entry-value":
        return U
    if what != "value":
        return U
    if b == _OPT and g != _OPT:
        if not optimized:
            return U
        loc = r.get("gdb_location") or ""
        entry_value = "DW_OP_entry_value" in loc or "DW_OP_GNU_entry_value" in loc
        if inline:
            return "inline-entry-value" if entry_value else U
        if entry_value and r.get("caller_kind") == "tailcall":
            return "tailcall-entry-value"
        return "other-optimized-out"
    if b == "<error: unsupported DWARF operation 0xfa>" and g == _OPT:
        return "parameter-ref"
    if re.search(r"[^\x00-\x7f]", g) and not re.search(r"[^\x00-\x7f]", b) and _octal_to_utf8(b) == g:
        return "utf8-strings"
    if "\ufffd" in b and _escapes_vs_replacement(g, b):
        return "utf8-invalid-lead-byte"
    if "<incomplete sequence " in g and _incomplete_sequence(g, b):
        return "utf8-incomplete-sequence"
    if re.search(r"[^\x00-\x7f]", b) and _unprintable_as_escapes(g, b):
        return "utf8-unprintable-char"
    return U


_TOKEN_RE = re.compile(r"\\[0-7]{1,3}|\\.|.", re.S)


def _escapes_vs_replacement(g: str, b: str) -> bool:
    """g and b agree except that where gdb has an octal escape of a byte >=
    0x80, bt has U+FFFD (bt printed the byte raw, its JSON writer replaced it)."""
    gt, bt = _TOKEN_RE.findall(g), _TOKEN_RE.findall(b)
    if len(gt) != len(bt):
        return False
    replaced = 0
    for x, y in zip(gt, bt):
        if x == y:
            continue
        if y == "\ufffd" and re.fullmatch(r"\\[2-3][0-7]{2}", x):
            replaced += 1
            continue
        return False
    return replaced > 0


_INCOMPLETE_RE = re.compile(r'(?:"((?:[^"\\]|\\.)*)", )?<incomplete sequence ((?:\\[0-7]{3})+)>')


def _incomplete_sequence(g: str, b: str) -> bool:
    """Both end a string with `<incomplete sequence \\ooo>`, but gdb lost the
    character just before it (charset.c: the iconv call that converted it hit
    the cut-short sequence, EINVAL, and its output is dropped): bt's literal
    before the marker is gdb's plus one character (`"=", <incomplete sequence
    \\360>` where gdb prints `<incomplete sequence \\360>`); the rest is the
    same."""
    while True:
        m = _INCOMPLETE_RE.search(g)
        if not m:
            return g == b
        pre = g[:m.start()]
        if not b.startswith(pre):
            return False
        bm = _INCOMPLETE_RE.match(b, len(pre))
        if not bm or bm.group(2) != m.group(2):
            return False
        glit = _TOKEN_RE.findall(m.group(1) or "")
        blit = _TOKEN_RE.findall(bm.group(1) or "")
        if len(blit) != len(glit) + 1 or blit[:-1] != glit:
            return False
        g = g[m.end():]
        b = b[bm.end():]


def _unprintable_as_escapes(g: str, b: str) -> bool:
    """bt printed characters that are not printable (Python's Unicode data:
    unassigned, format, private use, ...) where gdb has the octal escapes of
    their UTF-8 bytes; everything else is the same."""
    chars = {c for c in b if ord(c) >= 0x80}
    if not chars or any(c.isprintable() for c in chars):
        return False
    esc = "".join(c if ord(c) < 0x80 else "".join(f"\\{x:03o}" for x in c.encode("utf-8")) for c in b)
    return esc == g


def _octal_to_utf8(s: str) -> str:
    """bt's octal escapes of bytes >= 0x80 decoded as UTF-8 (what gdb prints in
    a UTF-8 locale); unchanged where they are not valid UTF-8."""
    def run(m):
        data = bytes(int(x, 8) for x in re.findall(r"\\([0-7]{3})", m.group(0)))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return m.group(0)
    return re.sub(r"(?:\\[2-3][0-7]{2})+", run, s)


def _strip_symbols(s: str) -> str:
    """`0x... <anything with nested <>>` -> `0x... <SYM>`."""
    out = []
    i = 0
    while i < len(s):
        m = re.match(r"0x[0-9a-f]+ <", s[i:])
        if m:
            j = i + m.end()
            depth = 1
            while j < len(s) and depth:
                depth += {"<": 1, ">": -1}.get(s[j], 0)
                j += 1
            out.append(m.group(0) + "SYM>")
            i = j
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _clean(s: str, n: int = 160) -> str:
    """Example text for a note: addresses masked (they change from run to run), clipped."""
    s = re.sub(r"0x[0-9a-f]{5,}", "0x...", s or "")
    return s if len(s) <= n else s[:n] + "..."


def entry_of(r: dict) -> dict:
    key = varscmp.record_key(r)
    e = dict(zip(varscmp.BASELINE_KEY_FIELDS, key))
    e["cause"] = baseline_cause(r)
    if r["what"] in ("scope", "frame-unaligned", "thread-missing", "order"):
        ex = f"gdb: {_clean(r.get('gdb'))} / bt: {_clean(r.get('bt'))}"
    else:
        ex = f"{r.get('kind') or ''} gdb: {_clean(r.get('gdb'))} / bt: {_clean(r.get('bt'))}".strip()
    if r.get("gdb_location"):
        ex += f" / gdb's location: {_clean(r['gdb_location'], 120)}"
    if r.get("gdb_symbols"):
        ex += f" / gdb's symbols: {_clean(r['gdb_symbols'], 120)}"
    e["note"] = ex
    return e


def write_baseline(reports: List[dict], path: Path, merge: bool, drop_volatile: bool = False) -> dict:
    """Write the baseline from the reports' not-accepted differences; returns
    {cause: number of entries}."""
    old = {}  # entry_id -> entry
    if path.exists():
        try:
            for e in json.loads(path.read_text()).get("entries", []):
                old[varscmp.entry_id(e)] = e
        except (ValueError, AttributeError, KeyError, TypeError) as ex:
            print(f"warning: {path}: not read ({ex}); writing it anew", file=sys.stderr)
            old = {}
    new = {}
    covered = set()  # (binary, mode, scope) compared by the report(s)
    for data in reports:
        for t in data["tests"].values():
            covered.add((t["binary"], t["mode"], t["scope"]))
    for data in reports:
        for r in data["differences"]:
            if r["accepted"]:
                continue
            e = entry_of(r)
            if e["cause"] in varscmp.VOLATILE_CAUSES:
                vk = varscmp.volatile_key(varscmp.record_key(e), r["program"])
                e.update(zip(varscmp.BASELINE_KEY_FIELDS, vk))
            new.setdefault(varscmp.entry_id(e), e)
    for key, e in old.items():
        if key in new:
            continue
        if e.get("cause") in varscmp.VOLATILE_CAUSES:
            keep = not drop_volatile  # one run cannot show that they are gone
        else:
            # Entries of tests the report(s) did not run (BT_E2E_SELECT, skips, errors) are kept.
            keep = merge or not any(varscmp.key_covers(key, *c) for c in covered)
        if keep:
            new[key] = e
    entries = [new[k] for k in sorted(new, key=lambda k: tuple(x or "" for x in k))]
    doc = {
        "description": (
            "Known differences between `bt --json --vars` and gdb's `bt full` "
            "(tests/e2e/test_vars_oracle.py) that no accepted category of varscmp.py "
            "covers; each one is pinned here with its cause (varscmp.BASELINE_CAUSES). "
            "Key: binary, mode, scope, function (gdb's frame function name plus "
            "[inline]/[tailcall]), variable (\"\" for a frame-level difference), kind. "
            "note: an example (addresses masked), for humans. Written by "
            "`python3 tests/e2e/vars_report.py --write-baseline` from the last run's report."),
        "entries per cause (the causes are described in varscmp.BASELINE_CAUSES)": {},
        "entries": entries,
    }
    counts = defaultdict(int)
    for e in entries:
        counts[e["cause"]] += 1
    doc["entries per cause (the causes are described in varscmp.BASELINE_CAUSES)"] = {
        c: counts[c] for c in [c.name for c in varscmp.BASELINE_CAUSES] + [varscmp.UNCLASSIFIED] if counts[c]}
    # One entry per line (readable diffs when the baseline is regenerated).
    text = json.dumps({k: v for k, v in doc.items() if k != "entries"}, indent=1, ensure_ascii=False)
    body = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries)
    text = text[:-2] + ',\n "entries": [\n' + body + "\n ]\n}\n"
    json.loads(text)
    path.write_text(text)
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("report", nargs="*")
    ap.add_argument("--all", action="store_true", help="accepted differences too")
    ap.add_argument("--pinned", action="store_true", help="pinned differences too (by cause)")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--write-baseline", action="store_true",
                    help="write the baseline of known differences from the report(s)")
    ap.add_argument("--merge", action="store_true",
                    help="with --write-baseline: keep the existing entries the report(s) do not have")
    ap.add_argument("--drop-volatile", action="store_true",
                    help="with --write-baseline: drop the entries of volatile causes the report(s) do not have")
    ap.add_argument("--baseline", help="the baseline file (default: $BT_VARS_BASELINE or "
                    "tests/e2e/data/vars-known-differences.json)")
    a = ap.parse_args(argv)
    paths = [Path(p) for p in a.report] or [
        Path(os.environ.get("BT_VARS_REPORT") or u.build_dir() / "tests" / "vars-oracle-report.json")]
    reports = [json.loads(p.read_text()) for p in paths]
    if a.write_baseline:
        if not any(r["tests"] for r in reports):
            sys.exit(f"{', '.join(map(str, paths))}: no oracle test in the report(s); run "
                     "test_vars_oracle.py first")
        out = Path(a.baseline or varscmp.baseline_path())
        counts = write_baseline(reports, out, a.merge, a.drop_volatile)
        print(f"{out}: {sum(counts.values())} entries")
        for c in varscmp.BASELINE_CAUSES + [varscmp.Cause(varscmp.UNCLASSIFIED, "")]:
            if counts.get(c.name):
                print(f"  {c.name}: {counts[c.name]}")
        if counts.get(varscmp.UNCLASSIFIED):
            print("unclassified entries make test_vars_oracle.py fail: classify them "
                  "(`python3 tests/e2e/vars_report.py` lists them)")
        return
    groups = defaultdict(list)
    ntests = 0
    for data in reports:
        ntests += len(data["tests"])
        for r in data["differences"]:
            if r["accepted"]:
                if a.all:
                    groups["accepted: " + r["category"]].append(r)
                continue
            if r.get("pinned"):
                if a.pinned or a.all:
                    groups["pinned: " + r["pinned"]].append(r)
                continue
            bc = baseline_cause(r)
            prob = f" -- {r['baseline_problem']}" if r.get("baseline_problem") else ""
            what = cause(r) if bc == varscmp.UNCLASSIFIED else "not in the baseline"
            groups[f"FAILING [{bc}] {what}{prob}"].append(r)
    print(f"{', '.join(map(str, paths))}: {ntests} tests, {sum(len(v) for v in groups.values())} differences shown")
    for data in reports:
        unseen = [e for e in data.get("baseline_unseen") or [] if e["cause"] not in varscmp.VOLATILE_CAUSES]
        if unseen:
            print(f"\n{len(unseen)} baseline entries not seen in the run (possibly fixed: remove them "
                  "from the baseline, or keep them with --merge if they depend on stack garbage):")
            for e in unseen:
                print(f"   - {' | '.join(e[k] for k in varscmp.BASELINE_KEY_FIELDS)} ({e['cause']})")
    for key, rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        tests = {r["test"] for r in rs}
        own = sum(r["scope"] == "own" for r in rs)
        o0 = sum(r["opt"] == 0 for r in rs)
        print(f"\n## {key}\n   {len(rs)} differences in {len(tests)} tests ({own} in own-source frames, {o0} in -O0 fixtures)")
        seen = set()
        shown = 0
        for r in rs:
            ex = (r["program"], r["name"], r["where"].split(" ", 3)[-1])
            if ex in seen:
                continue
            seen.add(ex)
            g = (r["gdb"] or "")[:160]
            b = (r["bt"] or "")[:160]
            loc = f"\n       gdb's location: {r['gdb_location'][:160]}" if r.get("gdb_location") else ""
            if r.get("gdb_symbols"):
                loc += f"\n       gdb's symbols: {r['gdb_symbols'][:160]}"
            print(f"   - {r['binary']} {r['mode']}: {r['where']}: {r['kind'] or ''} {r['name'] or ''}\n"
                  f"       gdb: {g}\n       bt : {b}{loc}")
            shown += 1
            if shown >= a.examples:
                break


if __name__ == "__main__":
    main()
