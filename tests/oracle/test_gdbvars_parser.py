"""Unit tests of the `bt full` parser (gdbvars.py) and of the pure parts of
varscmp.py, on real gdb 13 outputs captured from the fixtures:

  tests/oracle/data/gdb-full/<program>.<variant>.<core|live>.txt
      stdout of e2e_util.gdb_core_full / gdb_live_full (gdb_base_command +
      `set print frame-arguments all` + `thread apply all bt full` +
      gdb_frame_info.py, LC_ALL=C.UTF-8)
  tests/oracle/data/gdb-full/templates_cpp.gcc-O0-dwarf5-pie-fp.core.scalars.txt
      the same without `set print frame-arguments all` (gdb's default: `f=...`)

These need neither the engine nor the fixtures."""

from pathlib import Path

import pytest

import framecmp
import gdbvars
import varscmp
from gdbvars import GdbVar, parse_args, parse_full, parse_local_line, split_args

DATA = Path(__file__).resolve().parent / "data" / "gdb-full"


def load(name):
    return parse_full((DATA / name).read_text())


def frame_named(full, function, thread=None):
    threads = [thread] if thread is not None else full.bt.threads
    for t in threads:
        for f in t.frames:
            if f.function == function:
                return t, f, full.frame_vars(t, f)
    raise KeyError(function)


def values(vs):
    return {v.name: v.value for v in vs}


def test_all_samples_parse_consistently():
    files = sorted(DATA.glob("*.txt"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        full = parse_full(text)
        assert full.bt.threads and full.bt.has_frame_kinds, path
        n_locals = 0
        for t in full.bt.threads:
            for f in t.frames:
                fv = full.frame_vars(t, f)
                assert not fv.notes, (path, fv.notes)
                # Exactly one of: locals, "No locals.", "No symbol table info available."
                assert (bool(fv.locals) + fv.no_locals + fv.no_symtab) == 1, (path, f.raw)
                # The tokenizer loses nothing.
                assert ", ".join(split_args(f.args)) == (f.args or "").strip(), (path, f.raw)
                n_locals += len(fv.locals)
        # Every 8-space line inside a thread section is one local.
        section = text[text.index("\nThread "):]
        assert n_locals == sum(1 for line in section.splitlines() if line.startswith(" " * 8)), path


def test_c_scalars_and_chars():
    full = load("vars_c.gcc-O0-dwarf5-pie-fp.core.txt")
    _, f, fv = frame_named(full, "vc_inner")
    assert [v.name for v in fv.params] == ["sc", "uc", "s", "us", "i", "u", "l", "ul", "ll", "ull",
                                           "b", "f", "d", "ld"]
    p = values(fv.params)
    assert p["sc"] == "-7 '\\371'" and p["uc"] == "250 '\\372'" and p["b"] == "true"
    assert p["ul"] == "9223372036854775808" and p["ld"] == "2.5"
    assert all(v.entry_value is None for v in fv.params)
    loc = values(fv.locals)
    assert loc["c"] == "65 'A'" and loc["l_f"] == "0.100000001"
    assert loc["l_d"] == "-0.0025000000000000001" and loc["l_dbig"] == "1.0000000000000001e+300"
    assert loc["l_ld"] == "0.333333333333333333342" and loc["fixture_null"] == "0x0"
    assert [v.name for v in fv.locals][0] == "fixture_null"  # innermost block first


def test_c_aggregates_pointers_strings():
    full = load("vars_c.gcc-O0-dwarf5-pie-fp.core.txt")
    _, f, fv = frame_named(full, "vc_middle")
    p = values(fv.params)
    assert p["lit"].endswith(' "a \\"literal\\""') and p["arr"].endswith(' "abc"')
    assert p["rp"].endswith(" <g_rect>") and p["fn"].endswith(" <vc_callback>")
    assert p["nullp"] == "0x0"
    assert p["un"] == '{i = 1094861636, f = 12.1414223, bytes = "DCBA"}'
    # A by-value struct argument, in full (frame-arguments all), commas and quotes inside.
    assert p["rv"] == ('{tl = {x = 5, y = 6}, br = {x = 7, y = 8}, name = "by value\\000\\000\\000'
                       '\\000\\000\\000\\000", tags = {-1, 0, 1}}')
    loc = values(fv.locals)
    assert loc["call_count"] == "78"  # static local
    assert loc["s_global"].endswith(' <g_msg> "hello, \\"world\\"\\n"')
    assert loc["buf"] == '"short' + "\\000" * 10 + '"'  # 10 NULs: not collapsed (threshold 10)
    assert loc["r"] == ('{tl = {x = -1, y = -2}, br = {x = 3, y = 4}, name = "box", '
                        "'\\000' <repeats 12 times>, tags = {10, 20, 30}}")
    assert loc["bits"] == "{a = 1, b = 5, c = -3, d = 100}"
    assert loc["n"] == '{i = 1078530011, f = 3.14159274, bytes = "\\333\\017I@"}'
    assert loc["arr2"] == "{{1, 2, 3}, {4, 5, 6}}"
    assert loc["reps"] == "{9, 7 <repeats 12 times>, 8}"
    assert loc["zeros"] == "{0 <repeats 16 times>}"
    assert loc["bytes"] == '"\\000\\001\\177\\200\\377z"'
    assert loc["big"].startswith("{0, 1, 2,") and loc["big"].endswith(", 199...}")
    _, f, fv = frame_named(full, "vc_outer")
    p = values(fv.params)
    assert p["flags"] == "(P_READ | P_WRITE)" and p["unknown_bit"] == "(P_EXEC | unknown: 0x40)"
    assert p["bad"] == "3" and p["c"] == "GREEN"
    loc = values(fv.locals)
    assert loc["l_unk"] == "(P_WRITE | unknown: 0x10)" and loc["l_none"] == "0"


def test_entry_value_forms():
    full = load("vars_c.gcc-O2-dwarf5-pie-nofp.core.txt")
    _, _, fv = frame_named(full, "vc_inner")
    sc = fv.params[0]
    assert (sc.name, sc.value, sc.entry_value, sc.entry_form) == ("sc", "-7 '\\371'", "-7 '\\371'", "equal")
    assert values(fv.params)["l"] == "-1" and fv.params[6].entry_value is None
    _, _, fv = frame_named(full, "vc_middle")
    ip = fv.params[0]
    assert (ip.name, ip.value, ip.entry_form) == ("ip", "<optimized out>", "separate")
    assert ip.optimized_out and ip.entry_value.startswith("0x")
    by = {v.name: v for v in fv.params}
    assert by["lit"].entry_value.endswith(' "a \\"literal\\""')
    assert by["vp"].optimized_out and by["vp"].entry_value is None
    # One GdbVar per parameter: x@entry is folded in.
    assert len(fv.params) == 13
    _, _, fv = frame_named(full, "__libc_start_call_main")
    assert fv.params[0].entry_form == "equal" and fv.params[0].value.endswith(" <main>")


def test_cpp_references_printers_lambda_captures():
    full = load("vars_cpp.gcc-O0-dwarf5-pie-fp.core.txt")
    _, _, fv = frame_named(full, "vp::inspect<int>")
    p = values(fv.params)
    assert p["lref"].startswith("@0x") and p["lref"].endswith(": 12")
    assert p["box"].endswith(': {items = {4, 5, 6}, count = 3, label = "box\\000\\000\\000\\000"}')
    assert p["mode"] == "vp::Mode::Done"
    loc = values(fv.locals)
    assert loc["level"] == "vp::Level::High" and loc["bad_mode"] == "5"
    assert "<vtable for vp::Square+16>" in loc["shape_ref"]
    # gcc's lambda: gdb lists the captures after the locals.
    _, _, fv = frame_named(full, "operator()")
    assert [v.name for v in fv.params] == ["__closure", "k"]
    assert [v.name for v in fv.locals] == ["inner", "local_box", "this", "counter", "box"]
    _, _, fv = frame_named(full, "vp::Square::run")
    loc = values(fv.locals)
    assert loc["name"] == '"square \\"one\\""'
    assert loc["long_name"] == "'x' <repeats 40 times>"
    assert loc["vec"] == "std::vector of length 3, capacity 3 = {1, 2, 3}"
    assert loc["table"] == 'std::map with 2 elements = {[1] = "one", [2] = "two"}'
    assert loc["shared"].startswith("std::shared_ptr<int> (use count 1, weak count 0) = {get() = 0x")
    assert loc["step"].startswith("{__box = {items") and ", __counter = @0x" in loc["step"]


def test_static_cpp_without_printers():
    full = load("vars_cpp.gcc-O2-dwarf5-static-nofp.core.txt")
    _, _, fv = frame_named(full, "vp::Square::run")
    loc = values(fv.locals)
    assert loc["name"].startswith("{_M_dataplus = {<std::allocator<char>> = ")
    assert loc["vec"].startswith("{<std::_Vector_base<int, std::allocator<int> >> = ")


def test_error_reading_variable_in_arguments():
    full = load("vars_cpp.clang-O2-dwarf5-pie-nofp.live.txt")
    _, _, fv = frame_named(full, "vp::inspect<int>")
    by = {v.name: v for v in fv.params}
    assert by["rref"].value == "<error reading variable: Cannot access memory at address 0x1>"
    assert by["rref"].error and not by["rref"].optimized_out
    assert by["shape"].value.startswith("0x") and by["mode"].value == "vp::Mode::Done"
    # Two blocks declare sc_ret in __libc_pause: both are listed, innermost first.
    _, _, fv = frame_named(full, "__libc_pause")
    assert [(v.name, v.value) for v in fv.locals] == [("sc_ret", "-514"), ("sc_ret", "<optimized out>")]
    assert fv.params == []


def test_threads_live_no_symtab_tailcall_and_libc_locals():
    full = load("threads_cpp.gcc-O2-dwarf5-pie-nofp.live.txt")
    assert len(full.bt.threads) == 6
    no_symtab = [(t, f) for t in full.bt.threads for f in t.frames if full.frame_vars(t, f).no_symtab]
    assert no_symtab and all(f.function in (None, "_start", "clone3") or f.library for _, f in no_symtab)
    unknown = [(t, f) for t, f in no_symtab if f.function is None]
    assert unknown and all(full.frame_vars(t, f).params == [] for t, f in unknown)
    tail = [(t, f) for t in full.bt.threads for f in t.frames if f.kind == "tailcall"]
    assert len(tail) == 1
    t, f = tail[0]
    fv = full.frame_vars(t, f)
    assert fv.no_locals and [v.name for v in fv.params] == ["futex_word", "expected", "clockid",
                                                            "abstime", "private"]
    assert all(v.entry_form == "equal" for v in fv.params)
    _, _, fv = frame_named(full, "__futex_abstimed_wait_common64")
    assert len(fv.locals) > 10  # gdb lists the locals of the nested syscall-macro blocks


def test_signal_frame_has_no_locals_line():
    full = load("sighandler_c.gcc-O0-dwarf5-pie-fp.core.txt")
    t = full.bt.threads[0]
    sig = [f for f in t.frames if f.signal_frame][0]
    fv = full.frame_vars(t, sig)
    assert fv.no_locals and not fv.no_symtab and fv.params == [] and fv.locals == []


def test_cpp_names_with_parameter_lists_and_hash_names():
    full = load("templates_cpp.gcc-O0-dwarf5-pie-fp.core.txt")
    t = full.bt.threads[0]
    f7 = t.frames[7]
    assert f7.function.endswith("::_M_invoke(const std::_Any_data &, int &&)")
    fv = full.frame_vars(t, f7)
    assert [v.name for v in fv.params] == ["__functor", "__args#0"]
    assert fv.params[0].value.startswith("@0x") and "_M_pod_data = '\\000' <repeats 15 times>" in fv.params[0].value
    # frame-arguments all: struct arguments in full.
    f3 = t.frames[3]
    assert full.frame_vars(t, f3).params[0].value == "{<No data fields>}"


def test_default_frame_arguments_scalars():
    full = load("templates_cpp.gcc-O0-dwarf5-pie-fp.core.scalars.txt")
    t = full.bt.threads[0]
    assert [(v.name, v.value) for v in full.frame_vars(t, t.frames[3]).params] == [("f", "..."), ("x", "3")]


def test_utf8_strings_as_gdb_prints_them():
    full = load("libc_crash_c.gcc-O0-dwarf5-pie-fp.core.txt")
    vals = [v.value for t in full.bt.threads for f in t.frames for v in full.frame_vars(t, f).locals
            if v.name == "b1" and not v.optimized_out]
    assert vals and all(v.startswith("0x") and '"' in v for v in vals)


# ---------------------------------------------------------------------------
# Tokenizer corner cases (synthetic, in the shapes gdb prints)


@pytest.mark.parametrize("text, expected", [
    ("", []),
    ("a=1", ["a=1"]),
    ("a=1, b=2", ["a=1", "b=2"]),
    ('s=0x1 "x, y=2"', ['s=0x1 "x, y=2"']),
    ('s=0x1 "a\\", b=1"', ['s=0x1 "a\\", b=1"']),
    ("c=44 ',', d=39 '\\''", ["c=44 ','", "d=39 '\\''"]),
    ("f=0x401000 <g(int, char)>, h=1", ["f=0x401000 <g(int, char)>", "h=1"]),
    ("m=0x1 <std::map<int, int>::find(int const&)>", ["m=0x1 <std::map<int, int>::find(int const&)>"]),
    ("p={x = 1, y = 2}, q=@0x10: {a = 1, b = 2}", ["p={x = 1, y = 2}", "q=@0x10: {a = 1, b = 2}"]),
    ("e=<error reading variable: can't compute CFA for this frame>, z=3",
     ["e=<error reading variable: can't compute CFA for this frame>", "z=3"]),
    ("x=x@entry=5, y=<optimized out>, y@entry=0x0", ["x=x@entry=5", "y=<optimized out>", "y@entry=0x0"]),
    ("__args#0=3, this=0x1", ["__args#0=3", "this=0x1"]),
    ('s=0x1 "abc"..., t=2', ['s=0x1 "abc"...', "t=2"]),
    # A Rust type name with an associated type's binding in its generic arguments.
    ("self=alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output=()>, alloc::alloc::Global> "
     "{pointer: 0x1, vtable: 0x2}, args=<optimized out>",
     ["self=alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output=()>, alloc::alloc::Global> "
      "{pointer: 0x1, vtable: 0x2}", "args=<optimized out>"]),
    ("f=0x401000 <operator<(A, B)>, g=0x401010 <operator<<(std::ostream&, A)>, h=1",
     ["f=0x401000 <operator<(A, B)>", "g=0x401010 <operator<<(std::ostream&, A)>", "h=1"]),
    ("a={1, 2 <repeats 20 times>, 3}, b='\\000' <repeats 15 times>",
     ["a={1, 2 <repeats 20 times>, 3}", "b='\\000' <repeats 15 times>"]),
])
def test_split_args(text, expected):
    assert split_args(text) == expected


def test_parse_args_entry_values():
    vs = parse_args("x=x@entry=5, y=<optimized out>, y@entry=0x0, z=7, z@entry=6, w@entry=1")
    assert [(v.name, v.value, v.entry_value, v.entry_form) for v in vs] == [
        ("x", "5", "5", "equal"),
        ("y", "<optimized out>", "0x0", "separate"),
        ("z", "7", "6", "separate"),
        ("w", None, "1", "separate"),
    ]
    with pytest.raises(gdbvars.GdbVarsParseError):
        parse_args("no name here")


def test_parse_local_line():
    assert parse_local_line("        r = {id = 16, slot = 0x0}") == GdbVar("r", "local", "{id = 16, slot = 0x0}")
    assert parse_local_line("        s = \"a = b\"") == GdbVar("s", "local", '"a = b"')
    assert parse_local_line("        x = <error reading variable x (Cannot access memory at address 0x0)>").value \
        == "<error reading variable x (Cannot access memory at address 0x0)>"
    assert parse_local_line("No locals.") is None
    assert parse_local_line("      short = 1") is None


def test_parse_full_synthetic_continuation_and_notes():
    text = (
        "Thread 1 (LWP 10):\n"
        "#0  0x0000000000401000 in f (a=1) at f.c:1\n"
        "        s = 1\n"
        "         continued\n"
        "#1  0x0000000000401100 in main () at f.c:9\n"
        "No locals.\n"
        "#2  0x0000000000401200 in _start ()\n"
        "No symbol table info available.\n"
    )
    full = parse_full(text)
    t = full.bt.threads[0]
    f0 = full.frame_vars(t, t.frames[0])
    assert f0.locals[0].value == "1\n         continued" and f0.notes
    assert full.frame_vars(t, t.frames[1]).no_locals
    assert full.frame_vars(t, t.frames[2]).no_symtab


# ---------------------------------------------------------------------------
# varscmp: the pure parts


def test_caller_frames():
    kinds = ["inline", "normal", "inline", "normal", "sigtramp", "normal", "normal"]
    assert varscmp.caller_frames(kinds) == [False, False, True, True, True, False, True]


def test_align_skips_a_missing_frame():
    g = [framecmp.Frame(n, "a.c", i) for i, n in enumerate(["f", "g", "h", "main"])]
    b = [framecmp.Frame(n, "a.c", i) for i, n in enumerate(["f", "g", "h", "main"]) if n != "g"]
    assert varscmp.align(g, b) == [(0, 0), (1, None), (2, 1), (3, 2)]


def test_location_at_and_clobbered_registers():
    text = (
        'Symbol "lref" is multi-location:\n'
        "  Base address 0x1af0  Range 0x560dca717af0-0x560dca717b7b: a variable in $rdi\n"
        "  Range 0x560dca717b7b-0x560dca717b90: a complex DWARF expression:\n"
        "     0: DW_OP_entry_value\n"
        "       2: DW_OP_reg5 [$rdi]\n"
        "     3: DW_OP_stack_value\n"
        "\n.\n"
    )
    assert varscmp.location_at(text, 0x560DCA717B7A) == "a variable in $rdi"
    assert "DW_OP_entry_value" in varscmp.location_at(text, 0x560DCA717B7B)
    assert varscmp.location_at(text, 0x560DCA717B90) is None
    assert varscmp.only_call_clobbered("a variable in $rdi")
    assert varscmp.only_call_clobbered("a complex DWARF expression:\n0: DW_OP_breg4 2 [$rsi]\n2: DW_OP_stack_value")
    assert not varscmp.only_call_clobbered("a variable in $rbx")
    assert not varscmp.only_call_clobbered(varscmp.location_at(text, 0x560DCA717B7B))
    assert not varscmp.only_call_clobbered("a variable at frame base reg $rsp offset 0+12")
    single = 'Symbol "copy" is a variable at frame base reg $rsp offset 0+12.'
    assert varscmp.location_at(single, 0) == "a variable at frame base reg $rsp offset 0+12"


def _bv(name, value, kind="param", **kw):
    d = {"name": name, "kind": kind, "type": kw.pop("type", "int"), "value": value,
         "optimized_out": value == "<optimized out>", "error": False, "address": None}
    d.update(kw)
    return d


def _cmp(kind, gvars, bvars, program="vars_c", function="vc_inner", optimized=True):
    def mk(**kw):
        d = varscmp.Diff(optimized=optimized, **kw)
        d.decide()
        return d
    return varscmp.compare_vars(kind, gvars, bvars, "w", mk, program, function, lambda s: None)


def test_compare_vars_rules():
    # Equal: nothing.
    assert _cmp("param", parse_args("a=1"), [_bv("a", "1", entry_value=None)]) == []
    # gdb optimized out, bt the known value: bt-knows-more (checked).
    (d,) = _cmp("param", parse_args("d=<optimized out>"), [_bv("d", "3.25", entry_value=None)])
    assert d.category is varscmp.BT_KNOWS_MORE and d.accepted and d.note.startswith("checked")
    # ... but a wrong value is a failure.
    (d,) = _cmp("param", parse_args("d=<optimized out>"), [_bv("d", "3.5", entry_value=None)])
    assert d.category is None and not d.accepted and "contradicts" in d.note
    # Entry values: gdb has one, bt none -> entry-value (the value too, in the x=x@entry form).
    ds = _cmp("param", parse_args("x=x@entry=5"), [_bv("x", "<optimized out>", entry_value=None)],
              function="other")
    assert [(d.what, d.category) for d in ds] == [("value", varscmp.ENTRY_VALUE),
                                                  ("entry-value", varscmp.ENTRY_VALUE)]
    # ... accepted only in optimised code.
    ds = _cmp("param", parse_args("x=x@entry=5"), [_bv("x", "<optimized out>", entry_value=None)],
              function="other", optimized=False)
    assert not any(d.accepted for d in ds)
    # A different entry value is a failure.
    (d,) = _cmp("param", parse_args("x=x@entry=5"), [_bv("x", "5", entry_value="6")], function="other")
    assert d.what == "entry-value" and d.category is None
    # gdb wrong, proven by the known value.
    (d,) = _cmp("param", parse_args("d=7.5"), [_bv("d", "3.25", entry_value=None)])
    assert d.category is varscmp.GDB_WRONG_VALUE
    # Missing, extra, shadowed names, order.
    ds = _cmp("local", [GdbVar("s", "local", "1"), GdbVar("s", "local", "2"), GdbVar("t", "local", "3")],
              [_bv("s", "1", "local"), _bv("u", "9", "local")])
    assert sorted((d.what, d.name) for d in ds) == [("extra-in-bt", "u"), ("missing-in-bt", "s"),
                                                    ("missing-in-bt", "t")]
    (d,) = _cmp("local", [GdbVar("a", "local", "1"), GdbVar("b", "local", "2")],
                [_bv("b", "2", "local"), _bv("a", "1", "local")])
    assert d.what == "order"
    # Printers.
    (d,) = _cmp("local", [GdbVar("v", "local", "std::vector of length 1, capacity 1 = {1}")],
                [_bv("v", "{_M_impl = {...}}", "local", type="std::vector<int>")], program="x")
    assert d.category is varscmp.GDB_PRETTY_PRINTER
    (d,) = _cmp("local", [GdbVar("s", "local", "{_M_dataplus = {_M_p = 0x1 \"x\"}, _M_string_length = 1}")],
                [_bv("s", '"x"', "local", type="std::string")], program="x")
    assert d.category is varscmp.GDB_NO_PRINTERS
