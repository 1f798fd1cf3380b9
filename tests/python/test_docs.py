"""docs/python.md and the docstrings are run: every ```python block of the page, in order, in
one namespace (the page's convention, stated at its top: core_path/exe_path are a vars_c core
and its executable, pid a running threads_cpp, tmp_dir an empty directory), every ```sh block
with bash (CORE, EXE, PID, TMP; `btengine` on PATH runs `python -m btengine` from the build
tree), and the package's doctests (the same globals)."""

from __future__ import annotations

import doctest
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import btengine
import btengine.cli
import e2e_util as u
from pytest_util import entry_named, subprocess_env

DOC = u.REPO_ROOT / "docs" / "python.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def blocks(lang, info=False):
    """(line, code) of each block in `lang`; with `info`, (line, code, the rest of the fence's
    line: "needs=rustc")."""
    found = [(m.string[:m.start()].count("\n") + 2, m.group(2), m.group(0).split("\n", 1)[0][3 + len(lang):].strip())
             for m in FENCE.finditer(DOC.read_text()) if m.group(1) == lang]
    return found if info else [(line, code) for line, code, _ in found]


@pytest.fixture(scope="module")
def program_core(tmp_path_factory):
    """The program_api fixture (tests/fixtures/program), built and crashed once."""
    d = tmp_path_factory.mktemp("program")
    source = u.REPO_ROOT / "tests" / "fixtures" / "program" / "program_api.cpp"
    exe, core = u.build_and_crash(["g++", "-g", "-O0"], source, d, "program_api")
    return str(core), str(exe)


@pytest.fixture(scope="module")
def rust_program_core(tmp_path_factory):
    """The Rust fixture built and crashed once: (core, exe), or (None, skip reason)."""
    from pytest_util import rust_core
    try:
        exe, core = rust_core(tmp_path_factory.mktemp("rust"))
    except pytest.skip.Exception as e:
        return None, str(e)
    return str(core), str(exe)


@pytest.fixture
def doc_globals(cores, paused_process, tmp_path, program_core, rust_program_core):
    entry = entry_named("vars_c.gcc-O0-dwarf5-pie-fp")
    cpp = entry_named("vars_cpp.gcc-O0-dwarf5-pie-fp")
    live = paused_process(entry_named("threads_cpp.gcc-O0-dwarf5-pie-fp")["path"])
    return {"core_path": str(cores(entry)), "exe_path": entry["path"],
            "cpp_core_path": str(cores(cpp)), "cpp_exe_path": cpp["path"],
            "program_core_path": program_core[0], "program_exe_path": program_core[1],
            "rust_core_path": rust_program_core[0], "rust_exe_path": rust_program_core[1],
            "pid": live.pid, "tmp_dir": str(tmp_path), "__name__": "__docs__"}


def test_python_blocks(doc_globals):
    code = blocks("python", info=True)
    assert len(code) >= 8, "docs/python.md lost its examples?"
    ns = dict(doc_globals)
    skipped = []
    for line, block, info in code:
        if "needs=rustc" in info.split() and ns["rust_core_path"] is None:
            skipped.append(f"docs/python.md:{line}")
            continue
        try:
            exec(compile(block, f"{DOC}:{line}", "exec"), ns)
        except Exception as e:
            raise AssertionError(f"the example at docs/python.md:{line} failed: {e!r}\n{block}") from e
    assert u.wait_all_sleeping(ns["pid"]), "the attach example did not let the process run on"
    if skipped:
        pytest.skip(f"the Rust examples ({', '.join(skipped)}) did not run: {ns['rust_exe_path']}")


def test_sh_blocks(doc_globals, tmp_path):
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "btengine"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m btengine "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    (shim_dir / "python").symlink_to(sys.executable)
    env = subprocess_env()
    env.update(CORE=doc_globals["core_path"], EXE=doc_globals["exe_path"],
               PID=str(doc_globals["pid"]), TMP=str(tmp_path),
               PATH=f"{shim_dir}{os.pathsep}{env['PATH']}")
    code = blocks("sh")
    assert code
    for line, block in code:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], capture_output=True,
                           text=True, env=env, timeout=120)
        assert p.returncode == 0, f"docs/python.md:{line}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert (tmp_path / "live.btsnap").is_file() and (tmp_path / "core.json").is_file()


def test_drgn_comparisons_are_not_longer():
    """Each script of the "drgn users" section is no longer than its drgn version (lines of
    code: blank lines and comments not counted)."""
    def loc(code):
        return sum(1 for line in code.splitlines() if line.strip() and not line.strip().startswith("#"))
    text = DOC.read_text()
    pairs = {}
    for m in re.finditer(r"^```(drgn|python) script=(\S+)\n(.*?)^```", text, re.S | re.M):
        pairs.setdefault(m.group(2), {})[m.group(1)] = m.group(3)
    assert len(pairs) == 3, pairs.keys()
    for name, versions in pairs.items():
        assert set(versions) == {"drgn", "python"}, name
        assert loc(versions["python"]) <= loc(versions["drgn"]), (name, loc(versions["python"]),
                                                                  loc(versions["drgn"]))


@pytest.mark.parametrize("module", [btengine, btengine.cli], ids=lambda m: m.__name__)
def test_docstring_examples(module, doc_globals):
    """Docstring examples run (those that need what a test cannot give say `+SKIP`)."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = dict(doc_globals, btengine=btengine)
    tests = finder.find(module, globs=globs)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0
    if module is btengine:
        assert result.attempted >= 3
