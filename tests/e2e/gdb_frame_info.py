# Sourced by gdb (-x) after `thread apply all bt`.  Prints, for every thread,
# the kind of each frame gdb showed, which its text output does not say:
#
#   BT-FRAME-KINDS <tid> <n> normal,inline,tailcall,sigtramp,...
#
# `tailcall` frames are synthesised by gdb from DWARF call-site information
# (DW_TAG_call_site with DW_AT_call_tail_call): they stand for a function that
# left the stack through a tail jump, so no unwinder working from the machine
# state can see them.  It also prints the siginfo of the current thread (for a
# core: the fatal signal; for an attached process: gdb's own SIGSTOP):
#
#   BT-SIGINFO <signo> <code> <addr>
import gdb

_KINDS = {
    gdb.NORMAL_FRAME: "normal",
    gdb.INLINE_FRAME: "inline",
    gdb.TAILCALL_FRAME: "tailcall",
    gdb.SIGTRAMP_FRAME: "sigtramp",
    gdb.DUMMY_FRAME: "dummy",
    gdb.ARCH_FRAME: "arch",
    gdb.SENTINEL_FRAME: "sentinel",
}


def _frame_kinds():
    inferior = gdb.selected_inferior()
    selected = gdb.selected_thread()
    for thread in sorted(inferior.threads(), key=lambda t: t.num):
        thread.switch()
        kinds = []
        try:
            frame = gdb.newest_frame()
            while frame is not None:
                kinds.append(_KINDS.get(frame.type(), "other"))
                frame = frame.older()
        except gdb.error:
            kinds.append("error")
        tid = thread.ptid[1] or thread.ptid[0]
        print("BT-FRAME-KINDS %d %d %s" % (tid, len(kinds), ",".join(kinds)))
    if selected is not None:
        selected.switch()


def _siginfo():
    try:
        si = gdb.parse_and_eval("$_siginfo")
        signo = int(si["si_signo"])
        code = int(si["si_code"])
        addr = int(si["_sifields"]["_sigfault"]["si_addr"])
        print("BT-SIGINFO %d %d 0x%x" % (signo, code, addr))
    except (gdb.error, RuntimeError):
        pass


_frame_kinds()
_siginfo()
