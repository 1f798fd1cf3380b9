// Value rendering (vars/value_printer.h, formatValue): gdb's text of a typed value, with the
// types of the vars_c fixture's DWARF. Globals are rendered from their initialised bytes in the
// fixture's .data/.rodata; locals from the values vars_c gives them (its source comments), and
// pointers read and name what they point to in the file's sections, as the printer does on a
// target. Each case is checked once against gdb's rendering.
#include "bench_inputs.h"

#include "symbols/elf_file.h"
#include "vars/value_printer.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <cstring>

namespace {

using namespace btbench;
namespace dw = llvm::dwarf;

struct Printing {
  std::unique_ptr<DwarfFile> dwarf;
  std::unique_ptr<bt::ElfFile> elf;
  std::string error;

  // The type of variable `name`, a global or a local of `function`.
  llvm::DWARFDie typeOf(const char *function, const char *name) const {
    for (const auto &cu : dwarf->ctx->compile_units())
      for (const llvm::DWARFDebugInfoEntry &e : cu->dies()) {
        llvm::DWARFDie d(cu.get(), &e);
        if (d.getTag() != dw::DW_TAG_variable || !d.find(dw::DW_AT_type)) continue;
        const char *n = d.getShortName();
        if (!n || strcmp(n, name) != 0) continue;
        llvm::DWARFDie scope = d.getParent();
        while (scope && scope.getTag() == dw::DW_TAG_lexical_block) scope = scope.getParent();
        bool global = scope.getTag() == dw::DW_TAG_compile_unit;
        const char *fn = global ? nullptr : scope.getShortName();
        if (function ? (fn && strcmp(fn, function) == 0) : global)
          return d.getAttributeValueAsReferencedDie(dw::DW_AT_type);
      }
    return {};
  }

  // Memory as the program starts: the file's allocated sections at their link-time addresses.
  size_t read(uint64_t addr, void *buf, size_t len) const {
    for (const bt::ElfSection &s : elf->sections()) {
      if (!s.present || s.compressed || !s.address || addr < s.address || addr >= s.address + s.data.size())
        continue;
      size_t n = std::min<uint64_t>(len, s.address + s.data.size() - addr);
      memcpy(buf, s.data.data() + (addr - s.address), n);
      return n;
    }
    return 0;
  }

  std::string symbolize(uint64_t addr, bool function) const {
    const bt::ElfSymbol *s = function ? elf->symbolFor(addr) : elf->objectFor(addr);
    if (!s || addr < s->address || addr >= s->address + std::max<uint64_t>(s->size, 1)) return "";
    return "<" + s->name.str() + (addr == s->address ? "" : "+" + std::to_string(addr - s->address)) + ">";
  }

  std::string globalBytes(const char *name) const {
    uint64_t addr = elf->objectAddress(name);
    const bt::ElfSymbol *s = addr ? elf->objectFor(addr) : nullptr;
    if (!s) return "";
    std::string bytes(s->size, '\0');
    return read(addr, bytes.data(), bytes.size()) == bytes.size() ? bytes : "";
  }
};

const Printing &printing() {
  static const Printing p = [] {
    Printing p;
    std::string path = fixture(kVarsFixture, p.error);
    if (path.empty()) return p;
    p.dwarf = openDwarf(path, p.error);
    if (!p.dwarf) return p;
    auto elf = bt::ElfFile::open(path);
    if (!elf) {
      p.error = llvm::toString(elf.takeError());
      return p;
    }
    p.elf = std::move(*elf);
    return p;
  }();
  return p;
}

template <typename T> void put(std::string &bytes, size_t offset, T v) {
  memcpy(bytes.data() + offset, &v, sizeof v);
}

struct Case {
  llvm::DWARFDie type;
  std::string bytes;
  std::string expectPrefix, expectSuffix;  // gdb's rendering starts and ends so
};

enum class Kind { Struct, Pointers, ArrayLimit, Repeats, String };

Case makeCase(const Printing &p, Kind kind) {
  Case c;
  switch (kind) {
  case Kind::Struct:  // struct rect g_rect = {{1, 2}, {30, 40}, "global", {7, 8, 9}}
    c.type = p.typeOf(nullptr, "g_rect");
    c.bytes = p.globalBytes("g_rect");
    // 9 NULs after "global" (the last one ends the string): below the repeat threshold.
    c.expectPrefix = "{tl = {x = 1, y = 2}, br = {x = 30, y = 40}, name = \"global\\000\\000";
    c.expectSuffix = "tags = {7, 8, 9}}";
    break;
  case Kind::Pointers: {  // struct holder h = {3, &g_rect, vc_callback, 0.5}
    c.type = p.typeOf("vc_middle", "h");
    c.bytes.assign(32, '\0');
    put(c.bytes, 0, int32_t(3));
    put(c.bytes, 8, p.elf->objectAddress("g_rect"));
    put(c.bytes, 16, p.elf->addressOf("vc_callback"));
    put(c.bytes, 24, 0.5);
    c.expectPrefix = "{n = 3, r = 0x";
    c.expectSuffix = " <vc_callback>, w = 0.5}";
    break;
  }
  case Kind::ArrayLimit:  // short big[220], big[k] = k: more than `print elements`
    c.type = p.typeOf("vc_middle", "big");
    for (int16_t k = 0; k < 220; ++k) c.bytes.append(reinterpret_cast<const char *>(&k), 2);
    c.expectPrefix = "{0, 1, 2, 3, ";
    c.expectSuffix = "198, 199...}";
    break;
  case Kind::Repeats:  // int reps[14] = {9, 7, ..., 7, 8}
    c.type = p.typeOf("vc_middle", "reps");
    for (int32_t v : {9, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8}) c.bytes.append(reinterpret_cast<const char *>(&v), 4);
    c.expectPrefix = "{9, 7 <repeats 12 times>, 8}";
    break;
  case Kind::String:  // const char g_msg[] = "hello, \"world\"\n"
    c.type = p.typeOf(nullptr, "g_msg");
    c.bytes = p.globalBytes("g_msg");
    c.expectPrefix = "\"hello, \\\"world\\\"\\n\"";
    break;
  }
  return c;
}

void BM_FormatValue(benchmark::State &state, Kind kind) {
  const Printing &p = printing();
  if (!require(state, p.error.empty(), p.error)) return;
  Case c = makeCase(p, kind);
  if (!require(state, c.type.isValid() && !c.bytes.empty(), "the fixture lacks the variable or its bytes")) return;
  bt::PrintContext ctx;
  ctx.read = [&p](uint64_t addr, void *buf, size_t len) { return p.read(addr, buf, len); };
  ctx.symbolize = [&p](uint64_t addr, bool function) { return p.symbolize(addr, function); };
  std::string text = bt::formatValue(c.type, c.bytes, std::nullopt, ctx);
  bool good = text.rfind(c.expectPrefix, 0) == 0 && text.size() >= c.expectSuffix.size() &&
              text.compare(text.size() - c.expectSuffix.size(), c.expectSuffix.size(), c.expectSuffix) == 0;
  if (!require(state, good, "rendered " + text)) return;
  for (auto _ : state) {
    std::string s = bt::formatValue(c.type, c.bytes, std::nullopt, ctx);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(int64_t(state.iterations() * c.bytes.size()));
  state.SetLabel(text.size() > 48 ? text.substr(0, 45) + "..." : text);
}
BENCHMARK_CAPTURE(BM_FormatValue, struct_rect, Kind::Struct);
BENCHMARK_CAPTURE(BM_FormatValue, struct_with_pointers, Kind::Pointers);
BENCHMARK_CAPTURE(BM_FormatValue, short_array_220, Kind::ArrayLimit);
BENCHMARK_CAPTURE(BM_FormatValue, int_array_repeats, Kind::Repeats);
BENCHMARK_CAPTURE(BM_FormatValue, char_array_string, Kind::String);

}  // namespace
