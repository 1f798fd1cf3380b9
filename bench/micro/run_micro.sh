#!/usr/bin/env bash
# Runs the engine's micro-benchmarks (bench/micro, Google Benchmark; not part of CI): the table
# on the console, the full results as JSON in build/bench/micro.json. Extra arguments go to the
# benchmark binary, e.g.
#   bash bench/micro/run_micro.sh --benchmark_filter=Cfi --benchmark_min_time=0.05
#   bash bench/micro/run_micro.sh --benchmark_repetitions=5
# Build it first (the default build does): ninja -C build bt_micro_bench. The unwind and
# snapshot benchmarks capture a fixture live, so they need ptrace (as `bt PID` does).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BT_BUILD_DIR:-$here/build}
bin="$build/bin/bt_micro_bench"
if [ ! -x "$bin" ]; then
  echo "run_micro.sh: $bin is missing: build it with ninja -C $build bt_micro_bench" \
       "(needs libbenchmark-dev when CMake runs)" >&2
  exit 2
fi
mkdir -p "$build/bench"
out="$build/bench/micro.json"
rm -f "$out"
"$bin" --benchmark_format=console --benchmark_out="$out" --benchmark_out_format=json "$@"
# A benchmark that could not check its result is skipped with an error, which Google Benchmark
# does not count as a failure: this run does.
if [ -f "$out" ]; then
  python3 - "$out" <<'PY'
import json, sys
bad = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("error_occurred")]
for b in bad:
    print(f"run_micro.sh: {b['name']} did not run: {b.get('error_message', '?')}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
fi
