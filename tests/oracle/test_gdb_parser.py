"""Unit tests of the gdb output parser, on real gdb 13 outputs captured from
the fixtures (tests/oracle/data/gdb/<program>.<variant>.<core|live>.txt: stdout of
`gdb -batch ... -ex "thread apply all bt" -x gdb_frame_info.py`).
These need neither the engine nor the fixtures."""

from pathlib import Path

import pytest

import gdbparse
from gdbparse import GdbParseError, parse, parse_frame_line, split_function_and_args

DATA = Path(__file__).resolve().parent / "data" / "gdb"


def load(name):
    return parse((DATA / name).read_text())


def names(thread):
    return [None if f.signal_frame else f.function for f in thread.frames]


def test_all_samples_parse():
    files = sorted(DATA.glob("*.txt"))
    assert len(files) >= 10
    for f in files:
        bt = parse(f.read_text())
        assert bt.threads, f
        assert bt.has_frame_kinds, f
        for t in bt.threads:
            assert t.tid and t.tid > 0
            assert [fr.index for fr in t.frames] == list(range(len(t.frames)))
            assert all(fr.kind for fr in t.frames)


def test_deep_c_core_inline_frames_and_quoted_args():
    bt = load("deep_c.gcc-O2-dwarf5-pie-nofp.core.txt")
    assert bt.signal == "SIGSEGV"
    assert bt.siginfo == (11, 1, 0)
    # The frame gdb prints when it loads the core (before "Thread 1 ...") is not a thread frame.
    assert len(bt.threads) == 1
    t = bt.threads[0]
    assert t.num == 1 and t.tid == 4682 and t.pthread == 0x7F4A72DE4740 and t.name is None
    assert names(t) == [
        "inl_c_inner", "inl_c_outer", "level_c", "inl_b_helper", "level_b", "level_a",
        "main", "__libc_start_call_main", "__libc_start_main_impl", "_start",
    ]
    assert [f.kind for f in t.frames][:5] == ["inline", "inline", "normal", "inline", "normal"]
    f0, f1, f5 = t.frames[0], t.frames[1], t.frames[5]
    assert f0.pc == 0x557353EF22A4 and f0.line == 15
    assert f0.file == "/work/main/tests/fixtures/src/deep_c.c"
    assert f1.pc is None  # inlined frames have no address
    assert f1.line == 20
    # A string argument containing parentheses and quotes.
    assert f5.args == (
        'tag=tag@entry=0x557353ef3031 "deep (chain) \\"quoted\\" \'x\'", depth=depth@entry=1'
    )
    assert f5.line == 43
    start = t.frames[-1]
    assert start.function == "_start" and start.file is None and start.line is None
    assert start.library is None and start.args == ""
    assert t.frames[7].file == "../sysdeps/nptl/libc_start_call_main.h"


def test_threads_live_names_unknown_frames_and_tailcall():
    bt = load("threads_cpp.gcc-O2-dwarf5-pie-nofp.live.txt")
    by_name = {t.name: t for t in bt.threads}
    assert set(by_name) == {
        "bt-poller", "bt-waiter", "bt-locker", "bt-sleeper", "bt-reader", "threads_cpp.gcc"
    }
    # gdb lists threads from the highest number down.
    assert [t.num for t in bt.threads] == [6, 5, 4, 3, 2, 1]
    poller = by_name["bt-poller"]
    unknown = [f for f in poller.frames if f.unknown]
    assert len(unknown) == 1
    u = unknown[0]
    assert u.function is None and u.args == "" and u.pc is not None
    assert u.library == "/lib/x86_64-linux-gnu/libstdc++.so.6"
    # gcc's lambda: gdb prints a bare operator().
    assert poller.frames[2].function == "operator()"
    assert poller.frames[3].function == "std::__invoke_impl<void, main(int, char**)::<lambda()> >"
    assert poller.frames[7].function == (
        "std::thread::_State_impl<std::thread::_Invoker<std::tuple<main(int, char**)::<lambda()> > > >::_M_run(void)"
    )
    waiter = by_name["bt-waiter"]
    kinds = {f.function: f.kind for f in waiter.frames}
    assert kinds["__GI___futex_abstimed_wait_cancelable64"] == "tailcall"
    # Arguments with <symbol+offset> and nested parentheses.
    assert "(anonymous namespace)::g_never+40" in waiter.frames[0].args
    assert names(by_name["threads_cpp.gcc"])[:4] == [
        "__libc_pause", "fixture_park", "crash_chain::final_step", "crash_chain::Dispatcher::dispatch"
    ]
    assert bt.current_tid is None  # only printed for cores


def test_threads_core_current_thread():
    bt = load("threads_cpp.clang-O2-dwarf5-pie-nofp.core.txt")
    assert bt.signal == "SIGSEGV"
    assert len(bt.threads) == 6
    assert all(t.name is None for t in bt.threads)  # no thread names in cores
    main = [t for t in bt.threads if t.num == 1][0]
    assert bt.current_tid == main.tid
    assert names(main)[:3] == ["crash_chain::final_step", "crash_chain::Dispatcher::dispatch", "main"]
    poller = [t for t in bt.threads if any(f.function == "workers::poller_wait" for f in t.frames)][0]
    assert poller.frames[2].function == "main::$_0::operator()"


def test_static_live_process_header_and_minimal_symbols():
    bt = load("deep_c.gcc-O2-dwarf5-static-nofp.live.txt")
    t = bt.threads[0]
    assert (t.num, t.pthread, t.name) == (1, None, "deep_c.gcc-O2-d")
    assert t.tid == 5179
    f0 = t.frames[0]
    assert (f0.function, f0.file, f0.line, f0.library, f0.pc) == ("pause", None, None, None, 0x4377D0)
    assert names(t)[-3:] == ["__libc_start_call_main", "__libc_start_main_impl", "_start"]


def test_static_core_lwp_header_and_signal_frame():
    bt = load("sighandler_c.gcc-O2-dwarf5-static-nofp.core.txt")
    t = bt.threads[0]
    assert t.pthread is None and t.name is None and t.tid > 0
    sig = [f for f in t.frames if f.signal_frame]
    assert len(sig) == 1 and sig[0].index == 3 and sig[0].kind == "sigtramp"
    assert sig[0].function is None and not sig[0].unknown
    # Static glibc has no DWARF: gdb shows the symbol, clone suffix included.
    assert t.frames[4].function == "__pthread_kill_implementation.constprop.0"
    assert names(t)[:3] == ["handler_crash", "handler_work", "on_sigusr1"]


def test_live_signal_frame_and_tailcall():
    bt = load("sighandler_c.gcc-O2-dwarf5-pie-nofp.live.txt")
    t = bt.threads[0]
    fs = t.frames
    i = [f.index for f in fs if f.signal_frame][0]
    assert fs[i + 1].function == "__pthread_kill_implementation"
    assert fs[i + 1].pc is None  # the interrupted frame's pc is at a line start
    assert fs[i + 2].function == "__pthread_kill_internal" and fs[i + 2].kind == "tailcall"
    assert fs[i + 3].function == "__GI_raise" and fs[i + 3].file == "../sysdeps/posix/raise.c"
    assert bt.siginfo[0] == 19  # the SIGSTOP of gdb's attach


def test_templates_gcc_names_with_parameter_lists():
    bt = load("templates_cpp.gcc-O0-dwarf5-pie-fp.core.txt")
    fs = bt.threads[0].frames
    assert fs[0].function == "tmpl::crash_site<long>" and fs[0].args == "value=6"
    assert fs[1].function == "tmpl::Accumulator<long>::add"
    assert fs[3].function == (
        "tmpl::apply_twice<main(int, char**)::<lambda(int)>::<lambda(int)> >(struct {...}, int)"
    )
    assert fs[3].args == "f=..., x=3"
    assert fs[7].function == (
        "std::_Function_handler<int(int), main(int, char**)::<lambda(int)> >"
        "::_M_invoke(const std::_Any_data &, int &&)"
    )
    assert fs[7].args.startswith("__functor=..., __args#0=@0x")
    assert fs[8].function == "std::function<int (int)>::operator()(int) const"


def test_templates_clang_lambda_names():
    bt = load("templates_cpp.clang-O0-dwarf5-pie-fp.core.txt")
    fs = bt.threads[0].frames
    assert fs[2].function == (
        "main::$_0::operator()(int) const::{lambda(int)#1}::operator()(int) const"
    )
    assert fs[2].args.startswith("this=0x") and fs[2].args.endswith(", w=3")
    assert fs[4].function == "main::$_0::operator()"
    assert fs[9].function == "main::$_1::operator()"


def test_libc_frames_with_libc6_dbg():
    bt = load("libc_crash_c.gcc-O2-dwarf5-pie-nofp.core.txt")
    fs = bt.threads[0].frames
    f0 = fs[0]
    # strlen is an assembly function: a symbol and a line, no arguments, no address.
    assert (f0.function, f0.pc, f0.args) == ("__strlen_evex", None, "")
    assert f0.file == "../sysdeps/x86_64/multiarch/strlen-evex.S" and f0.line == 79
    assert "msort_with_tmp" in names(bt.threads[0])
    assert "cmp=cmp@entry=0x" in [f for f in fs if f.function == "__GI___qsort_r"][0].args


def test_recursion_two_hundred_levels():
    bt = load("recursion_c.gcc-O2-dwarf5-pie-nofp.core.txt")
    t = bt.threads[0]
    assert names(t).count("recurse") == 200
    assert len(t.frames) == 206
    assert t.frames[201].function == "start_recursion"


# ---------------------------------------------------------------------------
# Frame-line corner cases (synthetic, in the shapes gdb prints)


@pytest.mark.parametrize(
    "line, func, args, file, lineno, lib, pc",
    [
        ("#0  main () at x.c:3", "main", "", "x.c", 3, None, None),
        ("#12 0x00007f81024d44a3 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6",
         None, "", None, None, "/lib/x86_64-linux-gnu/libstdc++.so.6", 0x7F81024D44A3),
        ("#3  0x0000000000401234 in ?? ()", None, "", None, None, None, 0x401234),
        ("#1  0x0000000000401234 in f (s=0x4020 \"a) at b.c:1 (\") at real.c:5",
         "f", "s=0x4020 \"a) at b.c:1 (\"", "real.c", 5, None, 0x401234),
        ("#2  0x0000000000401234 in g (c=40 '(') at g.c:7", "g", "c=40 '('", "g.c", 7, None, 0x401234),
        ("#2  0x0000000000401234 in g (c=39 '\\'') at g.c:7", "g", "c=39 '\\''", "g.c", 7, None, 0x401234),
        ("#4  0x0000000000401234 in ns::Foo<int>::operator() (this=0x1) at f.cpp:9",
         "ns::Foo<int>::operator()", "this=0x1", "f.cpp", 9, None, 0x401234),
        ("#5  0x0000000000401234 in (anonymous namespace)::helper (x=1) at f.cpp:2",
         "(anonymous namespace)::helper", "x=1", "f.cpp", 2, None, 0x401234),
        ("#6  0x0000000000401234 in operator<< <int> (o=...) at f.cpp:2",
         "operator<< <int>", "o=...", "f.cpp", 2, None, 0x401234),
        ("#7  0x00007ffff7e2a26f in __GI___poll (fds=0x1, nfds=1, timeout=-1) at ../sysdeps/unix/sysv/linux/poll.c:29",
         "__GI___poll", "fds=0x1, nfds=1, timeout=-1", "../sysdeps/unix/sysv/linux/poll.c", 29, None, 0x7FFFF7E2A26F),
        ("#8  0x0000000000401234 in foo () from /opt/my lib/libx.so", "foo", "", None, None, "/opt/my lib/libx.so", 0x401234),
    ],
)
def test_frame_line_shapes(line, func, args, file, lineno, lib, pc):
    f = parse_frame_line(line)
    assert (f.function, f.args, f.file, f.line, f.library, f.pc) == (func, args, file, lineno, lib, pc)


def test_signal_and_special_frames():
    f = parse_frame_line("#3  <signal handler called>")
    assert f.signal_frame and f.function is None and f.index == 3
    f = parse_frame_line("#1  <function called from gdb>")
    assert f.special == "<function called from gdb>" and not f.unknown


def test_split_function_and_args_unbalanced_quote_falls_back():
    # A truncated string (gdb's `print elements` limit) still leaves the
    # parentheses balanced outside it.
    func, args = split_function_and_args('h (s=0x1 "abc"...)')
    assert (func, args) == ("h", 's=0x1 "abc"...')


def test_thread_headers():
    t = gdbparse.parse_thread_header('Thread 3 (Thread 0x7f81001196c0 (LWP 4232) "a (b) \\"c\\""):')
    assert (t.num, t.tid, t.pthread, t.name) == (3, 4232, 0x7F81001196C0, 'a (b) \\"c\\"')
    t = gdbparse.parse_thread_header("Thread 1 (LWP 77):")
    assert (t.num, t.tid, t.pthread, t.name) == (1, 77, None, None)
    t = gdbparse.parse_thread_header('Thread 1 (process 5179 "deep_c.gcc-O2-d"):')
    assert (t.tid, t.name) == (5179, "deep_c.gcc-O2-d")
    # A remote target (btserve): PID.TID, the name when the stub sends one.
    t = gdbparse.parse_thread_header('Thread 4 (Thread 8922.8924 "chan-waiter"):')
    assert (t.num, t.tid, t.pthread, t.name) == (4, 8924, None, "chan-waiter")
    t = gdbparse.parse_thread_header("Thread 1 (Thread 8922.8922):")
    assert (t.num, t.tid, t.name) == (1, 8922, None)
    assert gdbparse.parse_thread_header("#0  main () at x.c:1") is None


def test_backtrace_stopped_note_and_errors():
    text = (
        "Thread 1 (LWP 10):\n"
        "#0  0x0000000000401000 in f () at f.c:1\n"
        "#1  0x0000000000000000 in ?? ()\n"
        "Backtrace stopped: previous frame inner to this frame (corrupt stack?)\n"
    )
    bt = parse(text)
    assert bt.threads[0].notes == ["Backtrace stopped: previous frame inner to this frame (corrupt stack?)"]
    assert not bt.has_frame_kinds
    with pytest.raises(GdbParseError):
        parse("Thread 1 (LWP 10):\n#0  f () at f.c:1\n#2  g () at f.c:2\n")
    with pytest.raises(GdbParseError):
        parse("Thread 1 (LWP 10):\n#0  f () at f.c:1\nBT-FRAME-KINDS 10 2 normal,normal\n")
    with pytest.raises(GdbParseError):
        parse_frame_line("#0  nonsense without parens")
