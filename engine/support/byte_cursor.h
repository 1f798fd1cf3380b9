// Cursor: a bounds-checked little-endian reader over a byte range (fixed-size integers, LEB128,
// C strings). Once a read runs past the end, `ok` stays false and every later read returns 0,
// so parsers of untrusted data (CFI, DWARF expressions, notes) check once, at the end.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <cstring>

namespace bt {

struct Cursor {
  const uint8_t *base;
  uint64_t size;
  uint64_t pos;
  bool ok = true;

  Cursor(llvm::StringRef d, uint64_t p = 0)
      : base(reinterpret_cast<const uint8_t *>(d.data())), size(d.size()), pos(p) {}
  bool has(uint64_t n) const { return ok && pos <= size && n <= size - pos; }
  template <typename T> T get() {
    T v{};
    if (!has(sizeof(T))) { ok = false; return v; }
    memcpy(&v, base + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    unsigned shift = 0;
    while (true) {
      if (!has(1)) { ok = false; return 0; }
      uint8_t b = base[pos++];
      if (shift < 64) v |= uint64_t(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    return v;
  }
  int64_t sleb() {
    // Built unsigned: sign-extending from bit 63 must not negate INT64_MIN (found by
    // dwarf_expr_fuzz under UBSan).
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
      if (!has(1)) { ok = false; return 0; }
      b = base[pos++];
      if (shift < 64) v |= uint64_t(b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= ~uint64_t(0) << shift;
    return int64_t(v);
  }
  llvm::StringRef bytes(uint64_t n) {
    if (!has(n)) { ok = false; return {}; }
    llvm::StringRef r(reinterpret_cast<const char *>(base + pos), n);
    pos += n;
    return r;
  }
  const char *cstr() {
    uint64_t start = pos;
    while (pos < size && base[pos]) ++pos;
    if (pos >= size) { ok = false; return ""; }
    ++pos;
    return reinterpret_cast<const char *>(base + start);
  }
};


}  // namespace bt
