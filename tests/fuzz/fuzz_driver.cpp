#include "fuzz_driver.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

// Called by ASan/UBSan before they exit with an error (weak: absent without sanitizers).
extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));
// A UBSan report must fail the run, not scroll by (UBSAN_OPTIONS still overrides).
extern "C" const char *__ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace bt::fuzz {

namespace {

// ---------------------------------------------------------------------------------------------
// Saving the input that kills the process.

const char *gName = "fuzz";
std::string gArtifactPath;
const char *gArtifact = nullptr;
const uint8_t *gCurData = nullptr;
size_t gCurSize = 0;

// The input being run is kept in the artifact file before each run (two syscalls), so whatever
// ends the process leaves it behind: a signal, ASan, a violated invariant, and also a UBSan
// report, whose halt path (a separate runtime with GCC) calls no death callback. A clean end
// removes the file.
int gArtifactFd = -1;

void keepCurrentInput() {
  if (gArtifactFd < 0) return;
  if (ftruncate(gArtifactFd, 0) != 0 ||
      pwrite(gArtifactFd, gCurData, gCurSize, 0) != ssize_t(gCurSize)) {
    static bool warned = false;
    if (!warned) fprintf(stderr, "%s: cannot keep the current input in %s\n", gName, gArtifact);
    warned = true;
  }
}

void writeArtifact() {
  // Async-signal-safe: write only (the file already holds the input).
  if (!gCurData || !gArtifact) return;
  static const char msg[] = ": the failing input was written to ";
  (void)!::write(2, gName, strlen(gName));
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, gArtifact, strlen(gArtifact));
  (void)!::write(2, "\n", 1);
}

void onFatalSignal(int sig) {
  writeArtifact();
  signal(sig, SIG_DFL);
  raise(sig);
}

bool readFile(const char *path, Bytes &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

void run(const Bytes &b) {
  gCurData = reinterpret_cast<const uint8_t *>(b.data());
  gCurSize = b.size();
  keepCurrentInput();
  LLVMFuzzerTestOneInput(gCurData, gCurSize);
  gCurData = nullptr;
}

int usage() {
  fprintf(stderr, "usage: %s [--seconds N] [--seed S] [--artifact PATH] [SEED_FILE...]\n", gName);
  return 2;
}

Bytes stackedByteMutations(const Bytes &seed, Rng &r) {
  Bytes f = seed;
  size_t maxSize = std::max<size_t>(seed.size() * 2, 4096);
  for (int i = 0, n = 1 + int(r.below(4)); i < n; ++i) mutateBytes(f, r, maxSize);
  return f;
}

}  // namespace

void invariantFailed(const char *what) {
  fprintf(stderr, "%s: invariant violated: %s\n", gName, what);
  abort();
}

uint64_t interesting64(Rng &r) {
  static const uint64_t v[] = {0, 1, 7, 8, 15, 16, 255, 256, 4095, 4096, 0x7fff, 0x8000, 0xffff,
                               0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
                               uint64_t(1) << 30, uint64_t(4) << 30, (uint64_t(4) << 30) + 1,
                               uint64_t(1) << 62, 0x7fffffffffffffff, 0x8000000000000000,
                               ~uint64_t(0) - 16, ~uint64_t(0) - 1, ~uint64_t(0)};
  return v[r.below(sizeof v / sizeof v[0])];
}

void mutateBytes(Bytes &b, Rng &r, size_t maxSize) {
  switch (r.below(9)) {
  case 0:  // flip one bit
    if (!b.empty()) b[r.below(b.size())] ^= char(1u << r.below(8));
    break;
  case 1:  // set one byte
    if (!b.empty()) b[r.below(b.size())] = char(r.below(256));
    break;
  case 2: {  // set an interesting byte
    static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, '"', '{', '}', '[', ']', ',', ':', '\\', '0', 'x'};
    if (!b.empty()) b[r.below(b.size())] = char(v[r.below(sizeof v)]);
    break;
  }
  case 3:  // truncate
    b.resize(r.below(b.size() + 1));
    break;
  case 4: {  // insert random bytes
    size_t n = 1 + r.below(r.chance(4) ? 256 : 8);
    if (b.size() + n > maxSize) break;
    Bytes ins;
    for (size_t i = 0; i < n; ++i) ins += char(r.below(256));
    b.insert(r.below(b.size() + 1), ins);
    break;
  }
  case 5: {  // remove a range
    if (b.empty()) break;
    size_t at = r.below(b.size());
    b.erase(at, 1 + r.below(std::min<size_t>(b.size() - at, r.chance(4) ? 512 : 8)));
    break;
  }
  case 6: {  // overwrite 8 bytes with an interesting u64
    if (b.size() < 8) break;
    uint64_t v = interesting64(r);
    memcpy(b.data() + r.below(b.size() - 7), &v, 8);
    break;
  }
  case 7: {  // duplicate a range
    if (b.empty()) break;
    size_t at = r.below(b.size());
    size_t n = 1 + r.below(std::min<size_t>(b.size() - at, 64));
    if (b.size() + n > maxSize) break;
    b.insert(r.below(b.size() + 1), b.substr(at, n));
    break;
  }
  default: {  // several bit flips
    for (int i = 0, n = 2 + int(r.below(8)); i < n && !b.empty(); ++i)
      b[r.below(b.size())] ^= char(1u << r.below(8));
    break;
  }
  }
}

int runDriver(int argc, char **argv, const TargetInfo &target) {
  gName = target.name;
  gArtifactPath = std::string(target.name) + ".crash";
  double seconds = 10;
  uint64_t seed = 0;
  bool seedGiven = false;
  std::vector<const char *> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--seconds" || a == "--seed" || a == "--artifact") && i + 1 < argc) {
      const char *v = argv[++i];
      char *end = nullptr;
      if (a == "--artifact") {
        gArtifactPath = v;
        continue;
      }
      if (a == "--seconds") seconds = strtod(v, &end);
      else seed = strtoull(v, &end, 0), seedGiven = true;
      if (!*v || *end || seconds < 0) return usage();
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return usage();
    } else {
      files.push_back(argv[i]);
    }
  }
  gArtifact = gArtifactPath.c_str();
  gArtifactFd = ::open(gArtifact, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (gArtifactFd < 0) fprintf(stderr, "%s: cannot open %s: %s\n", gName, gArtifact, strerror(errno));
  if (!seedGiven) seed = uint64_t(std::chrono::system_clock::now().time_since_epoch().count());

  // With a sanitizer, its own SIGSEGV report comes first and then calls writeArtifact; abort()
  // (a violated invariant) is ours in any case.
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(writeArtifact);
  else
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, onFatalSignal);
  signal(SIGABRT, onFatalSignal);

  std::vector<Bytes> seeds = target.seeds;
  for (const char *path : files) {
    Bytes b;
    if (!readFile(path, b)) {
      fprintf(stderr, "%s: cannot read %s\n", gName, path);
      return 2;
    }
    seeds.push_back(std::move(b));
  }
  if (seeds.empty()) {
    fprintf(stderr, "%s: no seeds (give SEED_FILE arguments)\n", gName);
    return usage();
  }
  uint64_t execs = 0;
  for (const Bytes &s : seeds) {
    run(s);
    ++execs;
  }
  fprintf(stderr, "%s: %zu seed(s), seed %llu, %.0f s\n", gName, seeds.size(),
          (unsigned long long)seed, seconds);

  Rng r(seed);
  std::vector<Bytes> pool;  // outputs a mutator kept, mutated again (stacking)
  auto start = std::chrono::steady_clock::now();
  unsigned long long sampled = 0, accepted = 0;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (seconds > 0 && elapsed() < seconds) {
    for (int batch = 0; batch < 64; ++batch) {
      // A copy: the mutator may grow the pool.
      Bytes from = !pool.empty() && r.chance(4) ? pool[r.below(pool.size())]
                                                : seeds[r.below(seeds.size())];
      Bytes input = target.mutate ? target.mutate(from, r, pool) : stackedByteMutations(from, r);
      if (pool.size() > 512) pool.erase(pool.begin(), pool.begin() + 256);
      run(input);
      ++execs;
      // How many mutated inputs the code under test still accepts, sampled.
      if (target.accepts && execs % 97 == 0) {
        ++sampled;
        accepted += target.accepts(input);
      }
    }
  }
  double t = elapsed();
  printf("%s: %llu executions in %.1f s (%.0f/s), seed %llu, no crash", gName,
         (unsigned long long)execs, t, t > 0 ? double(execs) / t : 0.0, (unsigned long long)seed);
  if (target.accepts) printf("; sampled inputs accepted: %llu of %llu", accepted, sampled);
  printf("\n");
  if (gArtifactFd >= 0) {
    ::close(gArtifactFd);
    ::unlink(gArtifact);
  }
  return 0;
}

}  // namespace bt::fuzz
