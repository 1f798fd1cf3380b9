#include "target/crashpad_annotations.h"

#include <cstring>
#include <set>

namespace bt {

namespace {

constexpr uint32_t kMaxEntries = 100000;
constexpr uint32_t kMaxString = 1u << 20;
constexpr uint16_t kAnnotationString = 1;  // crashpad::Annotation::Type::kString

// Bounds-checked little-endian reads from the file; `ok` turns false on the first bad offset.
struct Reader {
  llvm::ArrayRef<uint8_t> file;
  bool ok = true;

  uint32_t u32(uint64_t off) { return le<uint32_t>(off); }
  uint16_t u16(uint64_t off) { return le<uint16_t>(off); }
  template <typename T> T le(uint64_t off) {
    T v{};
    if (off + sizeof(T) > file.size()) {
      ok = false;
      return v;
    }
    memcpy(&v, file.data() + off, sizeof(T));
    return v;
  }
  // MinidumpUTF8String: u32 length, then the bytes (and a NUL).
  std::string utf8(uint32_t rva) {
    uint32_t n = u32(rva);
    if (!ok || n > kMaxString || uint64_t(rva) + 4 + n > file.size()) {
      ok = false;
      return {};
    }
    return std::string(reinterpret_cast<const char *>(file.data()) + rva + 4, n);
  }
};

struct Collector {
  Reader &r;
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;

  void add(std::string k, std::string v) {
    if (k.empty() || !seen.insert(k).second) return;
    out.emplace_back(std::move(k), std::move(v));
  }
  // MinidumpSimpleStringDictionary at a location descriptor (size, rva).
  void dictionary(uint32_t size, uint32_t rva) {
    if (!size) return;
    uint32_t count = r.u32(rva);
    if (!r.ok || count > kMaxEntries || 4 + uint64_t(count) * 8 > size) {
      r.ok = false;
      return;
    }
    for (uint32_t i = 0; i < count && r.ok; ++i) {
      uint32_t key = r.u32(rva + 4 + uint64_t(i) * 8), value = r.u32(rva + 8 + uint64_t(i) * 8);
      std::string k = r.utf8(key), v = r.utf8(value);
      if (r.ok) add(std::move(k), std::move(v));
    }
  }
  // MinidumpAnnotationList: count, then {name rva, u16 type, u16 reserved, value rva}.
  void annotationObjects(uint32_t size, uint32_t rva) {
    if (!size) return;
    uint32_t count = r.u32(rva);
    if (!r.ok || count > kMaxEntries || 4 + uint64_t(count) * 12 > size) {
      r.ok = false;
      return;
    }
    for (uint32_t i = 0; i < count && r.ok; ++i) {
      uint64_t at = rva + 4 + uint64_t(i) * 12;
      uint32_t name = r.u32(at), value = r.u32(at + 8);
      uint16_t type = r.u16(at + 4);
      if (!r.ok || type != kAnnotationString) continue;  // other types have no text form
      std::string k = r.utf8(name), v = r.utf8(value);  // MinidumpByteArray: the same layout
      if (r.ok) add(std::move(k), std::move(v));
    }
  }
};

}  // namespace

std::vector<std::pair<std::string, std::string>> readCrashpadAnnotations(
    llvm::ArrayRef<uint8_t> file, llvm::ArrayRef<uint8_t> stream, std::vector<std::string> &warnings) {
  Reader r{file};
  Collector c{r};
  // MinidumpCrashpadInfo: version, report id, client id (16 bytes each), then the location
  // descriptors (size, rva) of the simple annotations and of the module list.
  if (stream.size() < 52 || stream.data() < file.data() || stream.end() > file.end()) {
    warnings.push_back("minidump: the Crashpad info stream is too short: its annotations are not read");
    return {};
  }
  uint64_t base = uint64_t(stream.data() - file.data());
  c.dictionary(r.u32(base + 36), r.u32(base + 40));
  uint32_t modSize = r.u32(base + 44), modRva = r.u32(base + 48);
  if (r.ok && modSize) {
    // MinidumpModuleCrashpadInfoList: count, then {module index, size, rva}.
    uint32_t count = r.u32(modRva);
    if (!r.ok || count > kMaxEntries || 4 + uint64_t(count) * 12 > modSize) r.ok = false;
    for (uint32_t i = 0; i < count && r.ok; ++i) {
      uint64_t link = modRva + 4 + uint64_t(i) * 12;
      uint32_t size = r.u32(link + 4), rva = r.u32(link + 8);
      if (!r.ok || size < 28) continue;
      // MinidumpModuleCrashpadInfo: version, list annotations, simple annotations, objects.
      c.dictionary(r.u32(rva + 12), r.u32(rva + 16));
      c.annotationObjects(r.u32(rva + 20), r.u32(rva + 24));
    }
  }
  if (!r.ok)
    warnings.push_back("minidump: the Crashpad annotations are damaged (an offset or count outside "
                       "the file): " + std::to_string(c.out.size()) + " read");
  return std::move(c.out);
}

}  // namespace bt
