"""The program-wide half of the Python API against gdb: globals and statics read with
proc[name] print exactly as gdb's `print name` (every vars_c core and its snapshot, and the
program_api fixture: namespaces, class and function statics, TLS, arrays, pointers, the
standard containers bt summarizes), type sizes equal gdb's sizeof, pointer arithmetic and
indexing equal gdb's `print p[3]` / `print *(p+2)`, and iterating a container yields the
elements gdb's libstdc++ printers show (their children); libc++ containers yield what the same
program built with libstdc++ yields. Then the errors a script acts on: unmapped vs not-captured
memory (btengine.MemoryError's address and mapped), directories and FIFOs, KeyError."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

import btengine
import e2e_util as u
from pytest_util import debug_args, debug_dirs, manifest_entries

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "program" / "program_api.cpp"
VARS_C = [e for e in manifest_entries() if e["name"].startswith("vars_c.")]

# program_api's globals, the standard containers among them (gdb with libstdc++'s printers).
PRINTED = ["app::g_ns_counter", "app::g_config", "app::detail::g_deep",
           "app::Registry::s_instances", "g_anon", "g_jobs", "g_head", "g_numbers", "g_ptr",
           "g_file_static", "g_ulong", "g_cstr", "g_tasks", "g_task_link", "g_color", "g_matrix",
           "bump::s_calls", "g_vec", "g_names", "g_queue", "g_orders", "g_umap", "g_set", "g_str",
           "g_long_str", "g_owned", "g_shared", "g_array", "g_list", "g_deque", "g_flist",
           "g_opt", "g_none", "g_var", "g_view", "g_multi", "g_tuple", "g_hits", "g_flags",
           "errno"]  # (libc's thread-local)
# Containers walked as Python sequences/mappings, against the printers' children.
WALKED = ["g_vec", "g_names", "g_queue", "g_orders", "g_multi", "g_umap", "g_list", "g_deque",
          "g_set", "g_flist", "g_opt", "g_none", "g_var", "g_owned", "g_tuple"]
# (our spelling, gdb's): gdb cannot leave out default template arguments.
TYPES = [("struct Job", "struct Job"), ("Job", "Job"), ("Task", "Task"), ("app::Config", "app::Config"),
         ("int", "int"), ("unsigned long", "unsigned long"), ("char *", "char *"), ("Job **", "Job **"),
         ("std::string", "std::string"), ("std::vector<int>", "g_vec"), ("Color", "Color"),
         ("ListNode", "ListNode"), ("std::map<int, Order>", "g_orders")]
EXPRESSIONS = [("g_ptr[3]", lambda p: p["g_ptr"][3]),
               ("*(g_ptr+2)", lambda p: (p["g_ptr"] + 2).deref()),
               ("g_numbers[4]", lambda p: p["g_numbers"][4]),
               ("*g_head->next", lambda p: p["g_head"].next.deref()),
               ("g_head->next->next->name", lambda p: p["g_head"].next.next.name),
               ("&g_jobs[1]", lambda p: p["g_jobs"][1].address_of()),
               ("(char)app::g_ns_counter", lambda p: p["app::g_ns_counter"].cast("char")),
               ("(double)g_anon", lambda p: p["g_anon"].cast("double")),
               ("*(Job *)&g_jobs[2]", lambda p: p.value("Job", p.address_of("g_jobs") + 64))]


def gdb_prints(exe, core, expressions, debug_dir=None):
    """gdb's `print EXPR` for each expression (None where gdb failed)."""
    cmds = []
    for e in expressions:
        cmds += [f"print {e}", "echo @@\\n"]
    r = u.gdb_commands(cmds, [exe, core], debug_dir)
    out = []
    for chunk in r.stdout.split("@@\n")[:len(expressions)]:
        m = re.search(r"^\$\d+ = (.*)$", chunk, re.M | re.S)
        out.append(m.group(1).rstrip("\n") if m else None)
    return out


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    d = tmp_path_factory.mktemp("program_api")
    exe, core = u.build_and_crash(["g++", "-g", "-O0"], SOURCE, d, "program_api")
    snap = d / "program_api.btsnap"
    subprocess.run([str(u.bt_path()), "snapshot", str(core), "--exe", str(exe), "-o", str(snap), "-q"],
                   check=True)
    return str(exe), str(core), str(snap)


@pytest.mark.parametrize("entry", VARS_C, ids=[e["name"] for e in VARS_C])
def test_vars_c_globals_print_as_gdb(entry, cores, tmp_path):
    names = ["g_counter", "g_rect", "g_msg", "'vc_middle'::call_count"]
    core = str(cores(entry))
    theirs = gdb_prints(entry["path"], core, names, entry.get("debug_dir"))
    snap = tmp_path / "v.btsnap"
    subprocess.run([str(u.bt_path()), "snapshot", core, "--exe", entry["path"], "-o", str(snap), "-q"]
                   + debug_args(entry), check=True)
    for source in (core, str(snap)):
        with btengine.open(source, exe=entry["path"], debug_dirs=debug_dirs(entry)) as p:
            ours = [str(p[n.replace("'", "")]) for n in names]
        assert ours == theirs, f"{source}: " + "\n".join(
            f"{n}:\n  gdb: {g}\n  ours: {o}" for n, g, o in zip(names, theirs, ours) if g != o)


def test_program_globals_print_as_gdb(program):
    exe, core, snap = program
    theirs = gdb_prints(exe, core, PRINTED)
    assert all(t is not None for t in theirs), dict(zip(PRINTED, theirs))
    with btengine.open(core, exe=exe) as p:
        ours = [str(p[n]) for n in PRINTED]
        assert ours == theirs, "\n".join(
            f"{n}:\n  gdb:  {g}\n  ours: {o}" for n, g, o in zip(PRINTED, theirs, ours) if g != o)
        # Without a name's namespace, and a thread-local in the crashed thread.
        assert str(p["g_ns_counter"]) == "41" and int(p["g_tls"]) == 123
        assert p.variable("s_calls").text == theirs[PRINTED.index("bump::s_calls")]
    # A snapshot keeps the stacks and what the frames' variables point to, not all of .data:
    # a global is either printed as gdb prints it or a MemoryError saying it was not captured.
    with btengine.open(snap, exe=exe) as p:
        for n, g in zip(PRINTED, theirs):
            try:
                assert str(p[n]) == g, n
            except btengine.MemoryError as e:
                assert e.mapped and "not captured in the snapshot" in str(e) and e.size > 0, (n, e)


def test_types_and_expressions_as_gdb(program):
    exe, core, _ = program
    sizes = gdb_prints(exe, core, [f"sizeof({g})" for _, g in TYPES])
    theirs = gdb_prints(exe, core, [e for e, _ in EXPRESSIONS])
    with btengine.open(core, exe=exe) as p:
        assert [str(p.type(t).size) for t, _ in TYPES] == sizes
        ours = [str(f(p)) for _, f in EXPRESSIONS]
        assert ours == theirs, "\n".join(f"{e}:\n  gdb:  {g}\n  ours: {o}"
                                         for (e, _), g, o in zip(EXPRESSIONS, theirs, ours) if g != o)
        job = p.type("Job")
        assert [f.name for f in job.fields] == ["id", "name", "next", "weight"]
        assert job.offsetof("weight") == 24 and p.type("Task").offsetof("tag[3]") == 27
        assert p.type("Job *").target == job and p.type("g_jobs" and "Job").pointer().name == "Job *"
        # Walking a linked list through automatic dereference.
        names, j = [], p["g_head"]
        while j:
            names.append(j.name.string())
            j = j.next
        assert names == [b"one", b"two", b"three"]
        # container_of: from the ListNode inside g_tasks[1] back to the Task.
        task = btengine.container_of(p["g_task_link"], "Task", "link")
        assert task.tag.string() == b"beta" and int(task) == p.address_of("g_tasks") + p.type("Task").size
        # Symbols and addresses.
        sym = p.symbol(p.address_of("g_jobs") + 40)
        assert (sym.name, sym.offset, sym.kind) == ("g_jobs", 40, "object")
        main = p.symbol(p.address_of("main") + 3)
        assert (main.name, main.offset, main.kind) == ("main(int, char**)", 3, "function")  # as gdb's <main(int, char**)+3>
        assert p.address_of("bump::s_calls") == p["bump::s_calls"].address


def gdb_children(exe, core, names, tmp_path):
    """The children gdb's libstdc++ printers give each container, rendered by gdb."""
    script = tmp_path / "children.py"
    script.write_text("\n".join([
        "import gdb, json",
        "out = {}",
        f"for n in {names!r}:",
        "    pp = gdb.default_visualizer(gdb.parse_and_eval(n))",
        "    out[n] = [str(c[1]) for c in pp.children()] if pp and hasattr(pp, 'children') else None",
        "print('@@' + json.dumps(out))"]))
    r = u.gdb_commands([f"source {script}"], [exe, core])
    line = next((l for l in r.stdout.splitlines() if l.startswith("@@")), None)
    assert line, r.stdout + r.stderr
    return json.loads(line[2:])


def walk(v):
    """A container as the printers' children: elements, or keys and values alternating."""
    c = v.container
    assert c is not None, f"{v.type} has no container view"
    if isinstance(c, btengine._containers.Mapping):
        return [str(x) for k, val in v.items() for x in (k, val)]
    if isinstance(c, btengine._containers.Pointer):
        got = v.get()
        return [] if got is None else [str(got.address_of()) if v.kind == "class" and "unique_ptr" in v.type
                                       else str(got)]
    return [str(e) for e in v]


def test_containers_walk_as_gdb_printers(program, tmp_path):
    exe, core, _ = program
    theirs = gdb_children(exe, core, WALKED, tmp_path)
    with btengine.open(core, exe=exe) as p:
        for n in WALKED:
            ours = walk(p[n])
            expected = theirs[n]
            if n == "g_owned":  # the printer's child is get(): the pointer, with its type
                expected = [e.split(") ", 1)[-1] for e in expected]
                ours = [o.split(") ", 1)[-1] for o in ours]
            assert ours == expected, f"{n}:\n  gdb:  {expected}\n  ours: {ours}"
        # Python idioms on top.
        assert len(p["g_deque"]) == 300 and int(p["g_deque"][250]) == 500
        assert int(p["g_vec"][-1]) == 3 and [int(x) for x in p["g_set"]] == [10, 20, 30]
        assert [int(x) for x in p["g_array"]] == [1, 1, 2, 3]  # (gdb has no std::array printer)
        assert int(p["g_queue"]["bob"]) == 7 and "carol" in p["g_queue"].container
        assert p["g_umap"][3].string() == b"three" and p["g_orders"][2].price.value == 0.25
        assert p["g_str"].string() == b"hello" and len(p["g_long_str"]) == 40
        assert p["g_view"].string() == b"view"
        assert p["g_opt"].get().value == 7 and p["g_none"].get() is None and len(p["g_none"]) == 0
        assert p["g_var"].get().string() == b"alt" and p["g_var"].container.index == 1
        assert p["g_owned"].deref().name.string() == b"owned" and p["g_owned"].name.string() == b"owned"
        assert p["g_shared"].container.use_count == 1 and int(p["g_shared"].get()) == 42
        assert len(p["g_tuple"]) == 3 and p["g_tuple"][1].string() == b"three"
        assert int(p["g_hits"].get()) == 5
        with pytest.raises(KeyError):
            p["g_queue"]["nobody"]
        with pytest.raises(IndexError):
            p["g_list"][3]


def test_libcxx_containers_walk_as_libstdcxx(program, tmp_path):
    clang = shutil.which("clang++-19")
    if not clang:
        pytest.skip("clang++-19 is not installed")
    probe = subprocess.run([clang, "-stdlib=libc++", "-g", "-O0", str(SOURCE), "-o", str(tmp_path / "pa")],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("libc++ is not installed (apt-get install libc++-19-dev libc++abi-19-dev)")
    core = u.make_core(str(tmp_path / "pa"), tmp_path)
    exe_std, core_std, _ = program
    same = ["g_vec", "g_names", "g_queue", "g_orders", "g_multi", "g_list", "g_set", "g_array",
            "g_str", "g_long_str", "g_view", "g_opt", "g_none", "g_var", "g_shared", "g_flist",
            "g_deque"]
    with btengine.open(core_std, exe=exe_std) as p:
        expected = {n: walk_or_string(p[n]) for n in same}
        umap = sorted(walk_pairs(p["g_umap"]))
    with btengine.open(str(core), exe=str(tmp_path / "pa")) as p:
        got = {n: walk_or_string(p[n]) for n in same}
        assert sorted(walk_pairs(p["g_umap"])) == umap  # hash order differs between libraries
    assert got == expected


def walk_or_string(v):
    c = v.container
    if isinstance(c, btengine._containers.String):
        return v.string()
    if isinstance(c, btengine._containers.Pointer):
        got = v.get()
        return None if got is None else (got.string() if got.container else got.value)
    return walk(v)


def walk_pairs(v):
    return [(str(k), str(val)) for k, val in v.items()]


def test_memory_errors_say_where_and_why(program, tmp_path):
    exe, core, _ = program
    quick = tmp_path / "no-vars.btsnap"
    subprocess.run([str(u.bt_path()), "snapshot", core, "--exe", exe, "--no-vars", "-o", str(quick), "-q"],
                   check=True)
    with btengine.open(str(quick), exe=exe) as p:
        address = p.address_of("g_numbers")  # .data: mapped, but a snapshot without variables has no copy
        with pytest.raises(btengine.MemoryError) as e:
            p.read(address, 4)
        assert e.value.address == address and e.value.mapped and "not captured in the snapshot" in str(e.value)
        with pytest.raises(btengine.MemoryError) as e:
            p["g_numbers"]
        assert e.value.mapped
    with btengine.open(core, exe=exe) as p:
        with pytest.raises(btengine.MemoryError) as e:
            p.read(0x10, 8)
        assert (e.value.address, e.value.size, e.value.mapped) == (0x10, 8, False)
        assert isinstance(e.value, LookupError) and isinstance(e.value, btengine.FormatError)
        with pytest.raises(btengine.MemoryError) as e:
            p.pointer("Job", 0x18).deref()
        assert e.value.address == 0x18 and not e.value.mapped
        null = p.pointer("int", 0)
        assert not null and null == 0
        with pytest.raises(btengine.MemoryError) as e:
            null.deref()
        assert e.value.address == 0 and "null pointer" in str(e.value)
        with pytest.raises(KeyError):
            p["no_such_global"]
        with pytest.raises(KeyError):
            p.type("struct NoSuchType")
        with pytest.raises(TypeError):
            p["g_jobs"][0].cast("int")       # a struct is no scalar
        with pytest.raises(TypeError):
            p["g_anon"].deref()


def test_directories_and_fifos_are_os_errors(tmp_path):
    with pytest.raises(IsADirectoryError):
        btengine.open(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as e:
        btengine.open(fifo)  # would block reading
    assert "FIFO" in str(e.value) and not isinstance(e.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        btengine.open(tmp_path / "missing")


def test_import_is_light():
    """`import btengine` loads no LLVM: the extension comes on first use."""
    code = ("import sys, btengine, re; "
            "rss = re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(int('btengine._btengine' in sys.modules), int(rss) // 1024)")
    from pytest_util import subprocess_env
    out = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True,
                         env=subprocess_env(), check=True).stdout.split()
    assert out[0] == "0" and int(out[1]) < 30, out


@pytest.mark.parametrize("container", ["g_vec", "g_list", "g_deque", "g_queue", "g_umap", "g_set",
                                       "g_flist", "g_str", "g_opt", "g_var"])
@pytest.mark.parametrize("garbage", ["g_numbers", "g_jobs", "g_tasks"])
def test_corrupt_containers_are_bounded(program, container, garbage):
    """A container type laid over other memory (what a corrupt one looks like): walking it
    ends, with elements or with FormatError/MemoryError, never with a hang or another error."""
    exe, core, _ = program
    with btengine.open(core, exe=exe) as p:
        fake = p.value(p[container].type_info, p.address_of(garbage))
        try:
            c = fake.container
            if isinstance(c, btengine._containers.Mapping):
                for i, _ in zip(range(1000), fake.items()):
                    pass
            elif isinstance(c, btengine._containers.String):
                fake.string(max_length=1000)
            elif c is not None:
                for i, _ in zip(range(1000), iter(fake)):
                    pass
                len(fake)
            str(fake)
        except (btengine.FormatError, btengine.MemoryError):
            pass


def test_constants_print_as_gdb(tmp_path):
    """Globals the compiler kept only as DW_AT_const_value (-O2): gcc writes an int 150 as
    DW_FORM_data1 0x96, which is 150, not -106; negative ones come as DW_FORM_sdata."""
    source = tmp_path / "constants.cpp"
    source.write_text("static const int k_units = 150;\nstatic const long k_neg = -5;\n"
                      "static const unsigned short k_big = 65000;\n"
                      "int main(int argc, char **) {\n"
                      "  if (argc > 1) *(volatile long *)0 = k_units + k_neg + k_big;\n}\n")
    exe, core = u.build_and_crash(["g++", "-g", "-O2"], source, tmp_path, "constants")
    names = ["k_units", "k_neg", "k_big"]
    theirs = gdb_prints(str(exe), str(core), names)
    with btengine.open(core, exe=exe) as p:
        assert [p.variable(n).text for n in names] == theirs == ["150", "-5", "65000"]
