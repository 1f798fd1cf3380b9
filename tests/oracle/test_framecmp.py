"""Unit tests of the frame comparison (name normalisation, alignment, quirks).
The name pairs are real: the left side is what gdb 13 printed for the
fixtures, the right side what a demangler (GNU c++filt / LLVM llvm-cxxfilt,
as used by llvm-symbolizer) or a DWARF DW_AT_name gives for the same frame."""

import pytest

from framecmp import (
    GDB_UNQUALIFIED_GCC_LAMBDA,
    SIGNAL_FRAME,
    Frame,
    compare_frame_lists,
    frame_from_bt,
    frame_from_gdb,
    normalize_function,
)
from gdbparse import parse_frame_line


@pytest.mark.parametrize(
    "gdb_name, other",
    [
        # C: unchanged.
        ("level_c", "level_c"),
        ("__libc_start_call_main", "__libc_start_call_main"),
        # N2 clones.
        ("msort_with_tmp.part", "msort_with_tmp"),
        ("__pthread_kill_implementation.constprop.0", "__pthread_kill_implementation"),
        ("crash_chain::Dispatcher::dispatch", "crash_chain::Dispatcher::dispatch(int) (.isra.0)"),
        ("crash_chain::Dispatcher::dispatch", "crash_chain::Dispatcher::dispatch(int) [clone .isra.0]"),
        # N3 glibc hidden aliases.
        ("__GI_raise", "raise"),
        ("__GI___qsort_r", "__qsort_r"),
        ("__GI___libc_read", "__libc_read"),
        # N6 parameters and return types.
        ("tmpl::Accumulator<long>::add", "tmpl::Accumulator<long>::add(long)"),
        ("tmpl::crash_site<long>", "void tmpl::crash_site<long>(long)"),
        ("fixture_park", "fixture_park()"),
        ("std::function<int (int)>::operator()(int) const", "std::function<int (int)>::operator()(int) const"),
        ("std::function<int (int)>::operator()(int) const", "std::function<int(int)>::operator()"),
        # N5 templates and N1 spaces.
        ("tmpl::crash_site<long>", "tmpl::crash_site<long int>"),
        (
            "std::_Function_handler<int(int), main(int, char**)::<lambda(int)> >::_M_invoke(const std::_Any_data &, int &&)",
            "std::_Function_handler<int (int), main::{lambda(int)#1}>::_M_invoke(std::_Any_data const&, int&&)",
        ),
        (
            "std::thread::_State_impl<std::thread::_Invoker<std::tuple<main(int, char**)::<lambda()> > > >::_M_run(void)",
            "std::thread::_State_impl<std::thread::_Invoker<std::tuple<main::'lambda'()>>>::_M_run()",
        ),
        (
            "tmpl::apply_twice<main(int, char**)::<lambda(int)>::<lambda(int)> >(struct {...}, int)",
            "int tmpl::apply_twice<main::'lambda'(int)::operator()(int) const::'lambda'(int)>(main::'lambda'(int)::operator()(int) const::'lambda'(int), int)",
        ),
        (
            "std::__invoke_r<int, main(int, char**)::<lambda(int)>&, int>(struct {...} &)",
            "std::enable_if<is_invocable_r_v<int, main::'lambda'(int)&, int>, int>::type std::__invoke_r<int, main::'lambda'(int)&, int>(main::'lambda'(int)&, int&&)",
        ),
        # N4 lambdas (clang: $_N).
        ("main::$_0::operator()", "main::$_0::operator()(int) const"),
        ("main::$_0::operator()", "main::{lambda(int)#1}::operator()(int) const"),
        (
            "main::$_0::operator()(int) const::{lambda(int)#1}::operator()(int) const",
            "main::'lambda'(int)::operator()(int) const::'lambda'(int)::operator()(int) const",
        ),
        ("(anonymous namespace)::announce", "(anonymous namespace)::announce(int, char const*)"),
    ],
)
def test_equivalent_spellings(gdb_name, other):
    assert normalize_function(gdb_name) == normalize_function(other)


@pytest.mark.parametrize(
    "a, b",
    [
        ("level_b", "level_c"),
        ("tmpl::Accumulator<long>::add", "add"),  # unqualified C++ names are not accepted
        ("std::__invoke_impl<void, main(int, char**)::<lambda()> >", "__invoke_impl<void, main(int, char**)::<lambda()> >"),
        ("workers::Waiter::run", "workers::Waiter::wait_forever"),
        ("operator()", "main::{lambda(int)#1}::operator()"),  # only via the named quirk
        ("raise", "__pthread_kill"),
        ("__libc_pause", "pause"),  # aliases other than __GI_ are different names
    ],
)
def test_different_names_stay_different(a, b):
    assert normalize_function(a) != normalize_function(b)


def test_normalized_forms():
    assert normalize_function("main::$_0::operator()(int) const::{lambda(int)#1}::operator()(int) const") == (
        "main::{lambda}::operator()::{lambda}::operator()"
    )
    assert normalize_function("ns::Foo<int>::operator<(ns::Foo<int> const&) const") == "ns::Foo::operator<"
    assert normalize_function("operator new(unsigned long)") == "operator new"
    assert normalize_function(None) is None


def G(line, kind=None):
    f = parse_frame_line(line)
    f.kind = kind
    return frame_from_gdb(f)


def B(function, file=None, line=None, inlined=False, module=None, how="cfi", signal_frame=None):
    d = {"function": function, "file": file, "line": line, "inlined": inlined,
         "module": module, "how": how, "pc": "0x1"}
    if signal_frame is not None:
        d["signal_frame"] = signal_frame
    return frame_from_bt(d)


def test_compare_ok_and_mismatch_report():
    gdb = [G("#0  0x1 in c () at /a/deep_c.c:15", "normal"), G("#1  0x2 in main () at /a/deep_c.c:49", "normal")]
    ok = compare_frame_lists(gdb, [B("c", "/x/deep_c.c", 15), B("main", "deep_c.c", 49)], tid=1)
    assert ok.ok and not ok.quirks
    bad = compare_frame_lists(gdb, [B("c", "/x/deep_c.c", 16), B("main", "deep_c.c", 49)], tid=1)
    assert not bad.ok
    assert "!!" in bad.report() and "deep_c.c:16" in bad.report()
    missing = compare_frame_lists(gdb, [B("c", "deep_c.c", 15)], tid=1)
    assert not missing.ok and "(missing)" in missing.report()


def test_inlined_flag_is_compared():
    gdb = [G("#0  inl () at f.c:3", "inline"), G("#1  0x2 in outer () at f.c:9", "normal")]
    assert compare_frame_lists(gdb, [B("inl", "f.c", 3, True), B("outer", "f.c", 9)], 1).ok
    assert not compare_frame_lists(gdb, [B("inl", "f.c", 3, False), B("outer", "f.c", 9)], 1).ok


def test_signal_frame():
    gdb = [G("#0  0x1 in h () at s.c:1", "normal"), G("#1  <signal handler called>", "sigtramp"),
           G("#2  k () at s.c:5", "normal")]
    res = compare_frame_lists(gdb, [B("h", "s.c", 1), B("__restore_rt", module="/lib/libc.so.6"), B("k", "s.c", 5)], 1)
    assert res.ok, res.report()
    res = compare_frame_lists(gdb, [B("h", "s.c", 1), B("k", "s.c", 5)], 1)
    assert not res.ok
    assert frame_from_bt({"function": "__restore_rt"}).function == SIGNAL_FRAME
    # The documented flag wins over the name.
    assert frame_from_bt({"function": None, "signal_frame": True}).function == SIGNAL_FRAME
    assert frame_from_bt({"function": "__restore_rt", "signal_frame": False}).function != SIGNAL_FRAME


def test_tailcall_frames_are_required():
    gdb = [G("#0  impl () at p.c:44", "normal"), G("#1  0x3 in internal () at p.c:78", "tailcall"),
           G("#2  0x4 in raise () at r.c:26", "normal")]
    # bt reconstructs tail-call frames like gdb: leaving one out is a difference.
    without = compare_frame_lists(gdb, [B("impl", "p.c", 44), B("raise", "r.c", 26)], 1)
    assert not without.ok
    assert any("missing tail-call frame" in line for line in without.lines)
    with_it = compare_frame_lists(
        gdb, [B("impl", "p.c", 44), B("internal", "p.c", 78, how="tailcall"), B("raise", "r.c", 26)], 1)
    assert with_it.ok and not with_it.quirks
    # A tail-call frame where gdb has an ordinary frame is a difference.
    gdb2 = [G("#0  impl () at p.c:44", "normal"), G("#1  0x3 in internal () at p.c:78", "normal")]
    assert not compare_frame_lists(gdb2, [B("impl", "p.c", 44), B("internal", "p.c", 78, how="tailcall")], 1).ok
    assert compare_frame_lists(gdb2, [B("impl", "p.c", 44), B("internal", "p.c", 78)], 1).ok


def test_unqualified_gcc_lambda_quirk():
    gdb = [G("#0  0x1 in operator() (__closure=0x0) at t.cpp:51", "normal")]
    res = compare_frame_lists(gdb, [B("main::{lambda(int)#1}::operator()(int) const", "t.cpp", 51)], 1)
    assert res.ok and GDB_UNQUALIFIED_GCC_LAMBDA.name in res.quirks[0]
    # Not at another line, and not for a non-lambda operator().
    assert not compare_frame_lists(gdb, [B("main::{lambda(int)#1}::operator()(int) const", "t.cpp", 52)], 1).ok
    assert not compare_frame_lists(gdb, [B("Foo::operator()(int) const", "t.cpp", 51)], 1).ok


def test_past_main():
    gdb = [G("#0  0x1 in main () at m.c:3", "normal"), G("#1  0x2 in __libc_start_call_main () at x.h:58", "normal"),
           G("#2  0x3 in _start ()", "normal")]
    stop = compare_frame_lists(gdb, [B("main", "m.c", 3)], 1)
    assert stop.ok and stop.notes
    full = compare_frame_lists(gdb, [B("main", "m.c", 3), B("__libc_start_call_main", "x.h", 58), B("_start")], 1)
    assert full.ok and not full.notes
    partial = compare_frame_lists(gdb, [B("main", "m.c", 3), B("__libc_start_call_main", "x.h", 58)], 1)
    assert not partial.ok


def test_unknown_frames():
    gdb = [G("#0  0x00007f81024d44a3 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6", "normal")]
    assert compare_frame_lists(gdb, [B(None, module="/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30")], 1).ok
    # A name where gdb has none is a difference (gdb is the oracle unless a quirk says otherwise).
    assert not compare_frame_lists(gdb, [B("execute_native_thread_routine")], 1).ok


def test_long_runs_are_collapsed_in_reports():
    gdb = [G(f"#{i}  0x1 in recurse () at r.c:21", "normal") for i in range(50)]
    bt = [B("recurse", "r.c", 21) for _ in range(49)] + [B("recurse", "r.c", 22)]
    res = compare_frame_lists(gdb, bt, 1)
    assert not res.ok
    assert len(res.lines) < 10 and "more identical frames" in res.report()


def test_frame_show():
    assert Frame("f", "a.c", 3, raw_function="f").show() == "f a.c:3"


def test_symbol_aliases():
    gdb = [G("#0  0x00000000004377d0 in pause ()", "normal")]
    bt = [B("__libc_pause", module="/x/deep_c.static")]
    assert not compare_frame_lists(gdb, bt, 1).ok
    seen = []

    def check(module, a, b):
        seen.append((module, a, b))
        return {a, b} == {"pause", "__libc_pause"}

    res = compare_frame_lists(gdb, bt, 1, alias_check=check)
    assert res.ok and "aliases" in res.report()
    assert seen == [("/x/deep_c.static", "pause", "__libc_pause")]
    # Aliases must still be at the same file:line.
    gdb = [G("#0  0x1 in __libc_pause () at pause.c:29", "normal")]
    assert not compare_frame_lists(gdb, [B("pause", "pause.c", 30)], 1, alias_check=check).ok
