"""A second gdb run on the same core or the same still-paused process, for the
differences of a varscmp comparison that gdb's own view can explain: where gdb
reads a variable from at the frame's pc (`info address`: the proof behind
gdb-clobbered-register, and the location kept for the report and the baseline
causes), and which symbols gdb has for a local bt does not list (a label?).
Used by test_vars_oracle.py and real_programs.py."""

from __future__ import annotations

import re
from typing import Optional

import e2e_util as u
import varscmp


def query_locations(cmp: varscmp.Comparison, target_args, debug_dir: Optional[str] = None):
    """Ask gdb about cmp's candidates and record the answers in cmp's
    differences; returns gdb's run (None when nothing needed asking)."""
    cands = varscmp.location_candidates(cmp) + varscmp.symbol_candidates(cmp)
    if not cands:
        return None
    firsts = {}
    for d in cands:
        firsts.setdefault(varscmp.location_query_key(d), d)
    keys = list(firsts)
    commands = [varscmp.GDB_SYMBOLS_PY]
    for i, key in enumerate(keys):
        d = firsts[key]
        commands += [f"thread {d.gdb_thread}", f"frame {d.gdb_frame}", f"echo BT-LOC-BEGIN {i}\\n",
                     "p/x $pc", f"info address {d.name}"]
        if d.what == "missing-in-bt":
            commands.append(f'python bt_syms("{d.name}")')
        commands.append("echo BT-LOC-END\\n")
    run = u.gdb_commands(commands, target_args, debug_dir)
    answers = {}
    symbols = {}
    for m in re.finditer(r"^BT-LOC-BEGIN (\d+)\n(.*?)^BT-LOC-END$", run.stdout, re.S | re.M):
        body = m.group(2)
        key = keys[int(m.group(1))]
        pm = re.search(r"^\$\d+ = (0x[0-9a-f]+)$", body, re.M)
        sm = re.search(r'^Symbol ".*?(?=^BT-SYM |\Z)', body, re.M | re.S)
        answers[key] = (int(pm.group(1), 16) if pm else None, sm.group(0) if sm else "")
        if firsts[key].what == "missing-in-bt":
            symbols[key] = re.findall(r"^BT-SYM (.*)$", body, re.M)
    varscmp.apply_locations(cmp, answers)
    varscmp.apply_symbols(cmp, symbols)
    return run
