// Fuzz target for the snapshot reader (engine/snapshot): bt::parseSnapshot on untrusted bytes
// and, when it accepts them, a bt::SnapshotTarget serving memory reads from the decoded slices
// (and from the files of read-only file-backed regions, when this machine has the same build).
//
// Two ways to run it:
//  - libFuzzer (clang -fsanitize=fuzzer,address -DBT_LIBFUZZER): LLVMFuzzerTestOneInput only.
//  - the built-in driver below (any compiler, CI runs it in the ASan+UBSan build):
//      snapshot_reader_fuzz [--seconds N] [--seed S] [--artifact PATH] SEED_FILE...
//    runs every seed unmodified, then mutates them for N seconds. The snapshot payload is one
//    zstd frame, so byte mutations of the file mostly stop at the zstd checksum; besides
//    container mutations (bit flips, byte sets, truncation, insertion/removal, header fields)
//    the driver therefore also mutates the DECOMPRESSED payload (raw bytes, the JSON document
//    as a tree, the memory-slice table) and re-compresses it behind a correct header, so the
//    JSON and slice decoding is exercised. The input being run when the process dies (ASan,
//    UBSan with halt_on_error, a signal) is written to the artifact path; run the driver with
//    --seconds 0 on that file to reproduce.
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_target.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void invariantFailed(const char *what) {
  fprintf(stderr, "snapshot_reader_fuzz: invariant violated: %s\n", what);
  abort();
}

const bt::MemorySlice *sliceFor(const std::vector<bt::MemorySlice> &mem, uint64_t a) {
  auto it = std::upper_bound(mem.begin(), mem.end(), a,
                             [](uint64_t x, const bt::MemorySlice &m) { return x < m.address; });
  if (it == mem.begin()) return nullptr;
  --it;
  return a >= it->address && a < it->end() ? &*it : nullptr;
}

// Reads [addr, addr+len) through the target and checks what comes back: bytes inside a slice
// must be the captured ones; bytes outside every slice may only come from a read-only
// file-backed region (SnapshotTarget serves those from the module's file on this machine).
void checkRead(bt::SnapshotTarget &t, uint64_t addr, size_t len) {
  static uint8_t buf[8192];
  len = std::min(len, sizeof buf);
  size_t n = t.readMemory(addr, buf, len);
  if (n > len) invariantFailed("readMemory returned more than asked");
  const std::vector<bt::MemorySlice> &mem = t.data().memory;
  size_t p = 0;
  while (p < n) {
    uint64_t at = addr + p;
    if (const bt::MemorySlice *m = sliceFor(mem, at)) {
      size_t k = std::min<uint64_t>(n - p, m->end() - at);
      if (memcmp(buf + p, m->bytes.data() + (at - m->address), k) != 0)
        invariantFailed("readMemory returned bytes that differ from the slice");
      p += k;
      continue;
    }
    const bt::MemoryRegion *r = t.regionFor(at);
    if (!r || r->path.empty() || r->path[0] != '/' || (r->perms & bt::PermWrite))
      invariantFailed("readMemory returned bytes outside the slices and file-backed regions");
    uint64_t stop = r->end - at;
    auto next = std::upper_bound(mem.begin(), mem.end(), at,
                                 [](uint64_t x, const bt::MemorySlice &m) { return x < m.address; });
    if (next != mem.end()) stop = std::min<uint64_t>(stop, next->address - at);
    p += std::min<uint64_t>(n - p, stop);
  }
}

void exercise(bt::SnapshotTarget &t) {
  const bt::SnapshotData &d = t.data();
  // What the reader promises: slices sorted, disjoint, non-empty, no wrap-around.
  for (size_t i = 0; i < d.memory.size(); ++i) {
    const bt::MemorySlice &m = d.memory[i];
    if (m.bytes.empty() || m.end() < m.address) invariantFailed("empty or wrapping slice");
    if (i && m.address < d.memory[i - 1].end()) invariantFailed("slices overlap or are unsorted");
  }
  for (size_t i = 1; i < t.regions().size(); ++i)
    if (t.regions()[i].start < t.regions()[i - 1].start) invariantFailed("regions unsorted");
  for (size_t i = 1; i < t.modules().size(); ++i)
    if (t.modules()[i].start < t.modules()[i - 1].start) invariantFailed("modules unsorted");

  size_t budget = 64;  // bounded work per input
  for (const bt::MemorySlice &m : d.memory) {
    if (budget-- == 0) break;
    checkRead(t, m.address, m.bytes.size());       // whole slice (and into the next one)
    checkRead(t, m.end() - 1, 16);                  // last byte, then past the end
    checkRead(t, m.address - 1, 8);                 // one byte before
    checkRead(t, m.address + m.bytes.size() / 2, 4096);
    uint64_t v;
    (void)t.readU64(m.address, v);
  }
  checkRead(t, 0, 64);
  checkRead(t, ~uint64_t(0) - 3, 64);
  budget = 64;
  for (const bt::ThreadInfo &th : t.threads()) {
    if (budget-- == 0) break;
    checkRead(t, th.regs.rsp, 256);
    checkRead(t, th.regs.rip, 16);
    (void)t.regionFor(th.regs.rsp);
    (void)t.moduleFor(th.regs.rip);
  }
  budget = 256;
  for (const bt::ThreadBacktrace &tb : d.backtraces)
    for (const bt::Frame &f : tb.frames) {
      if (budget-- == 0) break;
      (void)t.moduleFor(f.pc);
      (void)t.regionFor(f.pc);
      checkRead(t, f.pc, 16);
    }
  if (t.signal() && t.signal()->hasAddress) checkRead(t, t.signal()->address, 64);
  for (const auto &kv : t.auxv()) (void)t.auxvValue(kv.first);
  // The document can be re-encoded (what `bt show --json` does with classifications).
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::json::Value(llvm::json::Array(d.classifications));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::Expected<bt::SnapshotData> snap =
      bt::parseSnapshot(llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz");
  if (!snap) {
    std::string msg = llvm::toString(snap.takeError());  // messages are built for every error
    if (msg.empty()) invariantFailed("empty error message");
    return 0;
  }
  bt::SnapshotTarget target(std::move(*snap));
  exercise(target);
  return 0;
}

#ifndef BT_LIBFUZZER

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace {

using Bytes = std::string;

constexpr size_t kHeaderSize = 32;
constexpr char kMagic[8] = {'B', 'T', 'S', 'N', 'A', 'P', '\r', '\n'};

// ---------------------------------------------------------------------------------------------
// Saving the input that kills the process.

const char *gArtifact = "snapshot_reader_fuzz.crash";
const uint8_t *gCurData = nullptr;
size_t gCurSize = 0;

void writeArtifact() {
  // Async-signal-safe: open/write/close only.
  if (!gCurData) return;
  int fd = ::open(gArtifact, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < gCurSize) {
    ssize_t w = ::write(fd, gCurData + done, gCurSize - done);
    if (w <= 0) break;
    done += size_t(w);
  }
  ::close(fd);
  static const char msg[] = "snapshot_reader_fuzz: the failing input was written to ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, gArtifact, strlen(gArtifact));
  (void)!::write(2, "\n", 1);
}

void onFatalSignal(int sig) {
  writeArtifact();
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

// Called by ASan/UBSan before they exit with an error (weak: absent without sanitizers).
extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));
// A UBSan report must fail the run, not scroll by (UBSAN_OPTIONS still overrides).
extern "C" const char *__ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace {

// ---------------------------------------------------------------------------------------------
// The container: header + zstd frame, and the payload inside it.

uint64_t getU64(const Bytes &b, size_t at) {
  uint64_t v = 0;
  memcpy(&v, b.data() + at, 8);
  return v;
}
void putU64(Bytes &b, uint64_t v) { b.append(reinterpret_cast<const char *>(&v), 8); }
void setU32(Bytes &b, size_t at, uint32_t v) { memcpy(b.data() + at, &v, 4); }
void setU64(Bytes &b, size_t at, uint64_t v) { memcpy(b.data() + at, &v, 8); }

Bytes pack(const Bytes &payload, int level) {
  Bytes frame(ZSTD_compressBound(payload.size()), '\0');
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(cctx, frame.data(), frame.size(), payload.data(), payload.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) {
    fprintf(stderr, "snapshot_reader_fuzz: zstd: %s\n", ZSTD_getErrorName(n));
    exit(2);
  }
  frame.resize(n);
  Bytes out(kMagic, 8);
  out.append("\1\0\0\0\0\0\0\0", 8);  // version 1, flags 0
  putU64(out, n);
  putU64(out, payload.size());
  return out + frame;
}

// The decompressed payload of a well-formed container, or false.
bool unpack(const Bytes &file, Bytes &payload) {
  if (file.size() < kHeaderSize || memcmp(file.data(), kMagic, 8) != 0) return false;
  uint64_t csize = getU64(file, 16), usize = getU64(file, 24);
  if (csize != file.size() - kHeaderSize || usize > (uint64_t(256) << 20)) return false;
  payload.assign(usize, '\0');
  size_t n = ZSTD_decompress(payload.data(), payload.size(), file.data() + kHeaderSize, csize);
  return !ZSTD_isError(n) && n == usize;
}

struct Slice {
  uint64_t address, size;  // size may lie (more than the bytes)
  Bytes bytes;
};

// payload = u64 json size, json, u64 count, slices.
struct Payload {
  Bytes json;
  std::vector<Slice> slices;
  Bytes trailer;  // bytes after the last slice (normally none)
};

bool split(const Bytes &p, Payload &out) {
  if (p.size() < 8) return false;
  uint64_t js = getU64(p, 0);
  if (js > p.size() - 8) return false;
  out.json = p.substr(8, js);
  size_t pos = 8 + js;
  if (p.size() - pos < 8) return false;
  uint64_t count = getU64(p, pos);
  pos += 8;
  out.slices.clear();
  for (uint64_t i = 0; i < count; ++i) {
    if (p.size() - pos < 16) return false;
    Slice s{getU64(p, pos), getU64(p, pos + 8), {}};
    pos += 16;
    if (s.size > p.size() - pos) return false;
    s.bytes = p.substr(pos, s.size);
    pos += s.size;
    out.slices.push_back(std::move(s));
  }
  out.trailer = p.substr(pos);
  return true;
}

Bytes join(const Payload &p) {
  Bytes out;
  putU64(out, p.json.size());
  out += p.json;
  putU64(out, p.slices.size());
  for (const Slice &s : p.slices) {
    putU64(out, s.address);
    putU64(out, s.size);
    out += s.bytes;
  }
  return out + p.trailer;
}

// ---------------------------------------------------------------------------------------------
// Mutators.

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint64_t next() { return g(); }
  size_t below(size_t n) { return n ? size_t(g() % n) : 0; }
  bool chance(unsigned oneIn) { return below(oneIn) == 0; }
};

uint64_t interesting64(Rng &r) {
  static const uint64_t v[] = {0, 1, 7, 8, 15, 16, 255, 256, 4095, 4096, 0x7fff, 0x8000, 0xffff,
                               0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000,
                               uint64_t(1) << 30, uint64_t(4) << 30, (uint64_t(4) << 30) + 1,
                               uint64_t(1) << 62, 0x7fffffffffffffff, 0x8000000000000000,
                               ~uint64_t(0) - 16, ~uint64_t(0) - 1, ~uint64_t(0)};
  return v[r.below(sizeof v / sizeof v[0])];
}

// Byte-level mutations of any buffer.
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

// Header fields of a container.
void mutateHeader(Bytes &f, Rng &r) {
  if (f.size() < kHeaderSize) return mutateBytes(f, r, f.size() + 64);
  switch (r.below(6)) {
  case 0: setU32(f, 8, r.chance(2) ? uint32_t(r.below(4)) : uint32_t(r.next())); break;  // version
  case 1: setU32(f, 12, uint32_t(1u << r.below(32))); break;                                  // flags
  case 2: setU64(f, 16, r.chance(2) ? getU64(f, 16) + r.below(9) - 4 : interesting64(r)); break;
  case 3: setU64(f, 24, r.chance(2) ? getU64(f, 24) + r.below(9) - 4 : interesting64(r)); break;
  case 4: f[r.below(8)] ^= char(1u << r.below(8)); break;  // magic
  default: f.append(r.below(16) + 1, char(r.below(256))); break;  // trailing garbage
  }
}

// A random node of a JSON tree (objects and arrays included), with its parent.
struct NodeRef {
  llvm::json::Value *v = nullptr;
  llvm::json::Object *parentObj = nullptr;
  llvm::json::ObjectKey key{""};
  llvm::json::Array *parentArr = nullptr;
  size_t index = 0;
};

void collect(llvm::json::Value &v, std::vector<NodeRef> &out, llvm::json::Object *po,
             const llvm::json::ObjectKey *key, llvm::json::Array *pa, size_t idx) {
  NodeRef n;
  n.v = &v;
  n.parentObj = po;
  if (key) n.key = *key;
  n.parentArr = pa;
  n.index = idx;
  out.push_back(n);
  if (out.size() > 20000) return;
  if (llvm::json::Object *o = v.getAsObject())
    for (auto &kv : *o) collect(kv.second, out, o, &kv.first, nullptr, 0);
  else if (llvm::json::Array *a = v.getAsArray())
    for (size_t i = 0; i < a->size(); ++i) collect((*a)[i], out, nullptr, nullptr, a, i);
}

llvm::json::Value randomValue(Rng &r, const llvm::json::Value &old) {
  switch (r.below(16)) {
  case 0: return nullptr;
  case 1: return r.chance(2);
  case 2: return int64_t(interesting64(r));
  case 3: return -int64_t(r.below(1000)) - 1;
  case 4: return 1e300 * (r.chance(2) ? 1 : -1);
  case 5: return 0.5;
  case 6: return "";
  case 7: {
    char buf[24];
    snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)interesting64(r));
    return std::string(buf);
  }
  case 8: return "0x";
  case 9: return "0x10000000000000000";  // 17 digits
  case 10: return llvm::json::Array{};
  case 11: return llvm::json::Object{};
  case 12: return std::string(size_t(1) << r.below(17), 'A');
  case 13: return "x86_64";
  case 14: {  // the old value moved 1-200 levels down (not deeper: llvm::json::parse recurses
             // per level without a limit, a known stack overflow near 35000 levels)
    llvm::json::Value v = old;
    for (size_t i = 0, n = 1 + (r.chance(4) ? r.below(200) : 0); i < n; ++i)
      v = r.chance(2) ? llvm::json::Value(llvm::json::Array{std::move(v)})
                      : llvm::json::Value(llvm::json::Object{{"a", std::move(v)}});
    return v;
  }
  default: {  // a string field spelled slightly differently
    if (auto s = old.getAsString()) {
      std::string t = s->str();
      if (!t.empty()) t[r.below(t.size())] = char('0' + r.below(40));
      return t;
    }
    return int64_t(r.next() >> r.below(64));
  }
  }
}

// Structure-aware JSON mutations; false if the document does not parse.
bool mutateJson(Bytes &json, Rng &r) {
  llvm::Expected<llvm::json::Value> doc = llvm::json::parse(json);
  if (!doc) {
    llvm::consumeError(doc.takeError());
    return false;
  }
  std::vector<NodeRef> nodes;
  collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
  for (int rounds = 1 + int(r.chance(3) ? r.below(4) : 0); rounds > 0; --rounds) {
    NodeRef n = nodes[r.below(nodes.size())];
    switch (r.below(5)) {
    case 0:  // remove the node from its parent
      if (n.parentObj) {
        // Rebuilt rather than Object::erase: copying a json::Object after an erase reads
        // freed memory with Debian's libLLVM 19 (GCC-built caller), found by this fuzzer.
        llvm::json::Object rest;
        for (auto &kv : *n.parentObj)
          if (llvm::StringRef(kv.first) != llvm::StringRef(n.key)) rest[kv.first] = std::move(kv.second);
        *n.parentObj = std::move(rest);
      } else if (n.parentArr && n.index < n.parentArr->size()) {
        llvm::json::Array rest;  // json::Array has no erase
        for (size_t i = 0; i < n.parentArr->size(); ++i)
          if (i != n.index) rest.push_back(std::move((*n.parentArr)[i]));
        *n.parentArr = std::move(rest);
      } else {
        break;
      }
      nodes.clear();  // pointers are stale now
      collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
      break;
    case 1:  // duplicate an array element / append to an array
      if (n.parentArr && n.index < n.parentArr->size()) {
        llvm::json::Value copy = (*n.parentArr)[n.index];
        n.parentArr->insert(n.parentArr->begin() + n.index, std::move(copy));
        nodes.clear();
        collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
      } else if (llvm::json::Array *a = n.v->getAsArray()) {
        a->push_back(randomValue(r, nullptr));
        nodes.clear();
        collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
      }
      break;
    case 2:  // add an unexpected key
      if (llvm::json::Object *o = n.v->getAsObject()) {
        (*o)["fuzz" + std::to_string(r.below(4))] = randomValue(r, nullptr);
        nodes.clear();
        collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
      }
      break;
    default:  // replace the value (scalars mostly: they hold the decoded fields)
      if (n.v->getAsObject() || n.v->getAsArray()) {
        if (!r.chance(8)) break;
      }
      *n.v = randomValue(r, *n.v);
      nodes.clear();
      collect(*doc, nodes, nullptr, nullptr, nullptr, 0);
      break;
    }
  }
  json.clear();
  llvm::raw_string_ostream os(json);
  os << *doc;
  return true;
}

// Mutations of the memory-slice table.
void mutateSlices(Payload &p, Rng &r) {
  std::vector<Slice> &s = p.slices;
  switch (r.below(9)) {
  case 0:  // swap two (unsorted)
    if (s.size() >= 2) std::swap(s[r.below(s.size())], s[r.below(s.size())]);
    break;
  case 1:  // overlap the previous one
    if (s.size() >= 2) {
      size_t i = 1 + r.below(s.size() - 1);
      s[i].address = s[i - 1].address + r.below(s[i - 1].bytes.size() + 1);
    }
    break;
  case 2:  // adjacent to the previous one (allowed)
    if (s.size() >= 2) {
      size_t i = 1 + r.below(s.size() - 1);
      s[i].address = s[i - 1].address + s[i - 1].bytes.size();
    }
    break;
  case 3:  // interesting address (wrap-around at the top)
    if (!s.empty()) {
      Slice &x = s[r.below(s.size())];
      x.address = r.chance(2) ? interesting64(r) : ~uint64_t(0) - x.bytes.size() + 1 + r.below(3);
    }
    break;
  case 4:  // size field lies
    if (!s.empty()) {
      Slice &x = s[r.below(s.size())];
      x.size = r.chance(2) ? interesting64(r) : x.size + r.below(33) - 16;
    }
    break;
  case 5:  // empty slice
    if (!s.empty()) {
      Slice &x = s[r.below(s.size())];
      x.size = 0;
      x.bytes.clear();
    }
    break;
  case 6:  // drop one
    if (!s.empty()) s.erase(s.begin() + r.below(s.size()));
    break;
  case 7: {  // add one
    Slice x{interesting64(r) & ~uint64_t(7), 0, {}};
    x.bytes.assign(1 + r.below(64), char(r.below(256)));
    x.size = x.bytes.size();
    s.insert(s.begin() + r.below(s.size() + 1), std::move(x));
    break;
  }
  default:  // trailing bytes after the slices
    p.trailer.append(1 + r.below(16), '\0');
    break;
  }
}

// The count field of the slice table lies (written after join).
Bytes joinWithCount(const Payload &p, uint64_t count) {
  Bytes out = join(p);
  setU64(out, 8 + p.json.size(), count);
  return out;
}

struct Seed {
  Bytes file;
  Bytes payload;  // empty if the seed is not a well-formed container
  Payload parts;
  bool split = false;
};

Bytes mutate(const Seed &seed, Rng &r, std::vector<Bytes> &pool) {
  const size_t maxSize = std::max<size_t>(seed.file.size() * 2, 4096);
  unsigned kind = unsigned(r.below(seed.payload.empty() ? 2 : 10));
  Bytes f;
  switch (kind) {
  case 0: {  // byte mutations of the file (stacked)
    f = seed.file;
    for (int i = 0, n = 1 + int(r.below(4)); i < n; ++i) mutateBytes(f, r, maxSize);
    return f;
  }
  case 1:  // header fields
    f = seed.file;
    mutateHeader(f, r);
    if (r.chance(4)) mutateBytes(f, r, maxSize);
    return f;
  case 2: {  // raw bytes of the decompressed payload, re-packed
    Bytes p = seed.payload;
    for (int i = 0, n = 1 + int(r.below(4)); i < n; ++i) mutateBytes(p, r, p.size() * 2 + 64);
    return pack(p, 1);
  }
  case 3:
  case 4:
  case 5: {  // the JSON document as a tree, re-packed
    if (!seed.split) break;
    Payload p = seed.parts;
    if (!mutateJson(p.json, r)) break;
    Bytes packed = pack(join(p), 1);
    if (r.chance(8)) pool.push_back(packed);  // keep some for stacking
    return packed;
  }
  case 6: {  // the JSON document as text, re-packed
    if (!seed.split) break;
    Payload p = seed.parts;
    for (int i = 0, n = 1 + int(r.below(3)); i < n; ++i) mutateBytes(p.json, r, p.json.size() * 2 + 64);
    return pack(join(p), 1);
  }
  case 7: {  // the slice table, re-packed
    if (!seed.split) break;
    Payload p = seed.parts;
    for (int i = 0, n = 1 + int(r.below(3)); i < n; ++i) mutateSlices(p, r);
    Bytes packed = pack(r.chance(8) ? joinWithCount(p, r.chance(2) ? interesting64(r) : p.slices.size() + 1)
                                    : join(p),
                        1);
    if (r.chance(8)) pool.push_back(packed);
    return packed;
  }
  case 8: {  // a well-formed zstd frame that lies in the header / is cut
    f = seed.file;
    if (r.chance(2)) {
      f.resize(kHeaderSize + r.below(f.size() - kHeaderSize + 1));
    } else {
      f = pack(seed.payload, 1);
      mutateHeader(f, r);
    }
    return f;
  }
  default: {  // the JSON document's size field lies
    Bytes p = seed.payload;
    if (p.size() >= 8) setU64(p, 0, r.chance(2) ? interesting64(r) : getU64(p, 0) + r.below(17) - 8);
    return pack(p, 1);
  }
  }
  f = seed.file;
  mutateBytes(f, r, maxSize);
  return f;
}

Seed makeSeed(Bytes file) {
  Seed s;
  s.file = std::move(file);
  if (unpack(s.file, s.payload)) s.split = split(s.payload, s.parts);
  return s;
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
  LLVMFuzzerTestOneInput(gCurData, gCurSize);
  gCurData = nullptr;
}

int usage() {
  fprintf(stderr, "usage: snapshot_reader_fuzz [--seconds N] [--seed S] [--artifact PATH] SEED_FILE...\n");
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
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
        gArtifact = v;
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
  if (files.empty()) return usage();
  if (!seedGiven) seed = uint64_t(std::chrono::system_clock::now().time_since_epoch().count());

  // With a sanitizer, its own SIGSEGV report comes first and then calls writeArtifact; abort()
  // (a violated invariant) is ours in any case.
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(writeArtifact);
  else
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, onFatalSignal);
  signal(SIGABRT, onFatalSignal);

  std::vector<Seed> seeds;
  for (const char *path : files) {
    Bytes b;
    if (!readFile(path, b)) {
      fprintf(stderr, "snapshot_reader_fuzz: cannot read %s\n", path);
      return 2;
    }
    seeds.push_back(makeSeed(std::move(b)));
  }

  uint64_t execs = 0;
  size_t wellFormed = 0;
  for (const Seed &s : seeds) {
    run(s.file);
    ++execs;
    wellFormed += s.split;
  }
  fprintf(stderr, "snapshot_reader_fuzz: %zu seed(s), %zu well-formed, seed %llu, %.0f s\n",
          seeds.size(), wellFormed, (unsigned long long)seed, seconds);

  Rng r(seed);
  std::vector<Bytes> pool;  // mutated well-formed containers, mutated again (stacking)
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  uint64_t accepted = 0;
  while (seconds > 0 && elapsed() < seconds) {
    for (int batch = 0; batch < 64; ++batch) {
      Bytes input;
      if (!pool.empty() && r.chance(4)) {
        Seed s = makeSeed(pool[r.below(pool.size())]);
        input = mutate(s, r, pool);
      } else {
        input = mutate(seeds[r.below(seeds.size())], r, pool);
      }
      if (pool.size() > 512) pool.erase(pool.begin(), pool.begin() + 256);
      run(input);
      ++execs;
      // Cheap accept counter: parse again only when it looks well-formed enough to matter.
      if (execs % 97 == 0) {
        auto ok = bt::parseSnapshot(input, "fuzz");
        if (ok) ++accepted;
        else llvm::consumeError(ok.takeError());
      }
    }
  }
  double t = elapsed();
  printf("snapshot_reader_fuzz: %llu executions in %.1f s (%.0f/s), seed %llu; sampled inputs accepted: %llu\n",
         (unsigned long long)execs, t, t > 0 ? double(execs) / t : 0.0, (unsigned long long)seed,
         (unsigned long long)accepted);
  return 0;
}

#endif  // BT_LIBFUZZER
