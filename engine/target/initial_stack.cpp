#include "target/initial_stack.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace bt {

namespace {
constexpr uint64_t kMaxSearch = 1u << 20;  // the initial stack's top part that is searched
constexpr size_t kMaxEnv = 16384;          // environment entries
constexpr size_t kMaxEnvString = 128 * 1024;
}  // namespace

void readInitialEnvironment(const MemoryReader &read, const std::vector<MemoryRegion> &regions,
                            const std::vector<std::pair<uint64_t, uint64_t>> &auxv,
                            ProcessFacts &facts) {
  if (auxv.size() < 2) return;
  // AT_EXECFN points at the file name string near the top of the initial stack.
  uint64_t execfn = 0;
  for (auto [k, v] : auxv)
    if (k == AT_EXECFN) execfn = v;
  const MemoryRegion *stack = nullptr;
  for (const MemoryRegion &r : regions)
    if (execfn && r.contains(execfn)) stack = &r;
  if (!stack) return;
  uint64_t lo = stack->end - std::min<uint64_t>(stack->end - stack->start, kMaxSearch);
  std::string mem(stack->end - lo, '\0');
  if (read(lo, mem.data(), mem.size()) != mem.size()) return;
  // The auxv array as the kernel wrote it: its first two entries, 8-byte aligned.
  uint64_t needle[4] = {auxv[0].first, auxv[0].second, auxv[1].first, auxv[1].second};
  uint64_t auxvAddr = 0;
  for (size_t off = 0; off + sizeof needle <= mem.size(); off += 8)
    if (!memcmp(mem.data() + off, needle, sizeof needle)) {
      auxvAddr = lo + off;
      break;
    }
  if (!auxvAddr || auxvAddr - lo < 16) return;
  auto word = [&](uint64_t a, uint64_t &v) {
    if (a < lo || a + 8 > stack->end) return false;
    memcpy(&v, mem.data() + (a - lo), 8);
    return true;
  };
  // auxvAddr - 8 is envp's NULL; walk down to argv's NULL.
  std::vector<uint64_t> envp;
  uint64_t v = 0;
  for (uint64_t a = auxvAddr - 16; word(a, v) && v != 0 && envp.size() < kMaxEnv; a -= 8)
    envp.push_back(v);
  if (v != 0) return;  // no terminator found: not the layout we expected
  std::reverse(envp.begin(), envp.end());
  uint64_t start = UINT64_MAX, end = 0;
  std::vector<std::string> env;
  for (uint64_t p : envp) {
    if (p < lo || p >= stack->end) return;  // envp points into the stack top, always
    const char *s = mem.data() + (p - lo);
    size_t n = strnlen(s, std::min<uint64_t>(stack->end - p, kMaxEnvString));
    env.emplace_back(s, n);
    start = std::min(start, p);
    end = std::max(end, p + n + 1);
  }
  facts.environment = std::move(env);
  if (!envp.empty()) {
    facts.envStart = start;
    facts.envEnd = end;
  }
}

}  // namespace bt
