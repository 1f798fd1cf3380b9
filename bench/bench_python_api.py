#!/usr/bin/env python3
"""The Python API's costs, beside drgn's when a Python with drgn is given (--drgn-python; drgn
is not a dependency: `python3 -m venv V && V/bin/pip install drgn`), each step in a fresh
interpreter, medians of --repeat runs:

- `import` of the package: wall time and resident memory (VmRSS) afterwards;
- on the live big_server (bench/gen/gen_target.py; --big-server): opening it, the first lookup of
  a global (which builds the name index of the module), a further global, a type by name, and
  resident memory at the end. drgn cannot unwind a live process, but it reads globals and types
  of one (Program.set_pid), so this part is comparable.

usage: bench_python_api.py --build-python DIR [--drgn-python PYTHON] [--big-server EXE]
                           [--repeat N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RSS = "int(__import__('re').search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024"

IMPORT = {
    "btengine": "import time; t = time.perf_counter(); import btengine; dt = time.perf_counter() - t",
    "drgn": "import time; t = time.perf_counter(); import drgn; dt = time.perf_counter() - t",
}

# Globals and a type of the big server (main.cpp's file statics; a unit's struct).
LOOKUP = {
    "btengine": """
import time, btengine
t0 = time.perf_counter()
p = btengine.attach(PID)
t1 = time.perf_counter(); first = len(p["entries"])
t2 = time.perf_counter(); units = int(p["kUnits"])
t3 = time.perf_counter(); size = p.type("svc1::Record1").size
t4 = time.perf_counter()
p.close()
out = dict(open=t1 - t0, first_global=t2 - t1, second_global=t3 - t2, type=t4 - t3, values=[first, units, size])
""",
    "drgn": """
import time, drgn
t0 = time.perf_counter()
p = drgn.Program(); p.set_pid(PID)
try:
    p.load_default_debug_info()
except drgn.MissingDebugInfoError:
    pass
t1 = time.perf_counter(); first = p["entries"].type_.length
t2 = time.perf_counter(); units = p["kUnits"].value_()
t3 = time.perf_counter(); size = drgn.sizeof(p.type("svc1::Record1"))
t4 = time.perf_counter()
out = dict(open=t1 - t0, first_global=t2 - t1, second_global=t3 - t2, type=t4 - t3, values=[first, units, size])
""",
}


def run(python: str, code: str, env: dict) -> dict:
    script = code + f"\nimport json; out = out if 'out' in dir() else dict(import_s=dt); out['rss_mb'] = {RSS}; print(json.dumps(out))"
    r = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        sys.exit(f"{python}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def median(rows: list, key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-python", required=True, help="the build tree's python/ directory")
    ap.add_argument("--drgn-python", help="a Python interpreter that can import drgn")
    ap.add_argument("--big-server")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=args.build_python)
    tools = {"btengine": sys.executable}
    if args.drgn_python:
        tools["drgn"] = args.drgn_python
    results: dict = {}
    for tool, python in tools.items():
        rows = [run(python, IMPORT[tool], env) for _ in range(args.repeat)]
        results[f"{tool} import"] = {"s": median(rows, "import_s"), "rss_mb": median(rows, "rss_mb")}
        print(f"import {tool:9} {median(rows, 'import_s') * 1000:8.1f} ms  {median(rows, 'rss_mb'):6.0f} MB RSS")
    if args.big_server:
        server = subprocess.Popen([args.big_server], stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline() if server.stdout else ""
            if not line.startswith("READY"):
                sys.exit(f"{args.big_server} did not start: {line!r}")
            for tool, python in tools.items():
                rows = [run(python, LOOKUP[tool].replace("PID", str(server.pid)), env)
                        for _ in range(args.repeat)]
                r = {k: median(rows, k) for k in ("open", "first_global", "second_global", "type", "rss_mb")}
                r["values"] = rows[0]["values"]
                results[f"{tool} big_server"] = r
                print(f"{tool:9} big_server: open {r['open'] * 1000:8.1f} ms, first global {r['first_global'] * 1000:8.1f} ms, "
                      f"next global {r['second_global'] * 1000:6.1f} ms, type {r['type'] * 1000:6.1f} ms, "
                      f"{r['rss_mb']:5.0f} MB RSS   values {r['values']}")
        finally:
            server.kill()
            server.wait()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
