"""Run by test_api_lifetime.py in a child interpreter: every misuse of the API, each expected to
raise a Python exception (never to crash the interpreter). Prints one JSON object: case ->
exception class name, or "ok: <repr>" when it returned.

argv: CORE EXE GARBAGE_FILE LIVE_PID"""

from __future__ import annotations

import gc
import json
import sys

import btengine
from btengine import _btengine

core, exe, garbage, live_pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
results: dict = {}


def case(name, fn):
    try:
        r = fn()
        results[name] = f"ok: {r!r}"[:200]
    except Exception as e:  # noqa: BLE001 - the class is the result
        results[name] = type(e).__name__
        results[name + ".message"] = str(e)


# Bad inputs.
case("open_missing", lambda: btengine.open("/nonexistent/core"))
case("open_garbage", lambda: btengine.open(garbage))
case("open_directory", lambda: btengine.open("/"))
case("open_missing_exe", lambda: btengine.open(core, exe="/nonexistent/exe"))
case("attach_no_such_pid", lambda: btengine.attach(2 ** 22 + 12345))
case("attach_zero", lambda: btengine.attach(0))
case("attach_self", lambda: btengine.attach(__import__("os").getpid()))
case("capture_no_such_pid", lambda: btengine.capture(2 ** 22 + 12345, "/tmp/never.btsnap"))
case("capture_bad_path", lambda: btengine.capture(live_pid, "/nonexistent/dir/x.btsnap"))

p = btengine.open(core, exe=exe)
frame = next(f for f in p.crashed_thread.frames if f.function == "vc_middle")
r = frame["r"].value
case("read_unmapped", lambda: p.read(0, 16))
case("read_negative", lambda: p.read(-1, 16))
case("read_too_much", lambda: p.read(0x1000, 1 << 40))
case("read_wrapping", lambda: p.read((1 << 64) - 8, 16))
case("thread_unknown", lambda: p.thread(1))
case("variable_unknown", lambda: frame["no_such_variable"])
case("deref_null", lambda: frame["p_null"].value.deref())
case("deref_int", lambda: frame["value"].value.deref())
case("deref_void_pointer", lambda: frame["v_ptr"].value.deref())
case("deref_function_pointer", lambda: frame["f_ptr"].value.deref())
case("element_out_of_range", lambda: r["tags"][3])
case("element_negative_out_of_range", lambda: r["tags"][-4])
case("element_of_struct", lambda: r[0])
case("element_of_int_negative", lambda: frame["value"].value[-1])
case("field_unknown", lambda: r["no_such_field"])
case("field_of_int", lambda: frame["value"].value["x"])
case("string_of_int", lambda: frame["value"].value.string())
case("int_of_struct", lambda: int(r))
case("float_of_array", lambda: float(r["name"]))

# After close: everything raises ClosedError.
thread = p.crashed_thread
var = frame["r"]
h = frame["h"].value
raw_value = r._v
raw_var = var._v
raw_session = p._s
p.close()
p.close()  # twice is harmless
for label, obj, names in [
    ("Process", p, ["kind", "pid", "executable", "command_line", "signal", "attributes",
                    "fingerprint", "threads", "crashed_thread", "modules", "regions"]),
    ("Thread", thread, ["tid", "name", "crashed", "registers", "signal", "stop_reason",
                        "frames"]),
    ("Frame", frame, ["index", "pc", "function", "file", "line", "module", "module_offset",
                      "inlined", "suspect", "signal_frame", "how", "registers", "variables"]),
    ("Variable", var, ["name", "kind", "type", "text", "entry_value", "optimized_out", "error",
                       "address", "value"]),
    ("Value", r, ["type", "kind", "size", "address", "bytes", "value", "enumerator", "fields",
                  "elements"]),
]:
    for n in names:
        case(f"closed.{label}.{n}", lambda obj=obj, n=n: getattr(obj, n))
case("closed.Process.read", lambda: p.read(0x1000, 1))
case("closed.Process.thread", lambda: p.thread(1))
case("closed.Thread.iter", lambda: list(thread))
case("closed.Frame.getitem", lambda: frame["r"])
case("closed.Value.getitem_field", lambda: r["tl"])
case("closed.Value.getitem_index", lambda: r["tags"])
case("closed.Value.len", lambda: len(r))
case("closed.Value.deref", lambda: h["r"].deref())
case("closed.Value.string", lambda: r["name"].string())
case("closed.repr", lambda: [repr(o) for o in (p, thread, frame, var, r)])
# The extension's own objects after close: an exception or a value, never a crash.
for n in ["type", "kind", "size", "address", "bytes", "value", "enumerator", "field_names",
          "element_count"]:
    case(f"closed.raw.Value.{n}", lambda n=n: getattr(raw_value, n))
case("closed.raw.Value.field", lambda: raw_value.field("tl"))
case("closed.raw.Value.element", lambda: raw_value.field("tags").element(1))
case("closed.raw.Value.string", lambda: raw_value.field("name").string(16))
case("closed.raw.Variable.value", lambda: raw_var.value)
case("closed.raw.Session.thread_ids", lambda: raw_session.thread_ids)
del p, thread, frame, var, r, h
gc.collect()
case("closed.raw.Value.deref_after_gc", lambda: raw_value.field("tl").address)

print(json.dumps(results))
