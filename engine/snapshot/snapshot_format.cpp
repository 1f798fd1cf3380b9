// The snapshot file (docs/snapshot-format.md):
//   header (32 bytes): "BTSNAP\r\n", u32 format version, u32 flags (0),
//                      u64 compressed payload size, u64 payload size (little-endian)
//   payload: one zstd frame (with content checksum) holding
//            u64 JSON size, the JSON document (schema btengine.snapshot/1),
//            u64 slice count, then per memory slice: u64 address, u64 size, the bytes.
#include "snapshot/snapshot.h"

#include "snapshot/backtrace_codec.h"
#include "snapshot/document_scan.h"
#include "snapshot/json_fields.h"
#include "support/error.h"
#include "support/temp_file.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>

#include <sys/stat.h>
#include <llvm/Support/raw_ostream.h>

#include <zstd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <fcntl.h>
#include <unistd.h>

namespace bt {

using llvm::json::Array;
using llvm::json::Object;
using JValue = llvm::json::Value;  // bt::Value is the engine's value

namespace {

constexpr char kMagic[8] = {'B', 'T', 'S', 'N', 'A', 'P', '\r', '\n'};
constexpr size_t kHeaderSize = 32;
// Bounds for reading untrusted files: the payload, one slice, the JSON document.
constexpr uint64_t kMaxPayload = uint64_t(4) << 30;
constexpr uint64_t kMaxJson = uint64_t(1) << 30;
constexpr uint64_t kMaxSlices = 1u << 20;

void putU32(std::string &out, uint32_t v) { out.append(reinterpret_cast<const char *>(&v), 4); }
void putU64(std::string &out, uint64_t v) { out.append(reinterpret_cast<const char *>(&v), 8); }


JValue encodeRegisters(const Registers &r) {
  const uint64_t *v = userRegWords(r);
  Object o;
  for (int i = 0; i < kNumUserRegs; ++i) o[kUserRegNames[i]] = hexU64(v[i]);
  return o;
}

bool unhexBytes(llvm::StringRef s, uint8_t *out, size_t n) {
  if (s.size() != n * 2) return false;
  for (size_t i = 0; i < n; ++i) {
    unsigned v;
    if (s.substr(2 * i, 2).getAsInteger(16, v)) return false;
    out[i] = uint8_t(v);
  }
  return true;
}

// Everything but the backtraces (which writeDocument streams: with variables of a thousand
// threads they are most of the document).
JValue encodeDocument(const SnapshotData &s) {
  const ProcessFacts &p = s.process;
  Array cmd, env;
  for (const std::string &a : p.commandLine) cmd.push_back(jsonText(a));
  for (const std::string &e : p.environment) env.push_back(jsonText(e));
  Object process{{"pid", p.pid},
                 {"executable", jsonTextOrNull(p.executable)},
                 {"command_line", std::move(cmd)},
                 {"environment", std::move(env)},
                 {"uid", p.uid ? JValue(*p.uid) : JValue(nullptr)},
                 {"start_time", p.startTime ? JValue(int64_t(*p.startTime)) : JValue(nullptr)}};
  const CaptureInfo &c = s.capture;
  Object capture{{"source", c.source},
                 {"time", int64_t(c.time)},
                 {"stopped_ms", c.stoppedMs >= 0 ? JValue(c.stoppedMs) : JValue(nullptr)},
                 {"host", jsonText(c.host)},
                 {"kernel", jsonText(c.kernel)},
                 {"arch", c.arch},
                 {"bt_version", c.btVersion},
                 {"variables", c.variables},
                 {"threads", c.threads},
                 {"environment_redacted", c.environmentRedacted}};
  Array threads;
  for (const ThreadInfo &t : s.threads)
    threads.push_back(Object{
        {"tid", t.tid},
        {"name", jsonTextOrNull(t.name)},
        {"registers", encodeRegisters(t.regs)},
        {"fpregs", t.fpregs ? JValue(llvm::toHex(t.fpregs->bytes, /*LowerCase=*/true)) : JValue(nullptr)},
        {"signal", encodeSignal(t.signal)}});
  Array regions;
  for (const MemoryRegion &r : s.regions) {
    std::string perms = std::string(r.perms & PermRead ? "r" : "-") + (r.perms & PermWrite ? "w" : "-") +
                        (r.perms & PermExec ? "x" : "-") + (r.perms & PermShared ? "s" : "p");
    regions.push_back(Object{{"start", hexU64(r.start)},
                             {"end", hexU64(r.end)},
                             {"perms", perms},
                             {"offset", hexU64(r.fileOffset)},
                             {"path", jsonTextOrNull(r.path)}});
  }
  Array modules;
  for (const ModuleInfo &m : s.modules)
    modules.push_back(Object{{"path", jsonText(m.path)},
                             {"start", hexU64(m.start)},
                             {"end", hexU64(m.end)},
                             {"load_bias", hexU64(m.loadBias)},
                             {"build_id", jsonTextOrNull(m.buildId)},
                             {"main_executable", m.isMainExecutable},
                             {"link_map", m.linkMap ? JValue(hexU64(m.linkMap)) : JValue(nullptr)},
                             {"dynamic", m.dynamic ? JValue(hexU64(m.dynamic)) : JValue(nullptr)},
                             {"link_map_name", jsonTextOrNull(m.linkMapName)},
                             {"link_map_order", m.linkMapOrder}});
  auto hexPairs = [](const std::vector<std::pair<uint64_t, uint64_t>> &pairs) {
    Array out;
    for (auto [a, b] : pairs) out.push_back(Array{hexU64(a), hexU64(b)});
    return out;
  };
  Object attributes;
  Array attributeOrder;
  for (const auto &[k, v] : s.attributes) {
    attributes[jsonText(k)] = jsonText(v);
    attributeOrder.push_back(jsonText(k));
  }
  Array fpFrames;
  for (const std::string &f : s.fingerprintFrames) fpFrames.push_back(jsonText(f));
  Array classifications;
  for (const Classification &c : s.classifications) classifications.push_back(classificationToJson(c));
  return Object{{"schema", "btengine.snapshot/1"},
                {"process", std::move(process)},
                {"capture", std::move(capture)},
                {"signal", encodeSignal(s.signal)},
                {"crashed_tid", s.crashedTid ? JValue(*s.crashedTid) : JValue(nullptr)},
                {"xcr0", s.xcr0 ? JValue(hexU64(*s.xcr0)) : JValue(nullptr)},
                {"threads", std::move(threads)},
                {"regions", std::move(regions)},
                {"modules", std::move(modules)},
                {"auxv", hexPairs(s.auxv)},
                {"memory_read_after_release", hexPairs(s.memoryReadAfterRelease)},
                {"backtraces", nullptr},  // writeDocument writes them here
                {"globals", encodeVariables(s.globals)},
                {"attributes", std::move(attributes)},
                {"attribute_order", std::move(attributeOrder)},
                {"classifications", std::move(classifications)},
                {"fingerprint", s.fingerprint},
                {"fingerprint_frames", std::move(fpFrames)},
                {"plugins", s.plugins ? pluginReportToJson(*s.plugins) : JValue(nullptr)}};
}

// The document, its keys in order, the backtraces a thread at a time: the whole document as
// one llvm::json::Value took several times its text in memory.
void writeDocument(const SnapshotData &s, llvm::raw_ostream &os) {
  JValue doc = encodeDocument(s);
  Object &fields = *doc.getAsObject();
  std::vector<std::string> keys;
  for (const auto &kv : fields) keys.push_back(kv.first.str());
  std::sort(keys.begin(), keys.end());
  llvm::json::OStream j(os);
  j.object([&] {
    for (const std::string &k : keys) {
      if (k == "backtraces") {
        j.attributeArray(k, [&] {
          for (const ThreadBacktrace &t : s.backtraces) j.value(encodeBacktrace(t));
        });
        continue;
      }
      j.attribute(k, std::move(*fields.get(k)));
    }
  });
}

llvm::Error bad(const std::string &name, const std::string &what) {
  return makeError(ErrorKind::BadInput, "{0}: corrupt snapshot: {1}", name, what);
}

// Decodes the JSON document; the first invalid field is reported.
// `threads`, when given, are the texts of the backtraces array's elements, the document having
// that array empty (scanDocument).
llvm::Error decodeDocument(const JValue &doc, SnapshotData &s, const std::string &name,
                           const std::vector<llvm::StringRef> *threads = nullptr) {
  std::string err;
  JsonFields top(&doc, "", &err);
  std::string schema = top.str("schema");
  if (err.empty() && schema != "btengine.snapshot/1")
    return bad(name, "unknown schema '" + schema + "'");

  JsonFields p(top.value("process"), "process", &err);
  s.process.pid = int(p.integer("pid", 0, INT32_MAX));
  s.process.executable = p.str("executable", true);
  if (const Array *a = p.array("command_line"))
    for (const JValue &v : *a)
      if (auto str = v.getAsString()) s.process.commandLine.push_back(str->str());
  if (const Array *a = p.array("environment"))
    for (const JValue &v : *a)
      if (auto str = v.getAsString()) s.process.environment.push_back(str->str());
  if (auto uid = p.optInteger("uid", 0, UINT32_MAX)) s.process.uid = int(*uid);
  if (auto st = p.optInteger("start_time", 0, INT64_MAX)) s.process.startTime = uint64_t(*st);

  JsonFields c(top.value("capture"), "capture", &err);
  s.capture.source = c.str("source");
  s.capture.time = uint64_t(c.integer("time", 0, INT64_MAX));
  if (const JValue *v = c.value("stopped_ms"); v && v->kind() != JValue::Null) s.capture.stoppedMs = c.number("stopped_ms");
  s.capture.host = c.str("host");
  s.capture.kernel = c.str("kernel");
  s.capture.arch = c.str("arch");
  s.capture.btVersion = c.str("bt_version");
  s.capture.variables = c.boolean("variables");
  s.capture.threads = c.str("threads");
  s.capture.environmentRedacted = c.boolean("environment_redacted");
  if (err.empty() && s.capture.arch != "x86_64")
    return bad(name, "architecture '" + s.capture.arch + "' is not supported");
  if (!err.empty()) return bad(name, err);

  if (llvm::Error e = decodeSignal(top.value("signal"), s.signal)) return bad(name, llvm::toString(std::move(e)));
  if (auto t = top.optInteger("crashed_tid", 0, INT32_MAX)) s.crashedTid = int(*t);
  s.xcr0 = top.optHex("xcr0");

  if (const Array *threads = top.array("threads"))
    for (size_t i = 0; i < threads->size() && err.empty(); ++i) {
      std::string path = "threads[" + std::to_string(i) + "]";
      JsonFields t(&(*threads)[i], path, &err);
      ThreadInfo ti;
      ti.tid = int(t.integer("tid", 0, INT32_MAX));
      ti.name = t.str("name", true);
      JsonFields r(t.value("registers"), path + ".registers", &err);
      uint64_t *regs = userRegWords(ti.regs);
      for (int k = 0; k < kNumUserRegs && err.empty(); ++k) regs[k] = r.hex(kUserRegNames[k]);
      std::string fp = t.str("fpregs", true);
      if (err.empty() && !fp.empty()) {
        FpRegisters f;
        if (!unhexBytes(fp, f.bytes, sizeof f.bytes)) t.fail("fpregs", "1024 hexadecimal digits");
        else ti.fpregs = f;
      }
      if (err.empty())
        if (llvm::Error e = decodeSignal(t.value("signal"), ti.signal))
          return bad(name, path + "." + llvm::toString(std::move(e)));
      s.threads.push_back(std::move(ti));
    }

  if (const Array *regions = top.array("regions"))
    for (size_t i = 0; i < regions->size() && err.empty(); ++i) {
      JsonFields r(&(*regions)[i], "regions[" + std::to_string(i) + "]", &err);
      MemoryRegion mr;
      mr.start = r.hex("start");
      mr.end = r.hex("end");
      std::string perms = r.str("perms");
      mr.fileOffset = r.hex("offset");
      mr.path = r.str("path", true);
      if (err.empty() && perms.size() != 4) r.fail("perms", "4 permission letters (\"r-xp\")");
      if (err.empty() && mr.end < mr.start) r.fail("end", "an end not below the start");
      if (perms.size() == 4)
        mr.perms = (perms[0] == 'r' ? PermRead : 0) | (perms[1] == 'w' ? PermWrite : 0) |
                   (perms[2] == 'x' ? PermExec : 0) | (perms[3] == 's' ? PermShared : 0);
      s.regions.push_back(std::move(mr));
    }

  if (const Array *modules = top.array("modules"))
    for (size_t i = 0; i < modules->size() && err.empty(); ++i) {
      JsonFields m(&(*modules)[i], "modules[" + std::to_string(i) + "]", &err);
      ModuleInfo mi;
      mi.path = m.str("path");
      mi.start = m.hex("start");
      mi.end = m.hex("end");
      mi.loadBias = m.hex("load_bias");
      mi.buildId = m.str("build_id", true);
      mi.isMainExecutable = m.boolean("main_executable");
      mi.linkMap = m.optHex("link_map").value_or(0);
      mi.dynamic = m.optHex("dynamic").value_or(0);
      mi.linkMapName = m.str("link_map_name", true);
      mi.linkMapOrder = int(m.optInteger("link_map_order", -1, 1 << 20).value_or(-1));
      s.modules.push_back(std::move(mi));
    }

  auto hexPairs = [&](const char *key, bool optional, std::vector<std::pair<uint64_t, uint64_t>> &out) {
    const Array *list = top.array(key, optional);
    for (size_t i = 0; list && i < list->size() && err.empty(); ++i) {
      const Array *pair = (*list)[i].getAsArray();
      uint64_t k = 0, v = 0;
      if (!pair || pair->size() != 2 || !(*pair)[0].getAsString() || !(*pair)[1].getAsString() ||
          !parseHexU64(*(*pair)[0].getAsString(), k) || !parseHexU64(*(*pair)[1].getAsString(), v))
        top.fail(std::string(key) + "[" + std::to_string(i) + "]", "a [\"0x..\", \"0x..\"] pair");
      out.emplace_back(k, v);
    }
  };
  hexPairs("auxv", false, s.auxv);
  hexPairs("memory_read_after_release", true, s.memoryReadAfterRelease);  // absent before it existed
  if (!err.empty()) return bad(name, err);

  if (threads) {
    for (size_t i = 0; i < threads->size(); ++i) {
      llvm::Expected<JValue> t = llvm::json::parse((*threads)[i]);  // freed after each thread
      if (!t) return bad(name, "document is not JSON: " + llvm::toString(t.takeError()));
      if (llvm::Error e = decodeBacktrace(*t, i, s.backtraces)) return bad(name, llvm::toString(std::move(e)));
    }
  } else if (llvm::Error e = decodeBacktraces(top.value("backtraces"), s.backtraces)) {
    return bad(name, llvm::toString(std::move(e)));
  }
  if (llvm::Error e = decodeVariables(top.value("globals"), s.globals))
    return bad(name, llvm::toString(std::move(e)));

  const JValue *attrs = top.value("attributes");
  const Object *attrObj = attrs ? attrs->getAsObject() : nullptr;
  if (!attrObj) return bad(name, "attributes: expected an object");
  if (const Array *order = top.array("attribute_order")) {
    std::set<std::string> seen;
    for (const JValue &k : *order) {
      auto key = k.getAsString();
      auto val = key ? attrObj->getString(*key) : std::nullopt;
      if (!val) return bad(name, "attribute_order: names an attribute that is not there");
      if (!seen.insert(key->str()).second) return bad(name, "attribute_order: names an attribute twice");
      s.attributes.emplace_back(key->str(), val->str());
    }
  }
  if (const Array *cls = top.array("classifications"))
    for (const JValue &v : *cls)
      if (std::optional<Classification> c = classificationFromJson(v)) s.classifications.push_back(*c);
  s.fingerprint = top.str("fingerprint");
  if (const Array *ff = top.array("fingerprint_frames"))
    for (const JValue &v : *ff)
      if (auto str = v.getAsString()) s.fingerprintFrames.push_back(str->str());
  if (!err.empty()) return bad(name, err);
  if (const JValue *p = top.value("plugins"); p && p->kind() != JValue::Null) {
    llvm::Expected<PluginReport> report = pluginReportFromJson(*p);
    if (!report) return bad(name, llvm::toString(report.takeError()));
    s.plugins = std::move(*report);
  }

  // One answer for every front (bt show, btserve, Python): facts that contradict each other are
  // refused here, not interpreted differently by each reader.
  std::set<int> tids;
  for (const ThreadInfo &t : s.threads)
    if (!tids.insert(t.tid).second)
      return bad(name, "threads: thread " + std::to_string(t.tid) + " is listed twice");
  std::set<int> traced;
  for (const ThreadBacktrace &b : s.backtraces)
    if (!traced.insert(b.tid).second)
      return bad(name, "backtraces: thread " + std::to_string(b.tid) + " has two backtraces");
  if (s.crashedTid && !tids.empty() && !tids.count(*s.crashedTid))
    return bad(name, "crashed_tid " + std::to_string(*s.crashedTid) + " names no thread");
  if (s.backtraces.empty() && !s.threads.empty())
    return bad(name, "backtraces: none for " + std::to_string(s.threads.size()) + " thread(s)");
  // Invariants the reader (SnapshotTarget) relies on.
  for (size_t i = 1; i < s.regions.size(); ++i)
    if (s.regions[i].start < s.regions[i - 1].start) return bad(name, "regions are not sorted");
  for (size_t i = 1; i < s.modules.size(); ++i)
    if (s.modules[i].start < s.modules[i - 1].start) return bad(name, "modules are not sorted");
  return llvm::Error::success();
}

}  // namespace

llvm::Expected<uint64_t> writeSnapshot(const SnapshotData &snap, const std::string &path,
                                       bool replace) {
  // The payload (the document's length and text, then the memory slices) is made in place, and
  // compressed as a stream: no second copy of it, no buffer of its compressed bound.
  std::string payload(8, '\0');
  {
    llvm::raw_string_ostream os(payload);
    os.SetBufferSize(1 << 16);  // unbuffered, the JSON writer appended to the string a character at a time
    writeDocument(snap, os);
    os.flush();  // a raw_string_ostream's destructor leaves a buffer unwritten
  }
  uint64_t jsonSize = payload.size() - 8;
  memcpy(payload.data(), &jsonSize, 8);
  uint64_t memBytes = 0;
  for (const MemorySlice &m : snap.memory) memBytes += 16 + m.bytes.size();
  payload.reserve(payload.size() + 8 + memBytes);
  putU64(payload, snap.memory.size());
  for (const MemorySlice &m : snap.memory) {
    putU64(payload, m.address);
    putU64(payload, m.bytes.size());
    payload += m.bytes;
  }

  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 6);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setPledgedSrcSize(cctx, payload.size());
  std::string out(kHeaderSize, '\0');
  ZSTD_inBuffer in{payload.data(), payload.size(), 0};
  size_t left = 1;
  while (left != 0) {
    size_t at = out.size();
    out.resize(at + std::max<size_t>(ZSTD_CStreamOutSize(), payload.size() / 16));
    ZSTD_outBuffer o{out.data() + at, out.size() - at, 0};
    left = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
    out.resize(at + o.pos);
    if (ZSTD_isError(left)) break;
  }
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(left))
    return makeError(ErrorKind::Generic, "compressing the snapshot: {0}", ZSTD_getErrorName(left));
  size_t n = out.size() - kHeaderSize;
  std::string header(kMagic, 8);
  putU32(header, kSnapshotFormatVersion);
  putU32(header, 0);
  putU64(header, n);
  putU64(header, payload.size());
  memcpy(out.data(), header.data(), kHeaderSize);

  // Atomic: a reader never sees a half-written snapshot, a crash leaves no partial file.
  llvm::Expected<TempFile> file = createTempFileNextTo(path, 0600);
  if (!file) return file.takeError();
  int fd = file->fd;
  const std::string &tmp = file->path;
  size_t done = 0;
  while (done < out.size()) {
    ssize_t w = ::write(fd, out.data() + done, out.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return makeError(ErrorKind::Generic, "writing {0}: {1}", tmp, strerror(e));
    }
    done += size_t(w);
  }
  // Without replace, link() (unlike rename) fails when the name is taken: two captures that
  // picked the same name at the same moment never overwrite each other.
  if (::fsync(fd) != 0 || ::close(fd) != 0 ||
      (replace ? ::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str())) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return makeError(ErrorKind::Generic, "writing {0}: {1}", path, strerror(e));
  }
  if (!replace) ::unlink(tmp.c_str());
  return uint64_t(out.size());
}

namespace {

// The document decoded, its threads one at a time when it splits (scanDocument). Anything that
// fails on that path is decoded again from the whole text, so a bad document gets the same
// message either way (the JSON parser's, with the line and column in the whole text).
llvm::Expected<SnapshotData> decodeJson(llvm::StringRef text, std::optional<SplitDocument> split,
                                        const std::string &name) {
  if (split) {
    llvm::Expected<JValue> top = llvm::json::parse(split->top);
    if (top) {
      SnapshotData snap;
      llvm::Error e = decodeDocument(*top, snap, name, &split->threads);
      if (!e) return std::move(snap);
      llvm::consumeError(std::move(e));
    } else {
      llvm::consumeError(top.takeError());
    }
  }
  llvm::Expected<JValue> doc = llvm::json::parse(text);
  if (!doc) return bad(name, "document is not JSON: " + llvm::toString(doc.takeError()));
  SnapshotData snap;
  if (llvm::Error e = decodeDocument(*doc, snap, name)) return std::move(e);
  return std::move(snap);
}

}  // namespace

llvm::Expected<SnapshotData> parseSnapshot(llvm::StringRef bytes, const std::string &name) {
  if (bytes.size() < kHeaderSize || memcmp(bytes.data(), kMagic, 8) != 0) {
    if (bytes.size() >= 6 && memcmp(bytes.data(), kMagic, 6) == 0)
      return makeError(ErrorKind::Truncated, "{0}: truncated snapshot (no complete header)", name);
    return makeError(ErrorKind::BadInput, "{0}: not a btengine snapshot", name);
  }
  uint32_t version, flags;
  uint64_t csize, usize;
  memcpy(&version, bytes.data() + 8, 4);
  memcpy(&flags, bytes.data() + 12, 4);
  memcpy(&csize, bytes.data() + 16, 8);
  memcpy(&usize, bytes.data() + 24, 8);
  if (version != kSnapshotFormatVersion)
    return makeError(ErrorKind::BadInput,
                     "{0}: snapshot format version {1} is not supported (this bt reads version {2})",
                     name, version, kSnapshotFormatVersion);
  if (flags != 0) return bad(name, "unknown header flags");
  if (csize > bytes.size() - kHeaderSize)
    return makeError(ErrorKind::Truncated, "{0}: truncated snapshot ({1} of {2} payload bytes)",
                     name, bytes.size() - kHeaderSize, csize);
  if (csize < bytes.size() - kHeaderSize) return bad(name, "trailing bytes after the payload");
  if (usize > kMaxPayload) return bad(name, "payload size out of bounds");
  unsigned long long frame = ZSTD_getFrameContentSize(bytes.data() + kHeaderSize, csize);
  if (frame == ZSTD_CONTENTSIZE_ERROR || frame == ZSTD_CONTENTSIZE_UNKNOWN || frame != usize)
    return bad(name, "payload is not the zstd frame the header describes");
  // Streamed into a buffer that grows with the output, so a header that claims gigabytes
  // costs memory only if the data really decompresses to that much.
  std::string payload;
  {
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx *)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    ZSTD_inBuffer in{bytes.data() + kHeaderSize, csize, 0};
    payload.resize(std::min<uint64_t>(usize, 1 << 20));
    size_t pos = 0, ret = 1;
    while (ret != 0) {
      if (pos == payload.size()) {
        if (payload.size() >= usize) break;
        payload.resize(std::min<uint64_t>(usize, payload.size() * 2));
      }
      ZSTD_outBuffer out{payload.data(), payload.size(), pos};
      ret = ZSTD_decompressStream(dctx.get(), &out, &in);
      pos = out.pos;
      if (ZSTD_isError(ret))
        return bad(name, std::string("payload does not decompress (") + ZSTD_getErrorName(ret) + ")");
      if (ret != 0 && in.pos == in.size && out.pos < out.size) break;  // input ended early
    }
    if (ret != 0 || pos != usize) return bad(name, "payload does not decompress (size mismatch)");
    if (in.pos != in.size) return bad(name, "trailing data after the payload's zstd frame");
    payload.resize(pos);
  }

  size_t pos = 0;
  auto u64 = [&](uint64_t &v) {
    if (payload.size() - pos < 8) return false;
    memcpy(&v, payload.data() + pos, 8);
    pos += 8;
    return true;
  };
  uint64_t jsonSize;
  if (!u64(jsonSize) || jsonSize > kMaxJson || jsonSize > payload.size() - pos)
    return bad(name, "document size out of bounds");
  // LLVM's JSON parser recurses per nesting level: refuse deep documents before it sees them.
  llvm::StringRef text(payload.data() + pos, jsonSize);
  DocumentScan scan = scanDocument(text);
  if (scan.maxDepth > 256) return bad(name, "document nested deeper than 256 levels");
  llvm::Expected<SnapshotData> decoded = decodeJson(text, std::move(scan.split), name);
  if (!decoded) return decoded.takeError();
  pos += jsonSize;
  SnapshotData snap = std::move(*decoded);

  uint64_t count;
  if (!u64(count) || count > kMaxSlices) return bad(name, "memory slice count out of bounds");
  snap.memory.reserve(std::min<uint64_t>(count, (payload.size() - pos) / 17 + 1));
  for (uint64_t i = 0; i < count; ++i) {
    MemorySlice m;
    uint64_t size;
    if (!u64(m.address) || !u64(size) || size > payload.size() - pos || size == 0 ||
        m.address + size < m.address)
      return bad(name, "memory slice " + std::to_string(i) + " out of bounds");
    if (!snap.memory.empty() && m.address < snap.memory.back().end())
      return bad(name, "memory slices overlap or are not sorted");
    m.bytes.assign(payload.data() + pos, size);
    pos += size;
    snap.memory.push_back(std::move(m));
  }
  if (pos != payload.size()) return bad(name, "trailing bytes in the payload");
  return std::move(snap);
}

llvm::Expected<SnapshotData> readSnapshot(const std::string &path) {
  // Checked before opening: open() blocks on a FIFO until a writer comes.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return makeError(ErrorKind::BadInput, "{0}: not a regular file", path);
  auto mb = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!mb) {
    std::error_code ec = mb.getError();
    if (ec == std::errc::no_such_file_or_directory)
      return makeError(ErrorKind::MissingFile, "{0}: no such file", path);
    if (ec == std::errc::permission_denied)
      return makeError(ErrorKind::PermissionDenied, "{0}: permission denied", path);
    return makeError(ErrorKind::BadInput, "{0}: {1}", path, ec.message());
  }
  return parseSnapshot((*mb)->getBuffer(), path);
}

}  // namespace bt
