#!/usr/bin/env python3
"""Generates a large multi-threaded C++ "server" for benchmarks: many translation units full of
distinct STL-instantiating types (so the DWARF is big, 100+ MB at the default size), and a main
that parks 16 named threads in deep call chains that cross translation units.

usage: gen_big_server.py OUTDIR [--units N]
"""
import argparse
import os

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

MAIN = r'''
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <atomic>
#include <thread>
#include <vector>

extern "C" {{
{decls}
}}

typedef int (*entry_fn)(int, int (*)(int));
static entry_fn entries[] = {{ {names} }};
static const int kUnits = {units};
static std::atomic<int> parked{{0}};

static int park(int) {{
  parked++;
  for (;;) pause();
  return 0;
}}

// Each thread walks a chain of 12 units, then parks.
static thread_local int chain_start;
static int chain(int depth) {{
  if (depth >= 12) return park(depth);
  return entries[(chain_start + depth * 7) % kUnits](depth + 1, chain);
}}

int main(int argc, char **argv) {{
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {{
    threads.emplace_back([t] {{
      char name[16];
      snprintf(name, sizeof name, "worker-%d", t);
      pthread_setname_np(pthread_self(), name);
      chain_start = t * 13;
      chain(0);
    }});
  }}
  while (parked.load() < 16) usleep(1000);
  printf("READY %d\n", getpid());
  fflush(stdout);
  chain_start = 5;
  chain(0);
}}
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--units", type=int, default=300)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for n in range(a.units):
        path = os.path.join(a.outdir, f"unit{n}.cpp")
        text = UNIT.format(n=n)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, "w") as f:
                f.write(text)
    decls = "\n".join(f"int unit{n}_entry(int, int (*)(int));" for n in range(a.units))
    names = ", ".join(f"unit{n}_entry" for n in range(a.units))
    with open(os.path.join(a.outdir, "main.cpp"), "w") as f:
        f.write(MAIN.format(decls=decls, names=names, units=a.units))
    with open(os.path.join(a.outdir, "CMakeLists.txt"), "w") as f:
        f.write(
            "cmake_minimum_required(VERSION 3.20)\nproject(big_server CXX)\n"
            "set(CMAKE_CXX_STANDARD 17)\n"
            "find_program(CCACHE ccache)\nif(CCACHE)\n  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE})\nendif()\n"
            "set(CMAKE_CXX_FLAGS \"-O1 -g -fno-omit-frame-pointer -pthread\")\n"
            "file(GLOB SRCS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)\n"
            "add_executable(big_server ${SRCS})\n"
        )


if __name__ == "__main__":
    main()
