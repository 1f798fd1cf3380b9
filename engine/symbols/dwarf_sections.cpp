#include "symbols/dwarf_sections.h"

#include "support/error.h"
#include "symbols/elf_file.h"

#include <llvm/Object/Decompressor.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
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

Expected<std::unique_ptr<MemoryBuffer>> inflateSection(StringRef name, StringRef raw) {
  auto dec = object::Decompressor::create(name, raw, /*IsLE=*/true, /*Is64Bit=*/true);
  if (!dec)
    return makeError(ErrorKind::BadInput, "cannot decompress section {0}: {1}", name,
                     toString(dec.takeError()));
  // Bound what a hostile header can make us allocate.
  if (dec->getDecompressedSize() > (uint64_t(8) << 30))
    return makeError(ErrorKind::BadInput, "section {0} claims an absurd size ({1} bytes)", name,
                     dec->getDecompressedSize());
  auto out = WritableMemoryBuffer::getNewUninitMemBuffer(dec->getDecompressedSize(), name);
  if (!out) return makeError(ErrorKind::Generic, "out of memory inflating {0}", name);
  MutableArrayRef<uint8_t> dst(reinterpret_cast<uint8_t *>(out->getBufferStart()),
                               out->getBufferSize());
  if (Error e = dec->decompress(dst))
    return makeError(ErrorKind::BadInput, "cannot decompress section {0}: {1}", name,
                     toString(std::move(e)));
  return std::unique_ptr<MemoryBuffer>(std::move(out));
}

// A cached section is used only if its size is the one the ELF compression header promises
// (guards against a file cut short by a full disk or a killed writer).
static std::unique_ptr<MemoryBuffer> mapCached(const std::string &path, uint64_t expectedSize) {
  auto mb = MemoryBuffer::getFile(path, false, false);
  if (!mb || (*mb)->getBufferSize() != expectedSize) return nullptr;
  return std::move(*mb);
}

static uint64_t compressedSectionSize(StringRef raw) {
  // Elf64_Chdr: ch_type (4), ch_reserved (4), ch_size (8), ch_addralign (8).
  if (raw.size() < 24) return 0;
  uint64_t size;
  memcpy(&size, raw.data() + 8, 8);
  return size;
}

static void storeCached(const std::string &path, const MemoryBuffer &data) {
  SmallString<256> dir(path);
  sys::path::remove_filename(dir);
  if (sys::fs::create_directories(dir)) return;
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(data.getBufferStart(), data.getBufferSize());
    if (!f) {
      unlink(tmp.c_str());
      return;
    }
  }
  // rename is atomic: a concurrent reader sees either nothing or the whole section.
  if (rename(tmp.c_str(), path.c_str()) != 0) unlink(tmp.c_str());
}

Expected<StringMap<std::unique_ptr<MemoryBuffer>>>
loadDwarfSections(const ElfFile &file, const std::vector<std::string> &names,
                  const std::string &cacheDir, DwarfSectionStats *stats) {
  StringMap<std::unique_ptr<MemoryBuffer>> out;
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
    auto inflated = inflateSection("." + n, s->data);
    if (!inflated) return inflated.takeError();
    if (stats) {
      stats->inflated++;
      stats->inflatedBytes += (*inflated)->getBufferSize();
    }
    if (!cachePath.empty()) {
      storeCached(cachePath, **inflated);
      // Prefer the mmapped copy: its pages are shared and only touched ones count in RSS.
      if (auto mb = mapCached(cachePath, (*inflated)->getBufferSize())) {
        out[n] = std::move(mb);
        continue;
      }
    }
    out[n] = std::move(*inflated);
  }
  return std::move(out);
}

}  // namespace bt
