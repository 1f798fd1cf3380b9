"""Helpers of the Python API tests: the `bt --json --vars` document rebuilt from btengine's
objects, and a readable comparison with bt's own."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import btengine



def _hex(v: Optional[int]) -> Optional[str]:
    return None if v is None else hex(v)


def _signal(s: Optional[btengine.Signal]) -> Optional[Dict[str, Any]]:
    if s is None:
        return None
    return {"number": s.number, "name": s.name, "code": s.code, "code_name": s.code_name,
            "address": _hex(s.address),
            "sender_pid": s.sender_pid}


def variable_doc(v: btengine.Variable) -> Dict[str, Any]:
    return {"name": v.name, "kind": v.kind, "type": v.type, "value": v.text,
            "optimized_out": v.optimized_out, "entry_value": v.entry_value, "error": v.error,
            "address": _hex(v.address)}


def frame_doc(f: btengine.Frame, variables: bool = True) -> Dict[str, Any]:
    d = {"index": f.index, "pc": hex(f.pc), "module": f.module,
         "module_offset": hex(f.module_offset) if f.module is not None else None,
         "function": f.function, "file": f.file, "line": f.line, "inlined": f.inlined,
         "how": f.how, "suspect": f.suspect, "signal_frame": f.signal_frame}
    if variables:
        d["variables"] = [variable_doc(v) for v in f.variables]
    return d


def process_doc(p: btengine.Process, variables: bool = True) -> Dict[str, Any]:
    """What `bt --json [--vars]` prints, from the Python objects."""
    crashed = p.crashed_thread
    return {
        "target": {"kind": p.kind, "pid": p.pid, "executable": p.executable},
        "signal": _signal(p.signal),
        "crashed_tid": crashed.tid if crashed else None,
        "threads": [{"tid": t.tid, "name": t.name, "crashed": t.crashed,
                     "signal": _signal(t.signal), "stop_reason": t.stop_reason,
                     "frames": [frame_doc(f, variables) for f in t.frames]}
                    for t in p.threads],
    }


def normalize_bt(doc: Dict[str, Any], variables: bool = True) -> Dict[str, Any]:
    """bt's document reduced to what process_doc() builds (frames without DWARF have no
    `variables` key in bt's output: an empty list in the API)."""
    out = {"target": dict(doc["target"]), "signal": doc.get("signal"),
           "crashed_tid": doc.get("crashed_tid"), "threads": []}
    for t in doc["threads"]:
        frames = []
        for f in t["frames"]:
            f = {k: f.get(k) for k in ("index", "pc", "module", "module_offset", "function",
                                       "file", "line", "inlined", "how", "suspect",
                                       "signal_frame")} | (
                {"variables": f.get("variables", [])} if variables else {})
            frames.append(f)
        out["threads"].append({"tid": t["tid"], "name": t.get("name"),
                               "crashed": t.get("crashed"), "signal": t.get("signal"),
                               "stop_reason": t.get("stop_reason"), "frames": frames})
    return out


def _align_signal(mine: Optional[Dict[str, Any]], theirs: Optional[Dict[str, Any]]):
    """bt prints sender_pid only when it has one."""
    if mine is not None and theirs is not None and "sender_pid" not in theirs:
        if mine.get("sender_pid") is None:
            mine.pop("sender_pid", None)


def differences(mine: Dict[str, Any], bt: Dict[str, Any], kind: Optional[str] = None) -> List[str]:
    """Every difference between process_doc() and normalize_bt() output, as readable lines.
    `kind`: the target.kind bt is expected to differ by (bt show says "snapshot")."""
    out: List[str] = []
    mt, bt_t = dict(mine["target"]), dict(bt["target"])
    if kind is not None:
        assert mt.pop("kind") == kind
        bt_t.pop("kind")
    if mt != bt_t:
        out.append(f"target: {mt} != bt {bt_t}")
    _align_signal(mine["signal"], bt["signal"])
    for key in ("signal", "crashed_tid"):
        if mine[key] != bt[key]:
            out.append(f"{key}: {mine[key]!r} != bt {bt[key]!r}")
    if [t["tid"] for t in mine["threads"]] != [t["tid"] for t in bt["threads"]]:
        out.append(f"threads: {[t['tid'] for t in mine['threads']]} != bt "
                   f"{[t['tid'] for t in bt['threads']]}")
        return out
    for mt, bt_t in zip(mine["threads"], bt["threads"]):
        tid = mt["tid"]
        _align_signal(mt["signal"], bt_t["signal"])
        for key in ("name", "crashed", "signal", "stop_reason"):
            if mt[key] != bt_t[key]:
                out.append(f"thread {tid} {key}: {mt[key]!r} != bt {bt_t[key]!r}")
        if len(mt["frames"]) != len(bt_t["frames"]):
            out.append(f"thread {tid}: {len(mt['frames'])} frames != bt {len(bt_t['frames'])}: "
                       f"{[f['function'] for f in mt['frames']]} vs "
                       f"{[f['function'] for f in bt_t['frames']]}")
            continue
        for mf, bf in zip(mt["frames"], bt_t["frames"]):
            where = f"thread {tid} #{mf['index']} {mf['function']}"
            for key in mf:
                if key == "variables":
                    continue
                if mf[key] != bf[key]:
                    out.append(f"{where} {key}: {mf[key]!r} != bt {bf[key]!r}")
            if "variables" not in mf:
                continue
            mv, bv = mf["variables"], bf["variables"]
            if [v["name"] for v in mv] != [v["name"] for v in bv]:
                out.append(f"{where} variables: {[v['name'] for v in mv]} != bt "
                           f"{[v['name'] for v in bv]}")
                continue
            for a, b in zip(mv, bv):
                for key in a:
                    if a[key] != b.get(key):
                        out.append(f"{where} {a['name']}.{key}: {a[key]!r} != bt {b.get(key)!r}")
    return out


def find_frame(p: btengine.Process, function: str) -> btengine.Frame:
    for t in p.threads:
        for f in t.frames:
            if f.function == function:
                return f
    raise AssertionError(f"no frame of {function} in {p!r}")
