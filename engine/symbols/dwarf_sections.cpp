#include "symbols/dwarf_sections.h"

#include "support/error.h"
#include "symbols/elf_file.h"

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

namespace bt {

using namespace llvm;

std::string defaultDebugCacheDir() {
  if (const char *off = getenv("BTENGINE_NO_CACHE"); off && *off) return {};
  std::string base;
  if (const char *x = getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char *h = getenv("HOME"); h && *h)
    base = std::string(h) + "/.cache";
  else
    return {};
  return base + "/btengine/debug";
}

namespace {

constexpr uint32_t kCompressZlib = 1, kCompressZstd = 2;  // ELFCOMPRESS_*
constexpr uint64_t kMaxSection = uint64_t(8) << 30;       // what a hostile header may claim
constexpr uint64_t kWriteChunk = uint64_t(1) << 20;       // inflated, then written, at a time
// ... in pwrites of this size: the page cache makes its folios as large as the writes (ext4,
// kernel 6.x), and a fault on a mapped file maps the whole folio. Written in 1 MiB pieces, the
// symbolizer's reads of unit headers scattered over .debug_info made 300 MB resident on a 500 MB
// section; in 16 KiB pieces, 100 MB.
constexpr size_t kWritePiece = size_t(16) << 10;

// One SHF_COMPRESSED section (an Elf64_Chdr, then a zlib or zstd stream) inflated a window at a
// time, so the output can go straight into a cache file mapped piecewise: peak memory one window,
// no copy. zlib streams are inflated by ISA-L (twice zlib's speed on DWARF, measured).
class SectionInflater {
public:
  static Expected<std::unique_ptr<SectionInflater>> create(StringRef name, StringRef raw) {
    if (raw.size() < 24)
      return makeError(ErrorKind::BadInput, "cannot decompress section {0}: truncated header", name);
    uint32_t type;
    uint64_t size;
    memcpy(&type, raw.data(), 4);
    memcpy(&size, raw.data() + 8, 8);
    if (type != kCompressZlib && type != kCompressZstd)
      return makeError(ErrorKind::BadInput, "cannot decompress section {0}: unknown compression type {1}",
                       name, type);
    if (size > kMaxSection)
      return makeError(ErrorKind::BadInput, "section {0} claims an absurd size ({1} bytes)", name, size);
    std::unique_ptr<SectionInflater> in(new SectionInflater(name, raw.drop_front(24), type, size));
    if (type == kCompressZlib) {
      in->isal_ = std::make_unique<inflate_state>();
      isal_inflate_init(in->isal_.get());
      in->isal_->crc_flag = ISAL_ZLIB;  // the zlib header, and the Adler-32 checked at the end
      in->isal_->next_in = (uint8_t *)in->input_.data();
      in->isal_->avail_in = uint32_t(std::min<uint64_t>(in->input_.size(), UINT32_MAX));
    } else {
      in->zstd_ = ZSTD_createDStream();
      if (!in->zstd_) return makeError(ErrorKind::Generic, "out of memory inflating {0}", name);
      in->zin_ = {in->input_.data(), in->input_.size(), 0};
    }
    return std::move(in);
  }
  ~SectionInflater() {
    if (zstd_) ZSTD_freeDStream(zstd_);
  }

  uint64_t size() const { return size_; }

  // Fills `out` entirely with the next bytes of the section.
  Error fill(uint8_t *out, size_t len) {
    size_t done = 0;
    while (done < len) {
      size_t got = 0;
      if (Error e = step(out + done, len - done, got)) return e;
      if (got == 0) return bad("the data ends before the size its header gives");
      done += got;
    }
    produced_ += len;
    return Error::success();
  }

  // Drops the pages of input already inflated from this process's memory: the compressed section
  // is read once, front to back, from the file's mapping, and without this every page of it stayed
  // in the resident set (half of a first capture's peak RSS on a 500 MB server). Only for a
  // read-only file mapping, whose pages come back from the file if they are touched again.
  void releaseConsumedInput() {
    uint64_t used = type_ == kCompressZlib ? uint64_t((const char *)isal_->next_in - input_.data()) : zin_.pos;
    constexpr uint64_t kPage = 4096, kEvery = 4u << 20;
    if (used < released_ + kEvery) return;
    uintptr_t from = (reinterpret_cast<uintptr_t>(input_.data()) + released_ + kPage - 1) & ~(kPage - 1);
    uintptr_t to = (reinterpret_cast<uintptr_t>(input_.data()) + used) & ~(kPage - 1);
    if (to > from) madvise(reinterpret_cast<void *>(from), to - from, MADV_DONTNEED);
    released_ = used;
  }

  // After size() bytes: the stream must end here, its checksum right.
  Error finish() {
    uint8_t extra;
    for (int i = 0; i < 64; ++i) {
      if (ended()) return Error::success();
      size_t got = 0;
      if (Error e = step(&extra, 1, got)) return e;
      if (got) return bad("the data is longer than the size its header gives");
    }
    return ended() ? Error::success() : bad("the stream does not end");
  }

private:
  SectionInflater(StringRef name, StringRef input, uint32_t type, uint64_t size)
      : name_(name.str()), input_(input), type_(type), size_(size) {}

  bool ended() const {
    return type_ == kCompressZlib ? isal_->block_state == ISAL_BLOCK_FINISH : zstdEnded_;
  }

  Error bad(const std::string &why) const {
    return makeError(ErrorKind::BadInput, "cannot decompress section {0}: {1}", name_, why);
  }

  // Inflates up to `len` bytes into `out`; `got` says how many (0 only if no progress is possible).
  Error step(uint8_t *out, size_t len, size_t &got) {
    if (type_ == kCompressZlib) {
      inflate_state &s = *isal_;
      if (s.block_state == ISAL_BLOCK_FINISH) return Error::success();
      if (s.avail_in == 0) {  // ISA-L takes 32-bit input counts: feed the rest
        uint64_t used = (const char *)s.next_in - input_.data();
        s.avail_in = uint32_t(std::min<uint64_t>(input_.size() - used, UINT32_MAX));
      }
      s.next_out = out;
      s.avail_out = uint32_t(std::min<size_t>(len, UINT32_MAX));
      int r = isal_inflate(&s);
      got = std::min<size_t>(len, UINT32_MAX) - s.avail_out;
      if (r == ISAL_INCORRECT_CHECKSUM) return bad("its checksum is wrong");
      if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT) return bad("corrupt zlib data (" + std::to_string(r) + ")");
      return Error::success();
    }
    if (zstdEnded_) return Error::success();
    ZSTD_outBuffer o{out, len, 0};
    size_t r = ZSTD_decompressStream(zstd_, &o, &zin_);
    got = o.pos;
    if (ZSTD_isError(r)) return bad(std::string("corrupt zstd data (") + ZSTD_getErrorName(r) + ")");
    if (r == 0 && zin_.pos == zin_.size) zstdEnded_ = true;
    return Error::success();
  }

  std::string name_;
  StringRef input_;
  uint32_t type_;
  uint64_t size_, produced_ = 0, released_ = 0;
  std::unique_ptr<inflate_state> isal_;
  ZSTD_DStream *zstd_ = nullptr;
  ZSTD_inBuffer zin_{};
  bool zstdEnded_ = false;
};

Expected<std::unique_ptr<MemoryBuffer>> inflateToMemory(SectionInflater &in, StringRef name) {
  auto out = WritableMemoryBuffer::getNewUninitMemBuffer(in.size(), name);
  if (!out) return makeError(ErrorKind::Generic, "out of memory inflating {0}", name);
  if (Error e = in.fill(reinterpret_cast<uint8_t *>(out->getBufferStart()), out->getBufferSize()))
    return std::move(e);
  if (Error e = in.finish()) return std::move(e);
  return std::unique_ptr<MemoryBuffer>(std::move(out));
}

// A cached section is used only if its size is the one the ELF compression header promises
// (guards against a file cut short by a full disk or a killed writer).
std::unique_ptr<MemoryBuffer> mapCached(const std::string &path, uint64_t expectedSize) {
  auto mb = MemoryBuffer::getFile(path, false, false);
  if (!mb || (*mb)->getBufferSize() != expectedSize) return nullptr;
  return std::move(*mb);
}

uint64_t compressedSectionSize(StringRef raw) {
  // Elf64_Chdr: ch_type (4), ch_reserved (4), ch_size (8), ch_addralign (8).
  if (raw.size() < 24) return 0;
  uint64_t size;
  memcpy(&size, raw.data() + 8, 8);
  return size;
}

// All of `len` bytes at `at`, in kWritePiece pwrites; false on a full disk, a quota, an error.
bool writeAll(int fd, const uint8_t *data, size_t len, uint64_t at) {
  for (size_t done = 0; done < len;) {
    ssize_t w = pwrite(fd, data + done, std::min<size_t>(kWritePiece, len - done), off_t(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += size_t(w);
  }
  return true;
}

// Writes one chunk at a time on a thread of its own while the caller inflates the next: the
// kernel copying a large section into the page cache was a tenth of its inflating thread, on
// the critical path of a first capture. The caller alternates two buffers: submit waits for the
// previous chunk's write, so the buffer it fills next is free.
class ChunkWriter {
public:
  explicit ChunkWriter(int fd) : fd_(fd), thread_([this] { run(); }) {}
  ~ChunkWriter() { finish(); }
  bool submit(const uint8_t *data, size_t len, uint64_t at) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return !busy_; });
    if (failed_) return false;
    data_ = data, len_ = len, at_ = at, busy_ = true;
    cv_.notify_all();
    return true;
  }
  // Waits for every write; false if one failed.
  bool finish() {
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait(lock, [&] { return !busy_; });
      done_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    return !failed_;
  }

private:
  void run() {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return busy_ || done_; });
      if (!busy_) return;
      const uint8_t *data = data_;
      size_t len = len_;
      uint64_t at = at_;
      lock.unlock();
      bool ok = writeAll(fd_, data, len, at);
      lock.lock();
      failed_ |= !ok;
      busy_ = false;
      cv_.notify_all();
    }
  }
  int fd_;
  std::mutex m_;
  std::condition_variable cv_;
  const uint8_t *data_ = nullptr;
  size_t len_ = 0;
  uint64_t at_ = 0;
  bool busy_ = false, done_ = false, failed_ = false;
  std::thread thread_;  // last: started once the rest is set up
};

// Inflates into the cache file `path` through a small reused buffer written with pwrite: a
// temporary file, renamed into place when complete. (Filling shared mappings of the file instead
// had the kernel zero every fresh page before inflate overwrote it: 18% of a first capture.) The
// buffer is all this process holds of the section; the written pages belong to the page cache.
// false: the cache is not writable here (or the disk is full); an error: the section cannot be
// inflated.
Expected<bool> inflateToFile(SectionInflater &in, const std::string &path, bool inputMapped) {
  SmallString<256> dir(path);
  sys::path::remove_filename(dir);
  if (sys::fs::create_directories(dir)) return false;
  std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()) % 100000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t chunk = size_t(std::min(kWriteChunk, std::max<uint64_t>(in.size(), 1)));
  std::vector<uint8_t> bufs[2] = {std::vector<uint8_t>(chunk), {}};
  // A section of a few chunks is written here; a larger one by a ChunkWriter.
  std::optional<ChunkWriter> writer;
  if (in.size() >= 8 * kWriteChunk) {
    bufs[1].resize(chunk);
    writer.emplace(fd);
  }
  auto discard = [&] {
    if (writer) writer->finish();  // its writes end before the file is closed
    close(fd);
    unlink(tmp.c_str());
  };
  size_t which = 0;
  for (uint64_t at = 0; at < in.size(); at += chunk, which = writer ? 1 - which : 0) {
    size_t len = size_t(std::min<uint64_t>(chunk, in.size() - at));
    std::vector<uint8_t> &buf = bufs[which];
    if (Error e = in.fill(buf.data(), len)) {
      discard();
      return std::move(e);
    }
    if (inputMapped) in.releaseConsumedInput();
    if (!(writer ? writer->submit(buf.data(), len, at) : writeAll(fd, buf.data(), len, at))) {
      discard();  // a full disk, a quota: no cache, the section is inflated into memory
      return false;
    }
  }
  if (writer && !writer->finish()) {
    discard();
    return false;
  }
  if (Error e = in.finish()) {
    discard();
    return std::move(e);
  }
  close(fd);
  // rename is atomic: a concurrent reader sees either nothing or the whole section.
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

// One compressed section to inflate: from `raw`, into the cache at `cachePath` ("" for none).
struct InflateJob {
  std::string name;
  StringRef raw;
  std::string cachePath;
  std::unique_ptr<MemoryBuffer> result;
  std::optional<ErrorReport> error;  // (an llvm::Error cannot wait in a vector unchecked)
  uint64_t inflatedBytes = 0;
  bool inputMapped = false;  // raw is in a read-only mapping of the file
};

void runJob(InflateJob &job) {
  auto in = SectionInflater::create("." + job.name, job.raw);
  if (!in) {
    job.error = takeErrorReport(in.takeError());
    return;
  }
  job.inflatedBytes = (*in)->size();
  if (!job.cachePath.empty()) {
    Expected<bool> written = inflateToFile(**in, job.cachePath, job.inputMapped);
    if (!written) {  // corrupt data: no second try
      job.error = takeErrorReport(written.takeError());
      return;
    }
    // Mapped: its pages are shared and only touched ones count in RSS.
    if (*written && (job.result = mapCached(job.cachePath, job.inflatedBytes))) return;
    // The cache is not writable here: inflate into memory, from the start.
    in = SectionInflater::create("." + job.name, job.raw);
    if (!in) {
      job.error = takeErrorReport(in.takeError());
      return;
    }
  }
  auto mem = inflateToMemory(**in, job.name);
  if (!mem) job.error = takeErrorReport(mem.takeError());
  else job.result = std::move(*mem);
}

}  // namespace

Expected<std::unique_ptr<MemoryBuffer>> inflateSection(StringRef name, StringRef raw) {
  auto in = SectionInflater::create(name, raw);
  if (!in) return in.takeError();
  return inflateToMemory(**in, name);
}

Expected<StringMap<std::unique_ptr<MemoryBuffer>>>
loadDwarfSections(const ElfFile &file, const std::vector<std::string> &names,
                  const std::string &cacheDir, DwarfSectionStats *stats) {
  StringMap<std::unique_ptr<MemoryBuffer>> out;
  std::vector<InflateJob> jobs;
  bool inputMapped = file.buffer() && file.buffer()->getBufferKind() == MemoryBuffer::MemoryBuffer_MMap;
  for (const std::string &n : names) {
    const ElfSection *s = file.section("." + n);
    if (!s || !s->present || s->data.empty()) continue;
    if (!s->compressed) {
      out[n] = MemoryBuffer::getMemBuffer(s->data, n, false);
      continue;
    }
    std::string cachePath;
    if (!cacheDir.empty() && !file.buildId().empty())
      cachePath = cacheDir + "/" + file.buildId() + "/" + n;
    if (!cachePath.empty()) {
      if (auto mb = mapCached(cachePath, compressedSectionSize(s->data))) {
        out[n] = std::move(mb);
        if (stats) stats->fromCache++;
        continue;
      }
    }
    jobs.push_back(InflateJob{n, s->data, cachePath, nullptr, std::nullopt, 0, inputMapped});
  }
  // The sections are independent streams: inflated side by side, largest first, by as many
  // threads as there are cores (at most 4).
  std::sort(jobs.begin(), jobs.end(), [](const InflateJob &a, const InflateJob &b) {
    return compressedSectionSize(a.raw) > compressedSectionSize(b.raw);
  });
  size_t workers = std::min<size_t>({jobs.size(), std::max(1u, std::thread::hardware_concurrency()), 4});
  if (workers <= 1) {
    for (InflateJob &j : jobs) runJob(j);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (size_t w = 0; w < workers; ++w)
      pool.emplace_back([&] {
        for (size_t i; (i = next++) < jobs.size();) runJob(jobs[i]);
      });
    for (std::thread &t : pool) t.join();
  }
  for (InflateJob &j : jobs) {
    if (j.error) return makeError(j.error->kind, "{0}", j.error->message);
    if (stats) {
      stats->inflated++;
      stats->inflatedBytes += j.inflatedBytes;
    }
    out[j.name] = std::move(j.result);
  }
  return std::move(out);
}

}  // namespace bt
