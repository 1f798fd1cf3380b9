// Snapshots (snapshot/snapshot.h, backtrace_codec.h) of the vars_c fixture captured live
// (bench_inputs.cpp): every thread with its frames, variables, stack slices and modules.
//  - the backtraces alone to their JSON text and back (what `bt show` decodes),
//  - the whole snapshot to a file (JSON, zstd level 6, write, fsync, rename) and its bytes back
//    (validated, decompressed, decoded).
// The file goes to /dev/shm when it is writable (no disk in the measurement), else $TMPDIR or
// /tmp; the label says which.
#include "bench_inputs.h"

#include "snapshot/backtrace_codec.h"

#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <unistd.h>

namespace {

using namespace btbench;

size_t frameCount(const std::vector<bt::ThreadBacktrace> &bts) {
  size_t n = 0;
  for (const bt::ThreadBacktrace &t : bts) n += t.frames.size();
  return n;
}

std::string backtraceJson(const std::vector<bt::ThreadBacktrace> &bts) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << bt::encodeBacktraces(bts);
  os.flush();
  return text;
}

void BM_SnapshotEncodeBacktraces(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  if (!require(state, cap.error.empty(), cap.error)) return;
  std::string text = backtraceJson(cap.snap.backtraces);
  if (!require(state, text.find("\"vc_inner\"") != std::string::npos, "vc_inner missing from the JSON")) return;
  for (auto _ : state) {
    std::string s = backtraceJson(cap.snap.backtraces);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
  state.SetItemsProcessed(int64_t(state.iterations() * frameCount(cap.snap.backtraces)));
  state.SetLabel(std::to_string(frameCount(cap.snap.backtraces)) + " frames, " + std::to_string(text.size()) +
                 " B JSON");
}
BENCHMARK(BM_SnapshotEncodeBacktraces);

void BM_SnapshotDecodeBacktraces(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  if (!require(state, cap.error.empty(), cap.error)) return;
  std::string text = backtraceJson(cap.snap.backtraces);
  auto decode = [&text](std::vector<bt::ThreadBacktrace> &out) -> std::string {
    llvm::Expected<llvm::json::Value> v = llvm::json::parse(text);
    if (!v) return llvm::toString(v.takeError());
    if (llvm::Error e = bt::decodeBacktraces(&*v, out)) return llvm::toString(std::move(e));
    return "";
  };
  std::vector<bt::ThreadBacktrace> once;
  std::string err = decode(once);
  if (!require(state, err.empty(), "decoding: " + err)) return;
  if (!require(state, frameCount(once) == frameCount(cap.snap.backtraces) && backtraceJson(once) == text,
               "the decoded backtraces differ from the encoded ones"))
    return;
  for (auto _ : state) {
    std::vector<bt::ThreadBacktrace> out;
    decode(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
  state.SetItemsProcessed(int64_t(state.iterations() * frameCount(cap.snap.backtraces)));
}
BENCHMARK(BM_SnapshotDecodeBacktraces);

std::string scratchDir() {
  std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                     : getenv("TMPDIR")            ? getenv("TMPDIR")
                                                   : "/tmp";
  std::string tmpl = base + "/bt_micro_bench_XXXXXX";
  return mkdtemp(tmpl.data()) ? tmpl : "";
}

// The captured fixture written to a fresh scratch directory, removed again when this goes.
struct ScratchSnapshot {
  std::string dir, path;
  uint64_t size = 0;
  ~ScratchSnapshot() {
    if (!path.empty()) unlink(path.c_str());
    if (!dir.empty()) rmdir(dir.c_str());
  }
};

// Writes it once (false, the benchmark skipped with the reason, when the capture or the write
// failed).
bool writeScratch(benchmark::State &state, const Capture &cap, ScratchSnapshot &out) {
  if (!require(state, cap.error.empty(), cap.error)) return false;
  out.dir = scratchDir();
  if (!require(state, !out.dir.empty(), "cannot create a scratch directory")) return false;
  out.path = out.dir + "/vars_c.btsnap";
  llvm::Expected<uint64_t> size = bt::writeSnapshot(cap.snap, out.path);
  if (!require(state, bool(size), size ? "" : llvm::toString(size.takeError()))) return false;
  out.size = *size;
  return true;
}

void BM_SnapshotWrite(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  ScratchSnapshot scratch;
  if (!writeScratch(state, cap, scratch)) return;
  llvm::Expected<bt::SnapshotData> back = bt::readSnapshot(scratch.path);
  bool same = back && back->backtraces.size() == cap.snap.backtraces.size() &&
              frameCount(back->backtraces) == frameCount(cap.snap.backtraces);
  if (!back) llvm::consumeError(back.takeError());
  if (!require(state, same, "the written snapshot does not read back the same")) return;
  for (auto _ : state) {
    llvm::Expected<uint64_t> n = bt::writeSnapshot(cap.snap, scratch.path);
    if (!n) {
      state.SkipWithError(llvm::toString(n.takeError()).c_str());
      break;
    }
    benchmark::DoNotOptimize(*n);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * scratch.size));
  state.SetLabel(std::to_string(scratch.size) + " B file in " +
                 scratch.dir.substr(0, scratch.dir.rfind('/')));
}
BENCHMARK(BM_SnapshotWrite)->Unit(benchmark::kMicrosecond);

// Reading back the bytes of a written snapshot (no file I/O): header and size checks, zstd,
// JSON parse and the validating decode of every field. Bytes are the file's.
void BM_SnapshotRead(benchmark::State &state) {
  const Capture &cap = capturedFixture();
  std::string bytes;
  {
    ScratchSnapshot scratch;
    if (!writeScratch(state, cap, scratch)) return;
    auto buf = llvm::MemoryBuffer::getFile(scratch.path);
    if (buf) bytes = (*buf)->getBuffer().str();
  }
  if (!require(state, !bytes.empty(), "cannot read the written snapshot")) return;
  llvm::Expected<bt::SnapshotData> once = bt::parseSnapshot(bytes, "bench");
  if (!once) {
    require(state, false, llvm::toString(once.takeError()));
    return;
  }
  if (!require(state, frameCount(once->backtraces) == frameCount(cap.snap.backtraces) &&
                          once->memory.size() == cap.snap.memory.size(),
               "the snapshot read back differs from the captured one"))
    return;
  for (auto _ : state) {
    llvm::Expected<bt::SnapshotData> s = bt::parseSnapshot(bytes, "bench");
    if (!s) {
      state.SkipWithError(llvm::toString(s.takeError()).c_str());
      break;
    }
    benchmark::DoNotOptimize(s->threads.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes.size()));
  state.SetLabel(std::to_string(bytes.size()) + " B file");
}
BENCHMARK(BM_SnapshotRead)->Unit(benchmark::kMicrosecond);

}  // namespace
