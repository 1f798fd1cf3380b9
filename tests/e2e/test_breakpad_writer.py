"""`bt symbols`: Breakpad .sym files written from the fixture binaries, checked the way dump_syms
output is checked: symbolizing and unwinding a crash with the .sym alone must give what the DWARF
and .eh_frame give.

For every fixture binary: `bt symbols EXE -o STORE` (with the fixtures' debug directory for the
split variants), then its core read twice, `bt --json --past-main CORE` (DWARF, .eh_frame) and
`bt --json --past-main --exe COPY --symbols STORE CORE` where COPY is the executable with its DWARF
removed (`objcopy --strip-debug`: .symtab and .eh_frame stay). Frame by frame: the pc, how it was
unwound, inlined or not, the function, the file's base name and the line must be equal.
For a set of fixtures (PIE and not, static, gcc and clang, threads, a signal handler) the copy
also loses .eh_frame and .eh_frame_hdr: the .sym's STACK CFI alone must unwind to the same pcs,
each frame the DWARF run got by CFI again by CFI.

Also: every fixture's .sym follows the format's grammar (read here, not by bt: record shapes,
FILE and INLINE_ORIGIN ids defined, lines and INLINE inside a FUNC, no control characters);
`-o FILE.sym`, `--no-cfi`, several EXEs into a store; the errors (missing file, not ELF, no
build-id, usage) with their exit statuses; and binaries with random bytes in their DWARF and
.eh_frame still give a well-formed file, quickly, never a crash.

Differences that are not the writer's, pinned by cause (each is counted and must be what the
cause says, nothing looser; tests/unit/breakpad_writer_test.cpp pins the same at every address
of every fixture). The reader names .sym functions as gdb does (symbols/gdb_names.cpp,
breakpadFunctionName: a template's return type, a bare "operator()", a requires-clause are
handled there), except:
- `return-type-around-name`: a function returning a pointer to function or member is spelled
  with its name inside the return type ("void (W::*&std::__get_helper<...>(...))").
- `tailcall`: frames bt reconstructs from DWARF call-site information (how == "tailcall") that
  the executable's DWARF gave (in it, or in a callee of it: the caller's DW_TAG_call_site names
  where the chain starts) have no counterpart in the Breakpad format; they are left out of the
  DWARF run's list (other modules' chains, libc's with its debug file, are in both runs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import e2e_util as u

OBJCOPY = shutil.which("objcopy")
pytestmark = pytest.mark.skipif(not OBJCOPY, reason="objcopy (binutils) is needed")

# The copies without .eh_frame: PIE / non-PIE / static, gcc / clang, O0 / O2, threads, signals.
NO_EH_FRAME = {
    "deep_c.gcc-O2-dwarf5-pie-nofp", "deep_c.clang-O2-dwarf4-nopie-fp",
    "threads_cpp.gcc-O0-dwarf5-pie-fp", "threads_cpp.clang-O2-dwarf5-pie-nofp",
    "sighandler_c.gcc-O2-dwarf5-static-nofp", "sighandler_c.clang-O0-dwarf5-pie-fp",
    "templates_cpp.gcc-O2-dwarf5-pie-nofp", "recursion_c.gcc-O0-dwarf4-nopie-nofp",
}

PINNED = Counter()


def _debug_args(entry):
    return ["--debug-dir", entry["debug_dir"]] if entry.get("debug_dir") else []


def _bt_json(args):
    run = u.run_bt(["--json", "-q", "--past-main"] + [str(a) for a in args])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def _sym_names(sym: Path):
    """The full names of the FUNC and INLINE_ORIGIN records."""
    names = set()
    for line in sym.read_text().splitlines():
        if line.startswith("FUNC "):
            parts = line.split(" ", 5 if line.startswith("FUNC m ") else 4)
            names.add(parts[-1])
        elif line.startswith("INLINE_ORIGIN "):
            names.add(line.split(" ", 2)[2])
    return names


def _same_function(dwarf: str, sym: str, full_names) -> bool:
    """True if equal, or different by one of the pinned causes (counted). `sym` is what bt made of
    a .sym name (breakpadFunctionName); `full_names` the .sym's names as written."""
    if dwarf == sym:
        return True
    # return-type-around-name: "void (C::*&<name>(<parameters>))".
    for n in full_names:
        at = n.find(dwarf + "(")
        if at > 0 and "(" in n[:at] and sym and n.startswith(sym):
            PINNED["return-type-around-name"] += 1
            return True
    return False


def _frames(doc):
    return [(t["tid"], t["frames"]) for t in doc["threads"]]


def _without_tailcalls(frames, exe):
    """The DWARF run's tail-call frames that came from the executable's DWARF: in it, or below a
    caller in it (the caller's DW_TAG_call_site names the function the chain starts from).
    Other modules' (libc's, with its debug file) are in both runs."""
    def in_exe(f):
        return Path(f.get("module") or "").name == exe
    kept = []
    for i, f in enumerate(frames):
        if f.get("how") == "tailcall":
            caller = next((g for g in frames[i + 1:] if g.get("how") != "tailcall"), None)
            if in_exe(f) or (caller is not None and in_exe(caller)):
                continue
        kept.append(f)
    PINNED["tailcall"] += len(frames) - len(kept)
    return kept


def _compare(dwarf_doc, sym_doc, full_names, exe):
    problems = []
    dw, sy = _frames(dwarf_doc), _frames(sym_doc)
    assert [t for t, _ in dw] == [t for t, _ in sy], "threads differ"
    for (tid, dframes), (_, sframes) in zip(dw, sy):
        dframes = _without_tailcalls(dframes, exe)
        if [f["pc"] for f in dframes] != [f["pc"] for f in sframes]:
            problems.append(f"thread {tid}: pcs {[f['pc'] for f in dframes]} != {[f['pc'] for f in sframes]}")
            continue
        for d, s in zip(dframes, sframes):
            where = f"thread {tid} frame {d['pc']}"
            if (d["how"], d["inlined"]) != (s["how"], s["inlined"]):
                problems.append(f"{where}: how/inlined {d['how']}/{d['inlined']} != {s['how']}/{s['inlined']}")
            dfn, sfn = d.get("function") or "", s.get("function") or ""
            if not _same_function(dfn, sfn, full_names):
                problems.append(f"{where}: function {dfn!r} != {sfn!r}")
            dfile = Path(d["file"]).name if d.get("file") else None
            sfile = Path(s["file"]).name if s.get("file") else None
            if (dfile, d.get("line")) != (sfile, s.get("line")):
                problems.append(f"{where} ({dfn}): {dfile}:{d.get('line')} != {sfile}:{s.get('line')}")
    return problems


def _write_store(entry, store: Path) -> Path:
    run = u.run_bt(["symbols", entry["path"], "-o", store] + _debug_args(entry))
    assert run.returncode == 0, run.describe()
    m = re.match(r"symbols: (.*) \((\d+) functions, (\d+) lines, (\d+) inlined calls, (\d+) public symbols, "
                 r"(\d+) CFI records\)$", run.stdout.strip())
    assert m, run.stdout
    sym = Path(m.group(1))
    assert sym.is_file()
    name = Path(entry["path"]).name
    debug_id = sym.parent.name
    assert sym == store / name / debug_id / f"{name}.sym"
    head = sym.read_text().splitlines()[:2]
    build_id = u.build_id(entry["path"])
    assert debug_id == _breakpad_debug_id(build_id)
    assert head[0] == f"MODULE Linux x86_64 {debug_id} {name}"
    assert head[1] == f"INFO CODE_ID {build_id.upper()}"
    assert int(m.group(2)) > 0 and int(m.group(3)) > 0 and int(m.group(6)) > 0, run.stdout
    return sym


def _breakpad_debug_id(build_id: str) -> str:
    """Breakpad's debug id, made here: the build-id's first 16 bytes as a GUID (its first three
    fields little-endian), then the age, 0."""
    b = bytes.fromhex(build_id)[:16].ljust(16, b"\0")
    return (b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]).hex().upper() + "0"


def _stripped_copy(entry, dst: Path, remove_eh_frame=False) -> Path:
    shutil.copy(entry["path"], dst)
    args = [OBJCOPY, "--strip-debug"]
    if remove_eh_frame:
        args += ["--remove-section", ".eh_frame", "--remove-section", ".eh_frame_hdr"]
    subprocess.run(args + [str(dst)], check=True, capture_output=True)
    sections = u.elf_sections(str(dst))
    assert ".debug_info" not in sections and ".symtab" in sections
    assert (".eh_frame" in sections) != remove_eh_frame
    return dst


def test_symbolizing_with_the_sym_gives_what_dwarf_gives(fixture_binary_entry, bt_bin, cores, tmp_path):
    entry = fixture_binary_entry
    core = cores.core(entry)
    store = tmp_path / "store"
    sym = _write_store(entry, store)
    full_names = _sym_names(sym)
    dwarf_doc = _bt_json(_debug_args(entry) + [core])
    copy = _stripped_copy(entry, tmp_path / Path(entry["path"]).name)
    sym_doc = _bt_json(["--exe", copy, "--symbols", store, core])
    problems = _compare(dwarf_doc, sym_doc, full_names, Path(entry["path"]).name)
    assert not problems, "\n".join(problems)

    if entry["name"] in NO_EH_FRAME:
        bare = _stripped_copy(entry, tmp_path / "no-eh-frame", remove_eh_frame=True)
        bare_doc = _bt_json(["--exe", bare, "--symbols", store, core])
        problems = _compare(dwarf_doc, bare_doc, full_names, Path(entry["path"]).name)
        assert not problems, "without .eh_frame:\n" + "\n".join(problems)
        # And without the .sym, the same copy does not unwind that way: the CFI came from it.
        blind_doc = _bt_json(["--exe", bare, core])
        crashed = [t for t in blind_doc["threads"] if t["crashed"]][0]["frames"]
        sym_crashed = [t for t in bare_doc["threads"] if t["crashed"]][0]["frames"]
        assert [(f["pc"], f["how"]) for f in crashed] != [(f["pc"], f["how"]) for f in sym_crashed]


# --------------------------------------------------------------------------
# The file's grammar, read here independently of bt's reader.

_RECORD = re.compile(
    r"(MODULE Linux x86_64 [0-9A-F]{33} \S.*"
    r"|INFO CODE_ID [0-9A-F]+"
    r"|FILE \d+ \S.*"
    r"|INLINE_ORIGIN \d+ \S.*"
    r"|FUNC (m )?[0-9a-f]+ [0-9a-f]+ 0 \S.*"
    r"|INLINE \d+ \d+ \d+ \d+( [0-9a-f]+ [0-9a-f]+)+"
    r"|[0-9a-f]+ [0-9a-f]+ \d+ \d+"
    r"|PUBLIC (m )?[0-9a-f]+ 0 \S.*"
    r"|STACK CFI INIT [0-9a-f]+ [0-9a-f]+( \S+: [^:]+)+"
    r"|STACK CFI [0-9a-f]+( \S+: [^:]+)+)$")


# The FILE id the writer gives a line whose file the line table cannot name (damaged DWARF): never
# defined, so readers say "no file", as the DWARF reading does.
NO_FILE = 2**32 - 2


def _check_grammar(sym: Path):
    # Names are bytes (damaged strings need not be UTF-8); no control characters.
    lines = sym.read_bytes().decode("utf-8", "surrogateescape").split("\n")
    assert lines and lines[0].startswith("MODULE ") and lines[-1] == "", sym
    lines.pop()
    files, origins, last = {NO_FILE}, set(), None
    for n, line in enumerate(lines, 1):
        assert _RECORD.match(line) and not re.search(r"[\x00-\x1f\x7f]", line), f"{sym}:{n}: {line!r}"
        kind = line.split(" ", 1)[0]
        if kind == "FILE":
            files.add(int(line.split()[1]))
        elif kind == "INLINE_ORIGIN":
            origins.add(int(line.split()[1]))
        elif kind == "INLINE":
            f = line.split()
            assert int(f[3]) in files and int(f[4]) in origins, f"{sym}:{n}: {line!r}"
            assert last == "FUNC", f"{sym}:{n}: INLINE outside a FUNC"
            continue
        elif re.match(r"[0-9a-f]+ ", line) and kind not in ("FILE", "FUNC"):
            assert int(line.split()[3]) in files and last == "FUNC", f"{sym}:{n}: {line!r}"
            continue
        last = kind
        if kind == "STACK" and " INIT " in line:
            assert ".cfa: " in line and ".ra: " in line, f"{sym}:{n}: {line!r}"


def _sym_of(run):
    m = re.match(r"symbols: (.*) \(", run.stdout)
    assert m, run.describe()
    return Path(m.group(1))


def test_every_fixture_file_follows_the_grammar(manifest, bt_bin, tmp_path):
    entries = [e for e in manifest["binaries"] if Path(e["path"]).is_file()]
    debug_dirs = sorted({e["debug_dir"] for e in entries if e.get("debug_dir")})
    args = ["symbols", "-q", "-o", tmp_path] + [e["path"] for e in entries]
    for d in debug_dirs:
        args += ["--debug-dir", d]
    run = u.run_bt(args, timeout=120)
    assert run.returncode == 0 and not run.stdout and not run.stderr, run.describe()
    syms = sorted(tmp_path.rglob("*.sym"))
    assert len(syms) == len({Path(e["path"]).name for e in entries})
    for sym in syms:
        _check_grammar(sym)
    assert not [p for p in tmp_path.rglob("*") if ".tmp." in p.name]


def test_one_file_no_cfi_and_several_into_a_store(manifest, bt_bin, cores, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O2-dwarf5-pie-nofp")
    other = next(e for e in manifest["binaries"] if e["name"] == "vars_c.clang-O0-dwarf5-pie-fp")
    one = tmp_path / "deep.sym"
    run = u.run_bt(["symbols", entry["path"], "-o", one])
    assert run.returncode == 0 and _sym_of(run) == one and one.is_file(), run.describe()
    assert one.read_text().startswith("MODULE Linux x86_64 ")
    # bt reads it back as a .sym file given directly.
    copy = _stripped_copy(entry, tmp_path / Path(entry["path"]).name)
    doc = _bt_json(["--exe", copy, "--symbols", one, cores.core(entry)])
    crashed = [t for t in doc["threads"] if t["crashed"]][0]["frames"]
    assert crashed[0]["function"] and crashed[0]["line"], crashed[0]

    bare = tmp_path / "nocfi.sym"
    run = u.run_bt(["symbols", "--no-cfi", entry["path"], "-o", bare])
    assert run.returncode == 0 and run.stdout.rstrip().endswith(", 0 CFI records)"), run.describe()
    text, full = bare.read_text(), one.read_text()
    assert "STACK CFI" not in text and text == full[:full.index("STACK CFI")]

    store = tmp_path / "store" / "deeper"  # created
    run = u.run_bt(["symbols", entry["path"], other["path"], "-o", store])
    assert run.returncode == 0, run.describe()
    written = [Path(l.split(" ")[1]) for l in run.stdout.splitlines()]
    assert len(written) == 2 and all(p.is_file() for p in written)
    for e, p in zip([entry, other], written):
        name = Path(e["path"]).name
        assert p.parent.parent == store / name and p.name == f"{name}.sym"
        assert p.read_text().splitlines()[0].split()[3] == p.parent.name


def test_errors_are_clear_and_the_others_are_still_written(manifest, bt_bin, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O0-dwarf5-pie-fp")
    text = tmp_path / "notes.txt"
    text.write_text("not a program\n")
    no_id = tmp_path / "no-build-id"
    shutil.copy(entry["path"], no_id)
    subprocess.run([OBJCOPY, "--remove-section", ".note.gnu.build-id", str(no_id)], check=True)
    cases = [
        ([tmp_path / "missing", "-o", tmp_path / "s"], 7, "no such file"),
        ([text, "-o", tmp_path / "s"], 5, "not an ELF file"),
        ([no_id, "-o", tmp_path / "s"], 5, "no GNU build-id"),
        ([entry["path"], entry["path"], "-o", tmp_path / "x.sym"], 2, "names one file, for one EXE"),
        ([entry["path"]], 2, "missing -o"),
        (["-o", tmp_path / "s"], 2, "missing EXE"),
        ([entry["path"], "--bogus", "-o", tmp_path / "s"], 2, "unknown option '--bogus'"),
        ([entry["path"], "-o", text], 2, "is a file"),
        ([entry["path"], "-o", tmp_path / "nodir" / "x.sym"], 7, "output directory does not exist"),
    ]
    for args, status, words in cases:
        run = u.run_bt(["symbols"] + args)
        assert run.returncode == status and words in run.stderr, run.describe()
        assert not run.stdout, run.describe()
    # One bad EXE among good ones: the good ones are written, the status is the failure's.
    run = u.run_bt(["symbols", entry["path"], tmp_path / "missing", no_id, "-o", tmp_path / "store"])
    assert run.returncode == 7, run.describe()
    assert run.stdout.count("symbols: ") == 1 and run.stderr.count("bt: error: ") == 2, run.describe()
    help_run = u.run_bt(["symbols", "--help"])
    assert help_run.returncode == 0 and "NAME/DEBUGID/NAME.sym" in help_run.stdout
    assert "bt symbols" in u.run_bt(["--help"]).stdout


@pytest.mark.parametrize("seed", range(0, 600, 20))
def test_corrupt_debug_and_unwind_data_never_crash(manifest, bt_bin, tmp_path, seed):
    """Random bytes in the DWARF and .eh_frame (1-3 sections, 1-20 bytes each, or a whole section
    of noise): a .sym is still written, quickly, and every line of it is well formed."""
    import random
    name = ["deep_c.gcc-O2-dwarf5-pie-nofp", "templates_cpp.clang-O2-dwarf5-pie-nofp",
            "vars_cpp.gcc-O2-dwarf4-nopie-fp"][seed % 3]
    entry = next(e for e in manifest["binaries"] if e["name"] == name)
    from test_malformed_binaries import _sections
    raw, secs = _sections(entry["path"])
    data = bytearray(raw)
    targets = sorted(s for s in secs if s.startswith(".debug") or s.startswith(".eh_frame"))
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 3)):
        off, size = secs[rng.choice(targets)]
        if size and seed % 7 == 0:
            data[off:off + size] = bytes(rng.randrange(256) for _ in range(size))
        for _ in range(rng.randint(1, 20) if size else 0):
            data[off + rng.randrange(size)] = rng.randrange(256)
    bad = tmp_path / "corrupt"
    bad.write_bytes(bytes(data))
    run = u.run_bt(["symbols", "--no-cache", bad, "-o", tmp_path / "c.sym"], timeout=60)
    assert run.returncode == 0 and run.seconds < 10, run.describe()
    _check_grammar(tmp_path / "c.sym")


@pytest.mark.parametrize("seed", [243, 1393])
def test_the_corruptions_that_broke_llvm_are_survived(manifest, bt_bin, tmp_path, seed):
    """test_malformed_binaries.py's recipe and seeds that made LLVM's DWARF reader dereference
    null (243) and abort in its error path (1393): the unit is left out (the shape check, or the
    fault guard, which says what was raised), the rest of the file is written."""
    from test_malformed_binaries import corrupted_debug_and_unwind_sections
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O2-dwarf5-pie-nofp")
    bad = tmp_path / "deep_c.fuzzed"
    bad.write_bytes(corrupted_debug_and_unwind_sections(entry["path"], seed))
    run = u.run_bt(["symbols", "--no-cache", bad, "-o", tmp_path / "f.sym"], timeout=60)
    assert run.returncode == 0, run.describe()
    assert "corrupt DWARF" in run.stderr and "left out" in run.stderr, run.describe()
    text = (tmp_path / "f.sym").read_text()
    assert "STACK CFI INIT" in text and "PUBLIC" in text
    _check_grammar(tmp_path / "f.sym")


def test_zz_pinned_differences_are_reported():
    """Last in this file: prints how often each pinned cause was met (-s shows it; not a check)."""
    print("pinned differences:", dict(PINNED))
