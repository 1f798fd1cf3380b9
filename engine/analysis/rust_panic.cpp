#include "analysis/rust_panic.h"

#include <llvm/Support/ConvertUTF.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace bt {

namespace {

constexpr uint32_t kMaxLine = 10'000'000, kMaxColumn = 100'000;
constexpr uint64_t kMaxFileName = 4096;
constexpr uint64_t kMaxCapacity = uint64_t(1) << 40;  // a String's capacity or length beyond this is no String

bool readable(const Target &t, uint64_t a) {
  const MemoryRegion *r = t.regionFor(a);
  return r && (r->perms & PermRead);
}

bool code(const Target &t, uint64_t a) {
  const MemoryRegion *r = t.regionFor(a);
  return r && (r->perms & PermExec);
}

// Static data of a module (a Location or a vtable): mapped from a module's file, not code.
bool staticData(const Target &t, uint64_t a) {
  const MemoryRegion *r = t.regionFor(a);
  return r && (r->perms & PermRead) && !(r->perms & PermExec) && t.moduleFor(a);
}

// `len` bytes at `ptr` (at most `max`, cut on a character boundary) when they are all readable
// and valid UTF-8 without NUL.
std::optional<std::string> readUtf8(Target &t, uint64_t ptr, uint64_t len, size_t max) {
  size_t n = size_t(std::min<uint64_t>(len, max));
  std::string s(n, '\0');
  if (n && t.readMemory(ptr, s.data(), n) != n) return std::nullopt;
  if (n < len) {
    // Cut inside a character: drop its first bytes.
    size_t lead = n;
    while (lead > 0 && n - lead < 4 && (uint8_t(s[lead - 1]) & 0xc0) == 0x80) --lead;
    if (lead > 0) {
      uint8_t b = uint8_t(s[lead - 1]);
      size_t need = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : 4;
      if (lead - 1 + need > n) s.resize(lead - 1);
    }
  }
  // A NUL is valid UTF-8 but no text a panic prints: zeroed or stale memory.
  if (s.find('\0') != std::string::npos) return std::nullopt;
  auto *begin = reinterpret_cast<const llvm::UTF8 *>(s.data());
  if (!llvm::isLegalUTF8String(&begin, begin + s.size())) return std::nullopt;
  return s;
}

// A trait object's vtable: [drop_in_place (null when the type needs no drop), size, align,
// the first method (Any::type_id)], in a module's static data.
struct Vtable {
  uint64_t size = 0, align = 0;
};
std::optional<Vtable> readVtable(Target &t, uint64_t at) {
  if (at % 8 || !staticData(t, at)) return std::nullopt;
  uint64_t w[4];
  if (t.readMemory(at, w, sizeof w) != sizeof w) return std::nullopt;
  bool alignOk = w[2] >= 1 && w[2] <= 4096 && (w[2] & (w[2] - 1)) == 0;
  if ((w[0] && !code(t, w[0])) || !alignOk || w[1] % w[2] || w[1] > kMaxCapacity || !code(t, w[3]))
    return std::nullopt;
  return Vtable{w[1], w[2]};
}

}  // namespace

bool isRustStdFunction(llvm::StringRef fn) {
  fn.consume_front("<");
  return fn.starts_with("core::") || fn.starts_with("alloc::") || fn.starts_with("std::");
}

bool isRustPanicFrame(llvm::StringRef fn) {
  // The frames every Rust thread has outside its code (lang_start's and thread::spawn's
  // catch_unwind) are not a panic; nor is the panic count every Mutex guard looks at.
  for (llvm::StringRef outer : {"std::panicking::try", "std::panicking::r#try", "std::panicking::catch_unwind",
                                "std::panicking::panic_count"})
    if (fn.starts_with(outer)) return false;
  for (llvm::StringRef prefix : {"core::panicking::", "std::panicking::", "<std::panicking::",
                                 "std::panic::panic_any", "std::panic::resume_unwind",
                                 "core::option::unwrap_failed", "core::option::expect_failed",
                                 "core::result::unwrap_failed", "core::str::slice_error_fail",
                                 "core::cell::panic_already_"})
    if (fn.starts_with(prefix)) return true;
  if (fn.starts_with("core::slice::index::slice_") && fn.contains("_fail")) return true;
  // The panic runtime's entry points, by their last path component (panic_abort::__rust_start_panic,
  // __rustc::rust_begin_unwind, std::sys::backtrace::__rust_end_short_backtrace<...>).
  llvm::StringRef base = fn.split('<').first;
  size_t colons = base.rfind("::");
  llvm::StringRef last = colons == llvm::StringRef::npos ? base : base.drop_front(colons + 2);
  return last == "rust_panic" || last == "__rust_start_panic" || last == "rust_begin_unwind" ||
         last == "__rust_end_short_backtrace" || last == "rust_panic_with_hook";
}

std::optional<RustPanic> readRustLocation(Target &t, uint64_t addr) {
  if (addr % 8 || !staticData(t, addr)) return std::nullopt;
  uint8_t raw[24];
  if (t.readMemory(addr, raw, sizeof raw) != sizeof raw) return std::nullopt;
  // rustc 1.95's order is {file ptr, file len, line, col} (DWARF of core::panic::Location); the
  // other order a layout could have is {line, col, file ptr, file len}. A file pointer is never
  // a plausible line and column pair, so at most one order validates.
  std::optional<RustPanic> found;
  for (int order = 0; order < 2; ++order) {
    uint64_t ptr, len;
    uint32_t line, col;
    size_t strAt = order == 0 ? 0 : 8, numAt = order == 0 ? 16 : 0;
    std::memcpy(&ptr, raw + strAt, 8);
    std::memcpy(&len, raw + strAt + 8, 8);
    std::memcpy(&line, raw + numAt, 4);
    std::memcpy(&col, raw + numAt + 4, 4);
    if (len < 4 || len > kMaxFileName || line == 0 || line > kMaxLine || col == 0 || col > kMaxColumn ||
        !readable(t, ptr))
      continue;
    std::optional<std::string> file = readUtf8(t, ptr, len, kMaxFileName);
    if (!file || !llvm::StringRef(*file).ends_with(".rs")) continue;
    if (std::any_of(file->begin(), file->end(), [](char c) { return uint8_t(c) < 0x20; })) continue;
    if (found) return std::nullopt;  // both orders: not believed
    found = RustPanic{};
    found->file = std::move(*file);
    found->line = line;
    found->column = col;
  }
  return found;
}

std::optional<std::string> readRustPanicPayload(Target &t, uint64_t data, uint64_t vtable) {
  std::optional<Vtable> v = readVtable(t, vtable);
  if (!v || v->align != 8 || data % 8 || !readable(t, data)) return std::nullopt;
  if (v->size == 16) {  // &'static str: {ptr, len}
    uint64_t w[2];
    if (t.readMemory(data, w, sizeof w) != sizeof w || w[0] == 0 || w[1] > kMaxCapacity) return std::nullopt;
    if (w[1] == 0) return std::string();
    if (!readable(t, w[0])) return std::nullopt;
    return readUtf8(t, w[0], w[1], kMaxRustPanicMessage);
  }
  if (v->size != 24) return std::nullopt;  // another payload type: the hook printed "Box<dyn Any>"
  // String = Vec<u8>: a pointer, a capacity and a length in an order the layout chose. Every
  // assignment of the three words that is consistent (the pointer non-null and readable, the
  // length at most the capacity) is decoded; they must all give the same text.
  uint64_t w[3];
  if (t.readMemory(data, w, sizeof w) != sizeof w) return std::nullopt;
  std::set<std::string> texts;
  bool rejected = false;
  for (int p = 0; p < 3; ++p)
    for (int c = 0; c < 3; ++c) {
      if (c == p) continue;
      int l = 3 - p - c;
      uint64_t ptr = w[p], cap = w[c], len = w[l];
      if (ptr == 0 || cap > kMaxCapacity || len > cap) continue;
      if (len > 0 && !readable(t, ptr)) continue;
      std::optional<std::string> s = len ? readUtf8(t, ptr, len, kMaxRustPanicMessage) : std::string();
      if (s) texts.insert(*s);
      else rejected = true;
    }
  if (texts.size() != 1 || rejected) return std::nullopt;
  return *texts.begin();
}

std::optional<RustPanic> findRustPanic(Target &t, uint64_t sp, uint64_t maxBytes) {
  sp &= ~uint64_t(7);
  std::vector<uint64_t> words(size_t(maxBytes / 8));
  // The window is the analysis' own look (a snapshot keeps the stack anyway); the Location, the
  // vtable and the payload that validate are read with readMemory, so a snapshot holds them.
  size_t got = t.scanMemory(sp, words.data(), words.size() * 8) / 8;
  std::map<uint64_t, std::optional<RustPanic>> locations;  // each distinct word checked once
  std::optional<RustPanic> locationOnly;
  for (size_t i = 0; i < got; ++i) {
    uint64_t w = words[i];
    if (w % 8 || !staticData(t, w)) continue;
    auto it = locations.find(w);
    if (it == locations.end()) it = locations.emplace(w, readRustLocation(t, w)).first;
    if (!it->second) continue;
    // The hook's info: the payload pair right before or right after &Location (PanicHookInfo,
    // Rust 1.81+), or before it with one word between, the message `Option<&fmt::Arguments>`
    // (PanicInfo {payload, message, location, can_unwind} of older standard libraries, Debian
    // bookworm's 1.63 among them): that word must be None (0) or point to readable memory.
    for (size_t pair : {i >= 2 ? i - 2 : got, i + 1, i >= 3 ? i - 3 : got}) {
      if (pair + 1 >= got) continue;
      if (pair + 3 == i && words[i - 1] != 0 && (words[i - 1] % 8 || !readable(t, words[i - 1]))) continue;
      if (!readVtable(t, words[pair + 1])) continue;
      RustPanic p = *it->second;
      p.at = sp + 8 * i;
      if (std::optional<std::string> m = readRustPanicPayload(t, words[pair], words[pair + 1])) {
        p.hasMessage = true;
        p.message = std::move(*m);
        return p;
      }
      if (!locationOnly) locationOnly = p;
    }
  }
  return locationOnly;
}

}  // namespace bt
