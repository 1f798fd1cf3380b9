"""bt's built-in libc++ summaries (std::__1: string, vector, unique_ptr, shared_ptr, weak_ptr,
map, set, unordered_map, unordered_set) against its libstdc++ ones, which test_stl_summaries.py
checks against gdb's printers: tests/fixtures/stl/stl_summaries.cpp is built with clang++-19
against both libraries, and every parameter and local of every frame of the crashed thread must
print the same value (types differ, values must not; addresses are normalized, since heap and
stack layouts differ between the two programs).

Both builds use -fstandalone-debug: without it clang emits libstdc++'s std::string helpers
(_Alloc_hider) as declarations only (libstdc++ declares basic_string<char> an extern template),
so the libstdc++ oracle itself would print raw structs. A third build, libc++ with clang's
default (limited) debug info, checks that the libc++ summaries also work on the DWARF users
normally have."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "stl" / "stl_summaries.cpp"
CLANG = shutil.which("clang++-19")


@pytest.fixture(scope="module")
def libcxx(tmp_path_factory):
    """Skips unless clang++-19 can build and link a program against libc++."""
    if not CLANG:
        pytest.skip("clang++-19 is not installed (scripts/setup installs it)")
    d = tmp_path_factory.mktemp("libcxx-probe")
    src = d / "probe.cpp"
    src.write_text("#include <string>\nint main() { std::string s(40, 'x'); return s.size() != 40; }\n")
    p = subprocess.run([CLANG, "-stdlib=libc++", str(src), "-o", str(d / "probe")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("libc++ is not installed (apt-get install libc++-19-dev libc++abi-19-dev, "
                    f"as scripts/setup does): {p.stderr.strip()[-300:]}")
    return CLANG


ADDRESS = re.compile(r"0x[0-9a-f]+")


def normalized(value: str) -> str:
    # Any non-null address: the two programs' heaps and stacks differ. Symbols after an address
    # ("<vtable for Derived+16>") are kept.
    return ADDRESS.sub(lambda m: m.group(0) if m.group(0) == "0x0" else "0x?", value)


def frame_values(exe, core):
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    thread = next(t for t in json.loads(run.stdout)["threads"] if t["crashed"])
    return {f["function"]: {v["name"]: v["value"] for v in f["variables"] or []}
            for f in thread["frames"] if f.get("variables")}


def build(clang, tmp_path, name, flags, source=SOURCE):
    d = tmp_path / name
    d.mkdir()
    return u.build_and_crash([clang, "-g", "-O0"] + flags, source, d, name)


@pytest.mark.parametrize("dwarf", ["-gdwarf-4", "-gdwarf-5"])
def test_libcxx_summaries_match_libstdcxx(bt_bin, libcxx, tmp_path, dwarf):
    oracle = frame_values(*build(libcxx, tmp_path, "stdcxx",
                                 [dwarf, "-fstandalone-debug", "-stdlib=libstdc++"]))
    assert set(oracle) >= {"crash", "main"}, oracle
    assert len(oracle["crash"]) >= 30, oracle["crash"]
    # The oracle must itself be made of summaries (else this test would compare raw structs).
    raw = {k: v for k, v in oracle["crash"].items() if "_M_" in v}
    assert not raw, raw
    assert oracle["crash"]["s"] == '"hello world"' and oracle["crash"]["ewp"].startswith(
        "std::weak_ptr<int> (expired, weak count 1)"), oracle["crash"]

    for label, flags in (("libcxx", ["-fstandalone-debug"]), ("libcxx-limited", [])):
        ours = frame_values(*build(libcxx, tmp_path, label, [dwarf, "-stdlib=libc++"] + flags))
        problems = []
        for function, theirs in oracle.items():
            mine = ours.get(function)
            if mine is None:
                problems.append(f"{function}: frame or its variables missing")
                continue
            if set(mine) != set(theirs):
                problems.append(f"{function}: variables {sorted(mine)} != {sorted(theirs)}")
            for name, want in theirs.items():
                got = mine.get(name)
                if got is None:
                    continue
                # libc++'s members all start with "__" (__r_, __begin_, __tree_, __cntrl_...):
                # one in a value means a raw struct was printed instead of a summary.
                if "__" in got or normalized(got) != normalized(want):
                    problems.append(f"{function}.{name}:\n  libstdc++: {want}\n  libc++   : {got}")
        assert not problems, f"{label} {dwarf}:\n" + "\n".join(problems)


# Corrupted libc++ containers (the layouts of libc++ 19, the one scripts/setup installs): bt must
# stay bounded (element limit, step caps), fall back to the raw struct where the structure is
# broken, and not crash.
HOSTILE = r"""// Corrupted libc++ containers: bt must stay bounded (element limit, step caps) and not crash.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

static void poke(void *obj, int word, uintptr_t v) { memcpy((char *)obj + 8 * word, &v, 8); }
static uintptr_t peek(void *obj, int word) { uintptr_t v; memcpy(&v, (char *)obj + 8 * word, 8); return v; }

__attribute__((noinline)) void crash() {
  std::map<int, int> cyc = {{1, 1}, {2, 2}, {3, 3}};
  std::set<int> deep = {1, 2, 3};
  std::set<int> shortset = {1, 2, 3};
  std::unordered_map<int, int> hcyc = {{1, 1}, {2, 2}};
  std::string bogus(40, 'y');
  std::vector<int> bv = {1, 2, 3};
  std::shared_ptr<int> bsp = std::make_shared<int>(1);
  // __tree: {__begin_node_, __pair1_ (end node: __left_ = root), __pair3_ (size)}; nodes
  // {__left_, __right_, __parent_, __is_black_}. A huge size and a right link to itself.
  uintptr_t root = peek(&cyc, 1);
  poke((void *)root, 1, root);
  poke((void *)root, 0, 0);
  poke(&cyc, 0, root);
  poke(&cyc, 2, uintptr_t(1) << 40);
  // A left link to itself in the root's right subtree: the leftmost descent never ends.
  uintptr_t sright = peek((void *)peek(&deep, 1), 1);
  poke((void *)sright, 0, sright);
  // A size larger than the tree: the walk ends at the end node.
  poke(&shortset, 2, 1000);
  // __hash_table: {__bucket_list_ (ptr, size), __p1_.__next_, __p2_ (size), __p3_}: a list cycle.
  uintptr_t first = peek(&hcyc, 2);
  poke((void *)first, 0, first);
  poke(&hcyc, 3, uintptr_t(1) << 50);
  // Long string: {cap | is_long, size, data}: huge size, unmapped data.
  poke(&bogus, 0, (uintptr_t(1) << 45) | 1);
  poke(&bogus, 1, uintptr_t(1) << 44);
  poke(&bogus, 2, 0x10);
  // vector: end far beyond begin; shared_ptr: an unreadable control block.
  poke(&bv, 1, peek(&bv, 0) + (uintptr_t(1) << 40));
  poke(&bv, 2, peek(&bv, 0) + (uintptr_t(1) << 41));
  poke(&bsp, 1, 0x10);
  *(volatile int *)0 = 1;
}

int main() { crash(); }
"""


def test_libcxx_hostile_containers_stay_bounded(bt_bin, libcxx, tmp_path):
    source = tmp_path / "hostile_libcxx.cpp"
    source.write_text(HOSTILE)
    exe, core = build(libcxx, tmp_path, "hostile", ["-stdlib=libc++"], source)
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)], timeout=30)
    assert run.returncode == 0, run.describe()
    assert run.seconds < 10, run.describe()
    thread = next(t for t in json.loads(run.stdout)["threads"] if t["crashed"])
    values = {v["name"]: v["value"] for v in next(f for f in thread["frames"] if f["function"] == "crash")["variables"]}
    assert all(len(v) < 2000 for v in values.values()), values
    # A right link to itself and a huge size: the element limit ends the walk.
    # A cycle is walked up to the element limit; children are not folded into repeats (gdb).
    cycled = ", ".join(["[2] = 2"] * 200) + "...}"
    assert values["cyc"] == "std::map with 1099511627776 elements = {" + cycled
    # A left link to itself: the descent cap gives up, the raw struct is printed.
    assert values["deep"].startswith("{__tree_ = "), values["deep"]
    # A size larger than the tree: the walk ends at the end node.
    assert values["shortset"] == "std::set with 1000 elements = {[0] = 1, [1] = 2, [2] = 3...}"
    # A cycle in the hash list.
    assert values["hcyc"] == "std::unordered_map with 1125899906842624 elements = {" + cycled
    assert values["bogus"] == "<error: Cannot access memory at address 0x10>"
    assert values["bv"].startswith("std::vector of length 274877906944, capacity 549755813888 = {1, 2, 3, ")
    assert values["bv"].endswith("...}"), values["bv"]
    # An unreadable control block: no counts to show, the raw struct.
    assert values["bsp"].startswith("{__ptr_ = 0x") and values["bsp"].endswith("__cntrl_ = 0x10}")
