#!/usr/bin/env python3
"""Generates and builds the benchmark targets: a multi-threaded C++ "server" whose size and shape
are knobs, so the harness can show how bt's costs grow with each.

Build-time knobs (each combination is one executable, built once and kept):
  --units N       translation units full of distinct STL-instantiating types: the DWARF size
                  (about 0.42 MB of DWARF per unit: 300 units ~ 127 MB, 2400 ~ 1 GB)
  --libs L        shared libraries the executable loads (one small function each, on the stacks)
  --compress C    none, zlib or zstd: debug sections compressed by the linker (as distributions do)
Run-time knobs (arguments of the built program, no rebuild):
  --threads N     worker threads parked in call chains (default 16)
  --depth D       calls in each chain, crossing units and libraries (default 12)
  --rss-mib M     heap allocated and touched (the process's resident size)
  --sparse-gib G  an untouched anonymous mapping of G GiB (1024 = 1 TiB of virtual memory)
The program prints "READY <pid>" once every thread is parked.

Sources and objects live in one tree (default build/bench/targets, or $BT_BENCH_TARGETS), shared
between sizes: unit K is the same file for every --units, so 2400 units reuse the 300 already built.
The first build of a large target takes minutes (about 1.2 s of one core per unit); this script
says how long it took, and prints the executable's path on stdout.

usage: gen_target.py [--units 300] [--libs 0] [--compress none] [--dir DIR] [-j N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

UNIT = r'''
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <set>
#include <deque>

namespace svc{n} {{
struct Record{n} {{
  std::string name;
  std::vector<int> values;
  std::map<std::string, double> attrs;
  std::unordered_map<int, std::string> index;
  std::shared_ptr<Record{n}> next;
}};

template <typename T, int K>
struct Pool{n} {{
  std::deque<T> items;
  std::set<std::string> names;
  std::function<int(const T &)> score;
  int sum() const {{
    int s = K;
    for (const auto &i : items) s += score ? score(i) : 0;
    return s;
  }}
}};

struct Handler{n} {{
  Pool{n}<Record{n}, {n}> pool;
  Pool{n}<std::string, {n} + 1> strings;
  std::map<int, std::vector<Record{n}>> shards;
  virtual ~Handler{n}() = default;
  virtual int handle(int depth, int (*next)(int));
}};

__attribute__((noinline)) int Handler{n}::handle(int depth, int (*next)(int)) {{
  Record{n} r;
  r.name = "unit{n}";
  r.values.push_back(depth);
  r.attrs["depth"] = depth;
  r.index[depth] = r.name;
  pool.items.push_back(r);
  strings.items.push_back(r.name);
  shards[depth].push_back(r);
  int v = next ? next(depth) : 0;
  return v + pool.sum() + int(strings.items.size());
}}
}}  // namespace svc{n}

extern "C" __attribute__((noinline)) int unit{n}_entry(int depth, int (*next)(int)) {{
  svc{n}::Handler{n} h;
  return h.handle(depth, next);
}}
'''

LIB = r'''
// One of the benchmark target's shared libraries: a frame on the stacks that crosses modules.
struct LibState{n} {{ int calls; const char *name; long stamp; }};
extern "C" __attribute__((noinline)) int lib{n}_hop(int depth, int (*next)(int)) {{
  volatile LibState{n} st = {{depth, "lib{n}", {n}L}};
  int v = next(depth);
  return v + st.calls;
}}
'''

MAIN = r'''
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <atomic>
#include <thread>
#include <vector>

extern "C" {{
{decls}
}}

typedef int (*hop_fn)(int, int (*)(int));
static hop_fn entries[] = {{ {names} }};
static const int kUnits = {units};
static hop_fn lib_hops[] = {{ {lib_names} }};
static const int kLibs = {libs};
static int depth_limit = 12;
static std::atomic<int> parked{{0}};
static std::vector<char *> heap;  // --rss-mib: kept reachable, so it stays resident

static int park(int) {{
  parked++;
  for (;;) pause();
  return 0;
}}

// Each thread walks a chain of depth_limit calls (units, and libraries every other step), then parks.
static thread_local int chain_start;
static int chain(int depth) {{
  if (depth >= depth_limit) return park(depth);
  if (kLibs > 0 && depth % 2 == 1)
    return lib_hops[(chain_start + depth) % (kLibs ? kLibs : 1)](depth + 1, chain);
  return entries[(chain_start + depth * 7) % kUnits](depth + 1, chain);
}}

static long arg(int argc, char **argv, const char *name, long dflt) {{
  for (int i = 1; i + 1 < argc; ++i)
    if (!strcmp(argv[i], name)) return atol(argv[i + 1]);
  return dflt;
}}

int main(int argc, char **argv) {{
  int threads = (int)arg(argc, argv, "--threads", 16);
  depth_limit = (int)arg(argc, argv, "--depth", 12);
  long rss_mib = arg(argc, argv, "--rss-mib", 0);
  long sparse_gib = arg(argc, argv, "--sparse-gib", 0);
  for (long done = 0; done < rss_mib; done += 64) {{
    size_t n = (size_t)(rss_mib - done < 64 ? rss_mib - done : 64) << 20;
    char *p = (char *)malloc(n);
    if (!p) {{ fprintf(stderr, "cannot allocate %ld MiB\n", rss_mib); return 1; }}
    memset(p, (int)(done & 0x7f) | 1, n);
    heap.push_back(p);
  }}
  if (sparse_gib > 0) {{
    size_t len = (size_t)sparse_gib << 30;
    char *p = (char *)mmap(nullptr, len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {{ perror("mmap --sparse-gib"); return 1; }}
    for (size_t off = 0; off < len; off += (size_t)1 << 30) p[off] = 1;  // one page per GiB
  }}
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {{
    pool.emplace_back([t] {{
      char name[16];
      snprintf(name, sizeof name, "worker-%d", t);
      pthread_setname_np(pthread_self(), name);
      chain_start = t * 13;
      chain(0);
    }});
  }}
  while (parked.load() < threads) usleep(1000);
  printf("READY %d\n", getpid());
  fflush(stdout);
  chain_start = 5;
  chain(0);
}}
'''

CXXFLAGS = "-O1 -g -fno-omit-frame-pointer -pthread -std=c++17"


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def exe_name(units: int, libs: int, compress: str) -> str:
    return f"server-u{units}-l{libs}-{compress}"


def generate(tree: Path, units: int, libs: int, compress: str) -> Path:
    """Writes the sources and a build.ninja for one executable; returns its path."""
    src = tree / "src"
    src.mkdir(parents=True, exist_ok=True)
    for n in range(units):
        write_if_changed(src / f"unit{n}.cpp", UNIT.format(n=n))
    for n in range(libs):
        write_if_changed(src / f"lib{n}.cpp", LIB.format(n=n))
    name = exe_name(units, libs, compress)
    decls = "\n".join([f"int unit{n}_entry(int, int (*)(int));" for n in range(units)] +
                      [f"int lib{n}_hop(int, int (*)(int));" for n in range(libs)])
    main = MAIN.format(decls=decls, names=", ".join(f"unit{n}_entry" for n in range(units)),
                       units=units, libs=libs,
                       lib_names=", ".join(f"lib{n}_hop" for n in range(libs)) or "nullptr")
    write_if_changed(src / f"main-u{units}-l{libs}.cpp", main)
    cxx = "ccache g++" if shutil.which("ccache") else "g++"
    link_compress = "" if compress == "none" else f"-Wl,--compress-debug-sections={compress}"
    lines = [
        f"cxx = {cxx}",
        f"cxxflags = {CXXFLAGS}",
        "rule cxx",
        "  command = $cxx $cxxflags $extra -c $in -o $out",
        "  description = CXX $out",
        "rule link",
        "  command = $cxx -pthread $in -o $out $ldflags",
        "  description = LINK $out",
    ]
    objs = []
    for n in range(units):
        lines.append(f"build obj/unit{n}.o: cxx src/unit{n}.cpp")
        objs.append(f"obj/unit{n}.o")
    libfiles = []
    for n in range(libs):
        lines.append(f"build obj/lib{n}.o: cxx src/lib{n}.cpp\n  extra = -fPIC")
        lib = f"{name}.libs/libbench{n}.so"
        lines.append(f"build {lib}: link obj/lib{n}.o\n  ldflags = -shared {link_compress}")
        libfiles.append(lib)
    lines.append(f"build obj/main-u{units}-l{libs}.o: cxx src/main-u{units}-l{libs}.cpp")
    ldflags = link_compress
    if libs:
        ldflags += (f" -L{name}.libs -Wl,--no-as-needed " +
                    " ".join(f"-lbench{n}" for n in range(libs)) +
                    f" -Wl,-rpath,'$$ORIGIN/{name}.libs'")
    lines.append(f"build {name}: link obj/main-u{units}-l{libs}.o {' '.join(objs)} | {' '.join(libfiles)}"
                 f"\n  ldflags = {ldflags}")
    lines.append(f"default {name}")
    write_if_changed(tree / f"{name}.ninja", "\n".join(lines) + "\n")
    return tree / name


def build(units: int, libs: int = 0, compress: str = "none", tree: Path | None = None,
          jobs: int | None = None, quiet: bool = False) -> Path:
    """Builds (or finds built) the target with these knobs; returns the executable's path."""
    tree = Path(tree or os.environ.get("BT_BENCH_TARGETS") or ROOT / "build" / "bench" / "targets")
    tree.mkdir(parents=True, exist_ok=True)
    exe = generate(tree, units, libs, compress)
    name = exe.name
    check = subprocess.run(["ninja", "-f", f"{name}.ninja", "-n"], cwd=tree, capture_output=True, text=True)
    if "no work to do" in check.stdout:
        return exe
    if not quiet:
        print(f"gen_target: building {name} ({units} units, {libs} libraries, {compress} debug "
              f"sections); a new large target takes minutes", file=sys.stderr)
    t0 = time.monotonic()
    cmd = ["ninja", "-f", f"{name}.ninja"] + (["-j", str(jobs)] if jobs else [])
    run = subprocess.run(cmd, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        sys.exit(f"gen_target: building {name} failed:\n{run.stdout[-4000:]}")
    if not quiet:
        print(f"gen_target: built {name} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return exe


def dwarf_bytes(path: Path, inflated: bool = True) -> int:
    """Bytes of .debug_* sections in an ELF file: as inflated (from the compression headers) or on disk."""
    out = subprocess.run(["readelf", "-W", "-t", str(path)], capture_output=True, text=True).stdout
    total, name = 0, None
    lines = out.splitlines()
    for i, l in enumerate(lines):
        s = l.strip()
        if s.startswith("[") and "]" in s:
            name = s.split("]", 1)[1].strip()
            continue
        if name and name.startswith(".debug") and s.startswith("PROGBITS"):
            disk = int(s.split()[3], 16)  # PROGBITS Address Off Size ...
            size = disk
            nxt = lines[i + 2].strip() if i + 2 < len(lines) else ""
            if inflated and nxt.startswith(("ZLIB", "ZSTD")):
                size = int(nxt.replace(",", " ").split()[1], 16)
            total += size
            name = None
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--libs", type=int, default=0)
    ap.add_argument("--compress", choices=["none", "zlib", "zstd"], default="none")
    ap.add_argument("--dir", help="where sources and objects are kept (default build/bench/targets)")
    ap.add_argument("-j", "--jobs", type=int)
    a = ap.parse_args()
    if a.units < 1:
        ap.error("--units must be at least 1")
    print(build(a.units, a.libs, a.compress, a.dir, a.jobs))


if __name__ == "__main__":
    main()
