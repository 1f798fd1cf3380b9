#include "vars/value_printer.h"

#include "vars/dwarf_types.h"
#include "vars/type_names.h"

#include "vars/rust_printers.h"
#include "vars/std_printers.h"

#include "symbols/gdb_names.h"

#include "support/hex.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFFormValue.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>
#include <llvm/Support/raw_ostream.h>

#include <cinttypes>
#include <cmath>
#include <cstring>
#include <vector>

namespace bt {

using namespace llvm;

namespace {

DWARFDie strip(DWARFDie t) { return stripTypedefs(t); }



bool isCharType(const DWARFDie &t) {
  DWARFDie s = strip(t);
  if (!s || s.getTag() != dwarf::DW_TAG_base_type || attrU(s, dwarf::DW_AT_byte_size) != 1)
    return false;
  uint64_t enc = attrU(s, dwarf::DW_AT_encoding);
  return enc == dwarf::DW_ATE_signed_char || enc == dwarf::DW_ATE_unsigned_char ||
         ((enc == dwarf::DW_ATE_signed || enc == dwarf::DW_ATE_unsigned) && s.getShortName() &&
          strstr(s.getShortName(), "char"));
}

// One character inside quotes, escaped like gdb (quote is ' or ").
void escapeChar(std::string &out, uint8_t c, char quote) {
  switch (c) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  if (c == uint8_t(quote)) {
    out += '\\';
    out += char(c);
  } else if (c >= 0x20 && c < 0x7f) {
    out += char(c);
  } else {
    char b[8];
    snprintf(b, sizeof b, "\\%03o", c);
    out += b;
  }
}

// Length of a valid UTF-8 sequence at s[i] that encodes a printable character (>= U+00A0,
// not a surrogate), or 0.
size_t utf8Printable(const std::vector<uint8_t> &s, size_t i) {
  uint8_t b = s[i];
  size_t n = b >= 0xf0 && b < 0xf5 ? 4 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = b & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
  for (size_t k = 1; k < n; ++k) {
    if ((s[i + k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i + k] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;  // overlong
  if (cp < 0xa0 || (cp >= 0xd800 && cp < 0xe000)) return 0;
  return n;
}

// gdb's generic_printstr: quoted runs, and runs longer than the threshold as
// 'c' <repeats N times>, joined by ", ".
// The bytes of a UTF-8 sequence cut short by the string's end: a lead byte and fewer
// continuation bytes than it announces (0 if the string does not end so).
static size_t incompleteUtf8Tail(const std::vector<uint8_t> &s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    uint8_t lead = s[s.size() - k];
    size_t need = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3
                  : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
    if (need) return k < need ? k : 0;
    if (lead < 0x80 || lead > 0xbf) return 0;  // not a continuation byte: no sequence
  }
  return 0;
}

std::string printString(const std::vector<uint8_t> &s, bool truncated, const PrintLimits &lim,
                        bool tailChecked = false) {
  // gdb ends a string whose last character is cut short with ", <incomplete sequence \314>";
  // only the end of the string can be cut short: what comes before it is printed as bytes
  // ("\315\315", <incomplete sequence \315>).
  if (size_t k = truncated || tailChecked ? 0 : incompleteUtf8Tail(s)) {
    std::vector<uint8_t> head(s.begin(), s.end() - k);
    std::string out = head.empty() ? std::string() : printString(head, false, lim, true) + ", ";
    out += "<incomplete sequence ";
    for (size_t i = s.size() - k; i < s.size(); ++i) escapeChar(out, s[i], '"');
    return out + ">";
  }
  if (s.empty()) return truncated ? "\"\"..." : "\"\"";
  std::string out;
  bool inQuote = false;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] == s[i]) ++j;
    size_t reps = j - i;
    if (reps > lim.repeatThreshold) {
      if (inQuote) {
        out += "\", ";
        inQuote = false;
      } else if (!out.empty()) {
        out += ", ";
      }
      out += '\'';
      escapeChar(out, s[i], '\'');
      out += "' <repeats " + std::to_string(reps) + " times>";
      i = j;
      continue;
    }
    if (!inQuote) {
      if (!out.empty()) out += ", ";
      out += '"';
      inQuote = true;
    }
    for (; i < j;) {
      // A valid UTF-8 sequence of a printable character is printed as is, as gdb does in a
      // UTF-8 locale; other bytes >= 0x80 as octal escapes.
      size_t n = utf8Printable(s, i);
      if (n > 1) {
        out.append(reinterpret_cast<const char *>(&s[i]), n);
        i += n;
        if (i > j) j = i;
        continue;
      }
      escapeChar(out, s[i], '"');
      ++i;
    }
  }
  if (inQuote) out += '"';
  if (truncated) out += "...";
  return out;
}

std::string formatFloat(const uint8_t *p, uint64_t size) {
  char b[64];
  if (size == 4) {
    float f;
    memcpy(&f, p, 4);
    if (std::isnan(f)) {
      uint32_t bits;
      memcpy(&bits, p, 4);
      snprintf(b, sizeof b, "%snan(0x%x)", (bits >> 31) ? "-" : "", bits & 0x7fffff);
      return b;
    }
    snprintf(b, sizeof b, "%.9g", double(f));
  } else if (size == 8) {
    double d;
    memcpy(&d, p, 8);
    if (std::isnan(d)) {
      uint64_t bits;
      memcpy(&bits, p, 8);
      snprintf(b, sizeof b, "%snan(0x%" PRIx64 ")", (bits >> 63) ? "-" : "",
               uint64_t(bits & 0xfffffffffffffull));
      return b;
    }
    snprintf(b, sizeof b, "%.17g", d);
  } else if (size == 16 || size == 10) {
    long double ld;
    memcpy(&ld, p, sizeof ld < size ? sizeof ld : size);
    snprintf(b, sizeof b, "%.21Lg", ld);
  } else {
    return "<unsupported float size " + std::to_string(size) + ">";
  }
  return b;
}

// gdb's print /x of an integer of `size` bytes: the low `size` bytes in hex.
std::string hexOfSize(uint64_t raw, uint64_t size) {
  return hexU64(size >= 8 ? raw : raw & ((uint64_t(1) << (8 * size)) - 1));
}

// A character as gdb's Rust language prints it inside quotes: the usual escapes, printable
// ASCII as is, \xNN up to 255 and \u{NNNNNN} beyond.
std::string rustChar(uint32_t ch, char quote) {
  switch (ch) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case 0: return "\\0";
    default: break;
  }
  char b[16];
  if (ch == '\\' || ch == uint32_t(quote)) {
    snprintf(b, sizeof b, "\\%c", char(ch));
  } else if (ch >= 32 && ch < 127) {
    snprintf(b, sizeof b, "%c", char(ch));
  } else if (ch <= 255) {
    snprintf(b, sizeof b, "\\x%02x", ch);
  } else {
    snprintf(b, sizeof b, "\\u{%06x}", ch);
  }
  return b;
}

// A 128-bit integer in decimal (gdb's Rust prints i128/u128 so; C's __int128 is printed in hex).
std::string decimal128(const uint8_t *p, bool isSigned) {
  unsigned __int128 v;
  memcpy(&v, p, 16);
  bool negative = isSigned && (v >> 127);
  if (negative) v = ~v + 1;
  std::string digits;
  do {
    digits += char('0' + int(v % 10));
    v /= 10;
  } while (v);
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

class Printer : public ValueFormatter {
public:
  explicit Printer(const PrintContext &c) : ctx(c) {}

  // ValueFormatter, for the standard-library summaries.
  std::string format(const DWARFDie &type, StringRef bytes, std::optional<uint64_t> a) override {
    return value(type, bytes, a, summaryDepth + 1);
  }
  bool childrenTooDeep() const override { return summaryDepth + ctx.nesting >= kRustMaxDepth; }
  size_t read(uint64_t addr, void *buf, size_t len) override { return ctx.read(addr, buf, len); }
  std::string pointer(uint64_t v) override {
    if (v == 0) return "0x0";
    std::string out = hexU64(v);
    if (ctx.symbolize) {
      std::string sym = ctx.symbolize(v, false);
      if (!sym.empty()) out += " " + sym;
    }
    return out;
  }
  std::string string(const std::vector<uint8_t> &chars, bool truncated) override {
    // A counted string (gdb's lazy string) whose last character is a NUL prints without it,
    // as gdb's printstr drops one: std::string("abc\0", 4) is "abc".
    if (!truncated && !chars.empty() && chars.back() == 0)
      return printString(std::vector<uint8_t>(chars.begin(), chars.end() - 1), false, ctx.limits);
    return printString(chars, truncated, ctx.limits);
  }
  const PrintLimits &limits() const override { return ctx.limits; }
  std::string elements(const std::vector<std::string> &elems, bool more) override {
    // gdb prints a pretty-printer's children one by one: no "<repeats N times>" there.
    std::string out;
    for (const std::string &e : elems) out += (out.empty() ? "" : ", ") + e;
    return more ? out + "..." : out;
  }

  // The value's text. Every character is counted once against the output budget: a value's
  // own text (names, punctuation, scalars) is what the values printed inside it did not already
  // count (a deeply nested value would otherwise count its innermost text once per level).
  std::string value(const DWARFDie &type, StringRef bytes, std::optional<uint64_t> addr,
                    unsigned depth) {
    size_t outerChildren = childChars;
    childChars = 0;
    std::string out = uncountedValue(type, bytes, addr, depth);
    produced += out.size() > childChars ? out.size() - childChars : 0;
    childChars = outerChildren + out.size();
    return out;
  }

  std::string uncountedValue(const DWARFDie &type, StringRef bytes, std::optional<uint64_t> addr,
                             unsigned depth) {
    if (budgetExceeded()) return "...";
    if (std::optional<std::string> text = customText(type, bytes, addr)) return *text;
    DWARFDie t = strip(type);
    if (!t) return "<void>";
    dwarf::Tag tt = t.getTag();
    if (tt == dwarf::DW_TAG_typedef || tt == dwarf::DW_TAG_const_type ||
        tt == dwarf::DW_TAG_volatile_type || tt == dwarf::DW_TAG_restrict_type ||
        tt == dwarf::DW_TAG_atomic_type)
      return "<error: type cycle>";  // still a typedef or qualifier after strip's hop limit
    uint64_t size = typeSize(t);
    bool isArray = tt == dwarf::DW_TAG_array_type;
    if (missingIn(bytes, isArray ? bytes.size() : size, isArray || isClassType(t))) return "<optimized out>";
    if (t.getTag() != dwarf::DW_TAG_array_type && size > bytes.size())
      return "<error: value is incomplete>";
    const uint8_t *p = reinterpret_cast<const uint8_t *>(bytes.data());
    std::string out;
    bool rust = isRust(t);
    switch (t.getTag()) {
      case dwarf::DW_TAG_base_type: out = rust ? rustBase(t, p, size) : base(t, p, size); break;
      case dwarf::DW_TAG_pointer_type: out = pointer(t, load(p, 8)); break;
      case dwarf::DW_TAG_reference_type: case dwarf::DW_TAG_rvalue_reference_type:
        out = reference(t, load(p, 8), depth);
        break;
      case dwarf::DW_TAG_structure_type: case dwarf::DW_TAG_class_type:
      case dwarf::DW_TAG_union_type:
        out = rust ? rustAggregate(t, bytes, addr, depth) : aggregate(t, bytes, addr, depth);
        break;
      case dwarf::DW_TAG_enumeration_type: out = enumeration(t, p, size); break;
      case dwarf::DW_TAG_array_type: out = array(t, bytes, addr, depth); break;
      case dwarf::DW_TAG_ptr_to_member_type: {
        // Itanium ABI: a null member-function pointer has ptr 0; a null data-member pointer
        // is -1. gdb prints both as NULL.
        DWARFDie pointee = strip(typeOf(t));
        bool fn = pointee && pointee.getTag() == dwarf::DW_TAG_subroutine_type;
        uint64_t v = load(p, size > 8 ? 8 : size);
        if (fn ? v == 0 : v == ~uint64_t(0)) {
          out = "NULL";
        } else if (fn) {
          // gdb: "(int (K::*)(const K * const, int)) 0x401136 <K::m(int) const>". An odd value
          // is a virtual function's vtable offset + 1, not an address.
          out = "(" + typeName(t) + ") " + hexU64(v);
          if (!(v & 1) && ctx.symbolize)
            if (std::string sym = ctx.symbolize(v, true); !sym.empty()) out += " " + sym;
          // The second word adjusts `this` (a member of a non-first base class), as gdb says.
          if (size >= 16)
            if (int64_t adj = int64_t(load(p + 8, 8))) out += ", this adjustment " + std::to_string(adj);
        } else {
          out = hexU64(v);
        }
        break;
      }
      case dwarf::DW_TAG_subroutine_type: out = "{<function>}"; break;
      default: out = "<unsupported type>"; break;
    }
    return out;
  }

private:
  const PrintContext &ctx;
  size_t produced = 0;    // characters of the value so far (the budget's count)
  size_t childChars = 0;  // characters of the values printed inside the one being printed
  std::vector<uint64_t> staticsSeen;  // addresses of class-typed static members printed
  bool inStatic = false;              // printing a static member's value
  const char *top = nullptr;          // the top-level value's bytes (ctx.missingBytes index them)
  const DWARFUnit *languageUnit = nullptr;  // the unit isRust last answered for
  bool languageRust = false;
  // The depth of the value a Rust summary is printing: its children are one deeper, as gdb's
  // print_children counts them (the C++ summaries start their children afresh at 1).
  unsigned summaryDepth = 0;
  // gdb's default "print max-depth": Rust values nest the standard library's wrappers deeply
  // (Arc -> Inner -> Thread -> ...), and gdb prints "{...}" only past 20 levels.
  static constexpr unsigned kRustMaxDepth = 20;

  // Whether the type comes from a Rust unit: its values print in Rust syntax, as gdb does when
  // the frame's language is Rust.
  bool isRust(const DWARFDie &t) {
    if (t.getDwarfUnit() != languageUnit) {
      languageUnit = t.getDwarfUnit();
      languageRust = isRustUnit(t);
    }
    return languageRust;
  }

  // Whether a part of the top-level value (n bytes at `bytes`) prints <optimized out>: all its
  // bytes are missing, or some are and it is not `divisible` (an aggregate whose elements or
  // members say which).
  bool missingIn(StringRef bytes, uint64_t n, bool divisible) const {
    if (ctx.missingBytes.empty() || !top || bytes.data() < top ||
        bytes.data() >= top + ctx.missingBytes.size())
      return false;
    size_t from = bytes.data() - top;
    size_t to = std::min<size_t>(from + std::min<uint64_t>(n, bytes.size()), ctx.missingBytes.size());
    size_t count = 0;
    for (size_t i = from; i < to; ++i) count += ctx.missingBytes[i];
    if (count == 0) return false;
    return count == to - from || !divisible;
  }
  // Whether the top-level value's bytes at `a` and `b` (equally long) are known alike, so that
  // equal bytes are equal values (array repeats).
  bool knownAlike(StringRef a, StringRef b) const {
    if (ctx.missingBytes.empty() || !top) return true;
    auto at = [&](StringRef r, size_t i) {
      if (r.data() < top) return false;
      size_t k = r.data() - top + i;
      return k < ctx.missingBytes.size() && ctx.missingBytes[k];
    };
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
      if (at(a, i) != at(b, i)) return false;
    return true;
  }

  // `t`, or the definition of the struct/class/union it only declares (typedefs and cv kept
  // when there is nothing to complete).
  DWARFDie completed(const DWARFDie &t) {
    DWARFDie st = strip(t);
    if (!isClassType(st) || !st.find(dwarf::DW_AT_declaration) || !ctx.completeType) return t;
    DWARFDie def = ctx.completeType(st);
    return def ? def : t;
  }
  uint64_t sizeOf(const DWARFDie &t) { return typeSize(completed(t)); }
  // For a struct, class or union `t` (typedefs stripped) that is only declared here: its
  // definition to print in its place, or an invalid DIE when none is found or it is larger than
  // the bytes ("<incomplete type>"). nullopt when `t` is a definition.
  std::optional<DWARFDie> definitionOf(const DWARFDie &t, StringRef bytes) {
    if (!t.find(dwarf::DW_AT_declaration)) return std::nullopt;
    DWARFDie def = completed(t);
    if (def == t || typeSize(def) > bytes.size()) return DWARFDie();
    return strip(def);
  }

public:
  void setTop(StringRef bytes) { top = bytes.data(); }

  // The size of an object of type `t` with declared-only classes completed, arrays of them
  // included (typeSize says 0 for those).
  uint64_t objectSize(const DWARFDie &t) {
    DWARFDie st = strip(t);
    if (!st || st.getTag() != dwarf::DW_TAG_array_type) return sizeOf(t);
    if (uint64_t n = typeSize(t)) return n;
    uint64_t size = sizeOf(typeOf(st));
    for (const std::optional<uint64_t> &d : dims(st)) size *= d.value_or(0);
    return size;
  }

private:
  bool budgetExceeded() const { return produced > ctx.limits.maxOutput; }

  // A user's pretty-printer's text for the value (counted against the output budget), if any.
  std::optional<std::string> customText(const DWARFDie &type, StringRef bytes, std::optional<uint64_t> addr) {
    if (!ctx.custom) return std::nullopt;
    std::optional<std::string> text = ctx.custom(type, bytes, addr);
    if (text) {
      produced += text->size();
      childChars += text->size();  // counted: the value it is part of does not count it again
    }
    return text;
  }

  static uint64_t load(const uint8_t *p, uint64_t n) {
    uint64_t v = 0;
    memcpy(&v, p, n > 8 ? 8 : n);
    return v;
  }

  static int64_t signExtend(uint64_t v, uint64_t bytes) {
    if (bytes >= 8) return int64_t(v);
    unsigned bits = unsigned(bytes * 8);
    uint64_t m = uint64_t(1) << (bits - 1);
    v &= (uint64_t(1) << bits) - 1;
    return int64_t((v ^ m) - m);
  }

  std::string base(const DWARFDie &t, const uint8_t *p, uint64_t size) {
    uint64_t enc = attrU(t, dwarf::DW_AT_encoding);
    if (size == 0) return "<zero-size value>";
    if (enc == dwarf::DW_ATE_float) return formatFloat(p, size);
    if (enc == dwarf::DW_ATE_boolean && !ctx.limits.hex) {
      uint64_t v = load(p, size);
      return v == 0 ? "false" : v == 1 ? "true" : std::to_string(v);
    }
    if (size > 8) {
      // __int128: hex of the two halves, high first.
      uint64_t lo = load(p, 8), hi = load(p + 8, size - 8);
      char b[48];
      snprintf(b, sizeof b, "0x%016" PRIx64 "%016" PRIx64, hi, lo);
      return b;
    }
    uint64_t raw = load(p, size);
    if (ctx.limits.hex) return hexOfSize(raw, size);
    bool isSigned = enc == dwarf::DW_ATE_signed || enc == dwarf::DW_ATE_signed_char;
    std::string num = isSigned ? std::to_string(signExtend(raw, size)) : std::to_string(raw);
    if (isCharType(t)) {
      std::string out = num + " '";
      escapeChar(out, uint8_t(raw), '\'');
      return out + "'";
    }
    if (enc == dwarf::DW_ATE_UTF && raw < 0x80) {
      std::string out = num + (size == 2 ? " u'" : size == 4 ? " U'" : " u8'");
      escapeChar(out, uint8_t(raw), '\'');
      return out + "'";
    }
    return num;
  }

  std::string cString(uint64_t addr) {
    std::vector<uint8_t> s;
    unsigned limit = ctx.limits.elements;
    uint8_t chunk[64];
    while (s.size() < limit) {
      size_t want = std::min<size_t>(sizeof chunk, limit - s.size());
      size_t got = ctx.read(addr + s.size(), chunk, want);
      if (got == 0) {
        if (s.empty()) return "<error: Cannot access memory at address " + hexU64(addr) + ">";
        break;
      }
      for (size_t i = 0; i < got; ++i) {
        if (chunk[i] == 0) return printString(s, false, ctx.limits);
        s.push_back(chunk[i]);
      }
      if (got < want) break;
    }
    return printString(s, s.size() >= limit, ctx.limits);
  }

  std::string pointer(const DWARFDie &t, uint64_t v) { return pointerTo(strip(typeOf(t)), v); }

public:
  // A pointer to `pointee` (typedefs stripped; invalid: void).
  std::string pointerTo(const DWARFDie &pointee, uint64_t v) {
    if (v == 0) return "0x0";
    std::string out = hexU64(v);
    bool fn = pointee && pointee.getTag() == dwarf::DW_TAG_subroutine_type;
    if (ctx.symbolize) {
      std::string sym = ctx.symbolize(v, fn);
      if (!sym.empty()) out += " " + sym;
    }
    if (pointee && isCharType(pointee) && !ctx.limits.hex) out += " " + cString(v);
    return out;
  }

private:
  std::string reference(const DWARFDie &t, uint64_t addr, unsigned depth) {
    DWARFDie target = typeOf(t);
    uint64_t size = sizeOf(target);
    std::string out = "@" + hexU64(addr);
    if (depth > 0) return out;  // gdb shows a reference inside an aggregate as its address
    if (size == 0 || size > (1u << 20)) return out;
    std::string buf(size, '\0');
    if (ctx.read(addr, buf.data(), size) != size)
      return out + ": <error: Cannot access memory at address " + hexU64(addr) + ">";
    // gdb hands a reference to a pretty-printed type straight to the printer: no "@addr: ".
    if (std::optional<std::string> text = customText(target, buf, addr)) return *text;
    DWARFDie st = strip(target);
    if (st && (st.getTag() == dwarf::DW_TAG_structure_type || st.getTag() == dwarf::DW_TAG_class_type))
      if (auto summary = formatStdLibraryValue(st, buf, *this)) return *summary;
    return out + ": " + value(target, buf, addr, depth + 1);
  }

  std::string aggregate(const DWARFDie &t, StringRef bytes, std::optional<uint64_t> addr,
                        unsigned depth) {
    if (depth >= ctx.limits.maxDepth) return "{...}";
    if (std::optional<DWARFDie> def = definitionOf(t, bytes))
      return *def ? aggregate(*def, bytes, addr, depth) : "<incomplete type>";
    if (auto summary = formatStdLibraryValue(t, bytes, *this)) return *summary;
    // The static members seen inside this object are forgotten after it (see staticValue).
    size_t staticsMark = staticsSeen.size();
    struct Forget {
      std::vector<uint64_t> &seen;
      size_t mark;
      bool keep;
      ~Forget() { if (!keep) seen.resize(mark); }
    } forget{staticsSeen, staticsMark, inStatic};
    std::string out = "{";
    bool any = false, ownFields = false;
    for (const DWARFDie &m : t.children()) {
      if (budgetExceeded()) {
        out += any ? ", ..." : "...";
        break;
      }
      dwarf::Tag tag = m.getTag();
      bool inherit = tag == dwarf::DW_TAG_inheritance;
      // Static members: DW_TAG_member with DW_AT_external/declaration (DWARF 4) or
      // DW_TAG_variable (DWARF 5) inside the class. gdb prints "static name = value".
      bool isStatic = (tag == dwarf::DW_TAG_member &&
                       (m.find(dwarf::DW_AT_declaration) || m.find(dwarf::DW_AT_external))) ||
                      tag == dwarf::DW_TAG_variable;
      if (tag != dwarf::DW_TAG_member && !inherit && tag != dwarf::DW_TAG_variable) continue;
      if (!inherit) ownFields = true;
      if (isStatic) {
        if (any) out += ", ";
        any = true;
        out += std::string("static ") + (m.getShortName() ? m.getShortName() : "?") + " = " +
               staticValue(m, depth);
        continue;
      }
      DWARFDie mt = typeOf(m);
      uint64_t off = attrU(m, dwarf::DW_AT_data_member_location);
      std::string name;
      if (inherit) name = "<" + typeName(mt) + "> = ";
      else if (const char *n = m.getShortName()) name = std::string(n) + " = ";
      if (any) out += ", ";
      any = true;
      out += name;
      if (auto bitSize = dwarf::toUnsigned(m.find(dwarf::DW_AT_bit_size))) {
        out += bitField(m, mt, bytes, *bitSize);
        continue;
      }
      out += memberValue(mt, bytes, off, addr, depth);
    }
    if (!any) return "{<No data fields>}";
    if (!ownFields) out += ", <No data fields>";  // only base classes, as gdb says
    return out + "}";
  }

  // A static member's value: a constant on the declaration, else the object where its
  // definition lives (ctx.staticAddress), else <optimized out>. As gdb, a class-typed static
  // object is printed once within the outermost object that is not itself a static member's
  // value: where it comes again (a class with a static instance of itself) it is "<same as
  // static member of an already seen type>"; the next array element or member starts afresh.
  std::string staticValue(const DWARFDie &m, unsigned depth) {
    DWARFDie mt = typeOf(m);
    if (auto cv = m.find(dwarf::DW_AT_const_value))
      return value(mt, constValueBytes(*cv, typeSize(mt)), std::nullopt, depth + 1);
    std::optional<uint64_t> at = ctx.staticAddress ? ctx.staticAddress(m) : std::nullopt;
    uint64_t size = typeSize(mt);
    if (!at || size == 0 || size > (1u << 20)) return "<optimized out>";
    if (isClassType(strip(mt))) {
      if (std::find(staticsSeen.begin(), staticsSeen.end(), *at) != staticsSeen.end())
        return "<same as static member of an already seen type>";
      staticsSeen.push_back(*at);
    }
    std::string buf(size, '\0');
    if (ctx.read(*at, buf.data(), size) != size)
      return "<error: Cannot access memory at address " + hexU64(*at) + ">";
    bool was = inStatic;
    inStatic = true;
    std::string out = value(mt, buf, *at, depth + 1);
    inStatic = was;
    return out;
  }

  std::string bitField(const DWARFDie &m, const DWARFDie &mt, StringRef bytes, uint64_t bitSize) {
    uint64_t bitOff;
    if (auto dbo = dwarf::toUnsigned(m.find(dwarf::DW_AT_data_bit_offset))) {
      bitOff = *dbo;
    } else {
      // DWARF 2/3: DW_AT_bit_offset counts from the most significant bit of the storage unit.
      uint64_t storage = attrU(m, dwarf::DW_AT_byte_size, typeSize(mt));
      uint64_t base = attrU(m, dwarf::DW_AT_data_member_location);
      bitOff = base * 8 + storage * 8 - attrU(m, dwarf::DW_AT_bit_offset) - bitSize;
    }
    if (bitSize == 0 || bitSize > 64 || (bitOff + bitSize + 7) / 8 > bytes.size())
      return "<error: bad bit-field>";
    unsigned __int128 acc = 0;
    uint64_t firstByte = bitOff / 8, lastByte = (bitOff + bitSize - 1) / 8;
    for (uint64_t b = lastByte + 1; b-- > firstByte;) acc = (acc << 8) | uint8_t(bytes[b]);
    uint64_t v = uint64_t(acc >> (bitOff % 8));
    if (bitSize < 64) v &= (uint64_t(1) << bitSize) - 1;
    DWARFDie st = strip(mt);
    uint64_t enc = st ? attrU(st, dwarf::DW_AT_encoding) : 0;
    if (st && st.getTag() == dwarf::DW_TAG_enumeration_type) {
      uint8_t buf[8];
      memcpy(buf, &v, 8);
      return enumeration(st, buf, 8);
    }
    if (enc == dwarf::DW_ATE_boolean) return v ? "true" : "false";
    if (enc == dwarf::DW_ATE_signed || enc == dwarf::DW_ATE_signed_char) {
      int64_t s = bitSize < 64 && (v >> (bitSize - 1)) ? int64_t(v | (~uint64_t(0) << bitSize))
                                                        : int64_t(v);
      return std::to_string(s);
    }
    return std::to_string(v);
  }

  std::string enumeration(const DWARFDie &t, const uint8_t *p, uint64_t size) {
    uint64_t raw = load(p, size);
    if (ctx.limits.hex) return hexOfSize(raw, size);
    DWARFDie under = strip(typeOf(t));
    bool isSigned = under && (attrU(under, dwarf::DW_AT_encoding) == dwarf::DW_ATE_signed);
    int64_t sv = isSigned ? signExtend(raw, size) : int64_t(raw);
    std::vector<std::pair<std::string, int64_t>> values;
    for (const DWARFDie &e : t.children()) {
      if (e.getTag() != dwarf::DW_TAG_enumerator) continue;
      auto fv = e.find(dwarf::DW_AT_const_value);
      if (!fv) continue;
      int64_t v = fv->getAsSignedConstant().value_or(int64_t(fv->getAsUnsignedConstant().value_or(0)));
      values.emplace_back(e.getShortName() ? e.getShortName() : "?", v);
    }
    // C++ enumerators are scoped by the enum's namespaces and classes, and for an enum class
    // by the enum itself (gdb: vp::Mode::Done, vp::Red).
    if (!isCLanguage(t)) {
      std::string prefix;
      if (t.find(dwarf::DW_AT_enum_class) && t.getShortName()) prefix = qualifiedTypeName(t) + "::";
      else if (t.getParent() && t.getParent().getShortName() &&
               (t.getParent().getTag() == dwarf::DW_TAG_namespace ||
                t.getParent().getTag() == dwarf::DW_TAG_structure_type ||
                t.getParent().getTag() == dwarf::DW_TAG_class_type))
        prefix = qualifiedTypeName(t.getParent()) + "::";
      for (auto &e : values) e.first = prefix + e.first;
    }
    for (auto &[n, v] : values)
      if (v == sv) return n;
    // gdb's flag enums: every enumerator non-zero and disjoint from the others.
    uint64_t seen = 0;
    bool flags = !values.empty();
    for (auto &[n, v] : values) {
      if (v <= 0 || (uint64_t(v) & seen)) {
        flags = false;
        break;
      }
      seen |= uint64_t(v);
    }
    if (!flags || sv <= 0) return std::to_string(sv);
    uint64_t left = uint64_t(sv);
    std::string out = "(";
    bool first = true;
    for (auto &[n, v] : values) {
      if ((left & uint64_t(v)) == uint64_t(v)) {
        out += (first ? "" : " | ") + n;
        first = false;
        left &= ~uint64_t(v);
      }
    }
    if (left) out += (first ? "unknown: " : " | unknown: ") + hexU64(left);
    return out + ")";
  }

  // Dimensions of an array type (count per subrange; nullopt for an unknown bound).
  static std::vector<std::optional<uint64_t>> dims(const DWARFDie &t) {
    std::vector<std::optional<uint64_t>> d;
    for (const DWARFDie &s : t.children()) {
      if (s.getTag() != dwarf::DW_TAG_subrange_type) continue;
      if (auto c = dwarf::toUnsigned(s.find(dwarf::DW_AT_count))) d.push_back(*c);
      else if (auto ub = s.find(dwarf::DW_AT_upper_bound)) {
        // data1/2/4 forms are unsigned here (LLVM would sign-extend 219 in a data1 to -37);
        // only DW_FORM_sdata is signed, and -1 means an empty array.
        std::optional<int64_t> u;
        if (ub->getForm() == dwarf::DW_FORM_sdata) u = ub->getAsSignedConstant();
        else if (auto uu = ub->getAsUnsignedConstant()) u = int64_t(*uu);
        uint64_t lb = attrU(s, dwarf::DW_AT_lower_bound, 0);
        if (u && *u >= int64_t(lb) - 1) d.push_back(uint64_t(*u - int64_t(lb) + 1));
        else d.push_back(std::nullopt);
      } else {
        d.push_back(std::nullopt);
      }
    }
    return d;
  }

  std::string array(const DWARFDie &t, StringRef bytes, std::optional<uint64_t> addr,
                    unsigned depth) {
    auto d = dims(t);
    if (d.empty()) return "<array without bounds>";
    return arrayDims(typeOf(t), d, 0, bytes, addr, depth, isRust(t));
  }

  // `rust`: gdb's Rust decorations, [1, 2] instead of {1, 2}.
  std::string arrayDims(const DWARFDie &elem, const std::vector<std::optional<uint64_t>> &d,
                        size_t level, StringRef bytes, std::optional<uint64_t> addr,
                        unsigned depth, bool rust) {
    const char *open = rust ? "[" : "{", *close = rust ? "]" : "}";
    if (!d[level]) return "0x" + (addr ? hexU64(*addr).substr(2) : std::string("?"));
    uint64_t count = *d[level];
    uint64_t esize = sizeOf(elem);
    for (size_t k = level + 1; k < d.size(); ++k) esize *= d[k].value_or(0);
    if (esize == 0 && count) return "<error: elements of unknown size>";
    // A hostile bound cannot make us read past the bytes we have.
    uint64_t have = esize ? bytes.size() / esize : 0;
    bool lastLevel = level + 1 == d.size();
    // A char array is a string, unless some of its bytes have no location (printed per element).
    if (lastLevel && isCharType(elem) && !ctx.limits.hex && !missingIn(bytes, bytes.size(), false)) {
      uint64_t n = std::min<uint64_t>(count, have);
      std::vector<uint8_t> s(bytes.begin(), bytes.begin() + n);
      if (!s.empty() && s.back() == 0) s.pop_back();  // gdb drops one trailing NUL (null-stop off)
      // gdb's limit counts characters, but a run of one character, once started, is taken
      // whole: char buf[1024] = "abc" is "abc", '\000' <repeats 1020 times>.
      size_t i = 0;
      while (i < s.size() && i < ctx.limits.elements) {
        size_t j = i + 1;
        while (j < s.size() && s[j] == s[i]) ++j;
        if (j - i == 1) j = i + std::max<size_t>(1, utf8Printable(s, i));
        i = std::min(j, s.size());
      }
      bool truncated = i < s.size();
      s.resize(i);
      return printString(s, truncated, ctx.limits);
    }
    if (rust ? depth + ctx.nesting >= kRustMaxDepth : depth >= ctx.limits.maxDepth)
      return std::string(open) + "..." + close;
    uint64_t n = std::min<uint64_t>(count, have);
    // As gdb's value_print_array_elements: elements with the same bytes in a row beyond the
    // repeat threshold print once with "<repeats N times>" and count as threshold elements
    // toward the limit, so {1, 0 <repeats 1024 times>} fits in 200.
    std::string out;
    uint64_t i = 0, things = 0;
    while (i < n && things < ctx.limits.elements && !budgetExceeded()) {
      StringRef eb = bytes.substr(i * esize, esize);
      uint64_t j = i + 1;
      while (j < n && bytes.substr(j * esize, esize) == eb && knownAlike(bytes.substr(j * esize, esize), eb))
        ++j;
      std::optional<uint64_t> ea;
      if (addr) ea = *addr + i * esize;
      if (!out.empty()) out += ", ";
      out += lastLevel ? value(elem, eb, ea, depth + 1) : arrayDims(elem, d, level + 1, eb, ea, depth + 1, rust);
      if (j - i > ctx.limits.repeatThreshold) {
        out += " <repeats " + std::to_string(j - i) + " times>";
        things += ctx.limits.repeatThreshold;
        i = j;
      } else {
        ++things;
        ++i;
      }
    }
    if (i < n || count > n) out += "...";
    return open + out + close;
  }

  // Base types of a Rust unit: () for the unit type, char as a code point, 128-bit integers in
  // decimal; the rest as in C.
  std::string rustBase(const DWARFDie &t, const uint8_t *p, uint64_t size) {
    uint64_t enc = attrU(t, dwarf::DW_AT_encoding);
    if (size == 0) return t.getShortName() ? t.getShortName() : "()";
    if (enc == dwarf::DW_ATE_UTF && size == 4 && !ctx.limits.hex) {
      uint32_t ch;
      memcpy(&ch, p, 4);
      return std::to_string(ch) + " '" + rustChar(ch, '\'') + "'";
    }
    if (size == 16 && !ctx.limits.hex && (enc == dwarf::DW_ATE_signed || enc == dwarf::DW_ATE_unsigned))
      return decimal128(p, enc == dwarf::DW_ATE_signed);
    return base(t, p, size);
  }

  // The data members of a Rust struct or variant, in declaration order.
  static std::vector<DWARFDie> rustFields(const DWARFDie &t) {
    std::vector<DWARFDie> fields;
    for (const DWARFDie &m : t.children())
      if (m.getTag() == dwarf::DW_TAG_member && !m.find(dwarf::DW_AT_external) &&
          !m.find(dwarf::DW_AT_declaration))
        fields.push_back(m);
    return fields;
  }

  // gdb's rust_tuple_struct_type_p: fields named __0, __1, ... in order.
  static bool tupleFields(const std::vector<DWARFDie> &fields) {
    if (fields.empty()) return false;
    for (size_t i = 0; i < fields.size(); ++i) {
      const char *n = fields[i].getShortName();
      if (!n || n != "__" + std::to_string(i)) return false;
    }
    return true;
  }

  // "name: value, ..." (or "value, ..." for a tuple) of the fields at `base` in `bytes`.
  std::string rustFieldList(const std::vector<DWARFDie> &fields, bool tuple, StringRef bytes,
                            uint64_t base, std::optional<uint64_t> addr, unsigned depth) {
    std::string out;
    bool first = true;
    for (const DWARFDie &m : fields) {
      if (budgetExceeded()) {
        out += first ? "..." : ", ...";
        break;
      }
      if (!first) out += ", ";
      first = false;
      if (!tuple) out += std::string(m.getShortName() ? m.getShortName() : "?") + ": ";
      out += memberValue(typeOf(m), bytes, base + attrU(m, dwarf::DW_AT_data_member_location), addr, depth);
    }
    return out;
  }

  // The member of type `mt` at `off` in the object's `bytes`, one level deeper.
  std::string memberValue(const DWARFDie &mt, StringRef bytes, uint64_t off, std::optional<uint64_t> addr,
                          unsigned depth) {
    uint64_t msize = sizeOf(mt);
    if (off > bytes.size() || msize > bytes.size() - off) return "<error: member outside its object>";
    std::optional<uint64_t> maddr;
    if (addr) maddr = *addr + off;
    return value(mt, bytes.substr(off, msize), maddr, depth + 1);
  }

  // gdb's Rust struct printing (rust_val_print_struct): "crash::Order {id: 1, tags: ...}",
  // "(1, 2)" for a tuple, "crash::Meters (5)" for a tuple struct, the bare name of a struct
  // without fields; the toolchain's printers (rust_printers.h) first, enums by their variant.
  std::string rustAggregate(const DWARFDie &t, StringRef bytes, std::optional<uint64_t> addr,
                            unsigned depth) {
    // A struct this unit only declares (rustc 1.63's standard library declares the closures and
    // generic structs another unit defines): printed as its definition, as aggregate() does.
    if (std::optional<DWARFDie> def = definitionOf(t, bytes))
      return *def ? rustAggregate(*def, bytes, addr, depth) : "<incomplete type>";
    // As gdb: the printer first (it says "Vec(size=2) = {...}" itself when too deep), then the
    // depth limit.
    // A value with bytes that have no location (pieces of optimised code) is printed member by
    // member, so the missing ones say <optimized out>: a summary would follow a pointer made of
    // missing bytes.
    bool partial = missingIn(bytes, bytes.size(), false);
    unsigned outer = summaryDepth;
    summaryDepth = depth;
    std::optional<std::string> summary = partial ? std::nullopt : formatRustLibraryValue(t, bytes, *this);
    summaryDepth = outer;
    if (summary) return *summary;
    if (depth + ctx.nesting >= kRustMaxDepth) return "{...}";
    if (isRustEnum(t)) return rustEnum(t, bytes, addr, depth);
    std::string name = t.getShortName() ? qualifiedTypeName(t) : std::string();
    std::vector<DWARFDie> fields = rustFields(t);
    if (isSliceFields(fields) && !name.empty() && !partial) return rustSlice(name, fields, bytes, depth);
    bool tuple = !name.empty() && name[0] == '(';
    bool tupleStruct = !tuple && tupleFields(fields);
    std::string out;
    if (!tuple) {
      out = name;
      if (fields.empty()) return out;
      if (!name.empty()) out += " ";
    }
    bool positional = tuple || tupleStruct;
    return out + (positional ? "(" : "{") + rustFieldList(fields, positional, bytes, 0, addr, depth) +
           (positional ? ")" : "}");
  }

  // gdb's rust_slice_type_p: a struct of exactly the fields data_ptr and length (a fat pointer).
  static bool isSliceFields(const std::vector<DWARFDie> &fields) {
    if (fields.size() != 2 || !fields[0].getShortName() || !fields[1].getShortName()) return false;
    StringRef a = fields[0].getShortName(), b = fields[1].getShortName();
    return (a == "data_ptr" && b == "length") || (a == "length" && b == "data_ptr");
  }

  // gdb's rust_val_print_slice, for the fat pointers no printer took (Box<[u8]>, &[T] inside
  // other printers' raw fields): "alloc::boxed::Box<[u8], ...> [99, 104]", "... []"; "&str" is
  // its UTF-8 text. The elements are read from the target (bounded) and printed as an array.
  std::string rustSlice(const std::string &name, const std::vector<DWARFDie> &fields, StringRef bytes,
                        unsigned depth) {
    DWARFDie dataField = StringRef(fields[0].getShortName()) == "data_ptr" ? fields[0] : fields[1];
    DWARFDie lengthField = dataField == fields[0] ? fields[1] : fields[0];
    uint64_t dOff = attrU(dataField, dwarf::DW_AT_data_member_location);
    uint64_t lOff = attrU(lengthField, dwarf::DW_AT_data_member_location);
    DWARFDie ptrT = strip(typeOf(dataField));
    if (!ptrT || ptrT.getTag() != dwarf::DW_TAG_pointer_type || dOff + 8 > bytes.size() ||
        lOff + 8 > bytes.size())
      return "<error: malformed slice>";
    uint64_t data = load(reinterpret_cast<const uint8_t *>(bytes.data()) + dOff, 8);
    uint64_t length = load(reinterpret_cast<const uint8_t *>(bytes.data()) + lOff, 8);
    DWARFDie elem = typeOf(ptrT);
    if (name == "&str") {
      uint64_t n = std::min<uint64_t>(length, ctx.limits.elements);
      std::vector<uint8_t> chars(n);
      if (n && ctx.read(data, chars.data(), n) != n)
        return "<error: Cannot access memory at address " + hexU64(data) + ">";
      return string(chars, length > n);
    }
    std::string out = name + " ";
    if (length == 0) return out + "[]";
    uint64_t es = sizeOf(elem);
    if (!es) return out + "<error: slice of elements of unknown size>";
    // Enough elements for the element limit and a repeat run after it, within 1 MiB.
    uint64_t n = std::min<uint64_t>({length, (1u << 20) / es});
    std::string buf(n * es, '\0');
    size_t got = ctx.read(data, buf.data(), buf.size());
    if (got < es) return out + "<error: Cannot access memory at address " + hexU64(data) + ">";
    buf.resize(got / es * es);
    std::vector<std::optional<uint64_t>> dim{buf.size() / es};
    std::string elems = arrayDims(elem, dim, 0, buf, data, depth, true);
    // Elements past what could be read (or the 1 MiB bound) are not shown, as after the limit.
    if (buf.size() / es < length && !StringRef(elems).ends_with("...]"))
      elems.insert(elems.size() - 1, "...");
    return out + elems;
  }

  // gdb's rust_print_enum: the active variant's full name ("core::option::Option<u32>::Some"),
  // then its fields as a tuple "(5)" or a struct "{w: 3, h: 4}" (no space before the brace).
  std::string rustEnum(const DWARFDie &t, StringRef bytes, std::optional<uint64_t> addr, unsigned depth) {
    uint64_t discriminant = 0;
    std::optional<RustVariant> v = rustActiveVariant(t, bytes, &discriminant);
    if (!v) {
      bool anyVariant = false;
      for (const DWARFDie &c : t.children())
        if (c.getTag() == dwarf::DW_TAG_variant_part)
          for (const DWARFDie &vv : c.children()) anyVariant |= vv.getTag() == dwarf::DW_TAG_variant;
      if (!anyVariant) return qualifiedTypeName(t) + " {<No data fields>}";
      return "<error: no variant of " + qualifiedTypeName(t) + " has discriminant " +
             std::to_string(discriminant) + ">";
    }
    DWARFDie vt = strip(typeOf(v->member));
    if (!vt) return "<error: enum variant without a type>";
    std::vector<DWARFDie> fields = rustFields(vt);
    std::string out = qualifiedTypeName(vt);
    if (fields.empty()) return out;
    bool tuple = tupleFields(fields);
    return out + (tuple ? "(" : "{") + rustFieldList(fields, tuple, bytes, v->offset, addr, depth) +
           (tuple ? ")" : "}");
  }
};

}  // namespace

std::string formatValue(const DWARFDie &type, StringRef bytes, std::optional<uint64_t> address,
                        const PrintContext &ctx) {
  StdPrinterMemoScope memo;  // the value's DIEs stay valid while it is printed
  Printer p(ctx);
  p.setTop(bytes);
  return p.value(type, bytes, address, 0);
}

uint64_t completedTypeSize(const DWARFDie &type, const PrintContext &ctx) {
  Printer p(ctx);
  return p.objectSize(type);
}

std::string formatElements(const std::vector<std::string> &elems, bool more, const PrintLimits &limits) {
  std::string out;
  size_t i = 0;
  while (i < elems.size()) {
    size_t j = i;
    while (j < elems.size() && elems[j] == elems[i]) ++j;
    if (!out.empty()) out += ", ";
    if (j - i > limits.repeatThreshold) {
      out += elems[i] + " <repeats " + std::to_string(j - i) + " times>";
      i = j;
    } else {
      out += elems[i];
      ++i;
    }
  }
  if (more) out += "...";
  return out;
}

std::string formatPointerTo(const DWARFDie &pointee, uint64_t value, const PrintContext &ctx) {
  Printer p(ctx);
  return p.pointerTo(stripTypedefs(pointee), value);
}

}  // namespace bt
