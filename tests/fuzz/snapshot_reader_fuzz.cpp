// Fuzz target for the snapshot reader (engine/snapshot): bt::parseSnapshot on untrusted bytes
// and, when it accepts them, a bt::SnapshotTarget serving memory reads from the decoded slices
// (and from the files of read-only file-backed regions, when this machine has the same build).
//
// Two ways to run it:
//  - libFuzzer (clang -fsanitize=fuzzer,address -DBT_LIBFUZZER): LLVMFuzzerTestOneInput only.
//  - the shared driver (fuzz_driver.h; any compiler, CI runs it in the ASan+UBSan build):
//      snapshot_reader_fuzz [--seconds N] [--seed S] [--artifact PATH] SEED_FILE...
//    runs every seed unmodified, then mutates them for N seconds. The snapshot payload is one
//    zstd frame, so byte mutations of the file mostly stop at the zstd checksum; besides
//    container mutations (bit flips, byte sets, truncation, insertion/removal, header fields)
//    the driver therefore also mutates the DECOMPRESSED payload (raw bytes, the JSON document
//    as a tree, the memory-slice table) and re-compresses it behind a correct header, so the
//    JSON and slice decoding is exercised. The input being run when the process dies (ASan,
//    UBSan with halt_on_error, a signal) is written to the artifact path; run the driver with
//    --seconds 0 on that file to reproduce.
#include "fuzz_driver.h"
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

using bt::fuzz::invariantFailed;

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
  llvm::json::Array classifications;
  for (const bt::Classification &c : d.classifications)
    classifications.push_back(bt::classificationToJson(c));
  os << llvm::json::Value(std::move(classifications));
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

#include <functional>

namespace {

using Bytes = std::string;

constexpr size_t kHeaderSize = 32;
constexpr char kMagic[8] = {'B', 'T', 'S', 'N', 'A', 'P', '\r', '\n'};

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

using bt::fuzz::interesting64;
using bt::fuzz::mutateBytes;
using bt::fuzz::Rng;

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

// makeSeed decompresses and splits; the seeds and the pool are mutated again and again, so
// keep the last few splits.
const Seed &cachedSeed(const Bytes &file) {
  static std::vector<std::pair<size_t, Seed>> cache;
  size_t h = std::hash<Bytes>()(file);
  for (auto &[k, s] : cache)
    if (k == h && s.file == file) return s;
  if (cache.size() >= 64) cache.erase(cache.begin());
  cache.emplace_back(h, makeSeed(file));
  return cache.back().second;
}

}  // namespace

int main(int argc, char **argv) {
  bt::fuzz::TargetInfo info;
  info.name = "snapshot_reader_fuzz";
  info.mutate = [](const Bytes &seed, Rng &r, std::vector<Bytes> &pool) {
    Seed s = cachedSeed(seed);  // a copy: the cache may move while mutate() grows the pool
    return mutate(s, r, pool);
  };
  info.accepts = [](const Bytes &input) {
    auto ok = bt::parseSnapshot(input, "fuzz");
    if (ok) return true;
    llvm::consumeError(ok.takeError());
    return false;
  };
  return bt::fuzz::runDriver(argc, argv, info);
}

#endif  // BT_LIBFUZZER
