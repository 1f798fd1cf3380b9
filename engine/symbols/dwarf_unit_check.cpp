#include "symbols/dwarf_unit_check.h"

#include "support/byte_cursor.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <unordered_map>
#include <vector>

namespace bt {

namespace {

// Skips one attribute value of `form`; false if the form is unknown or the value runs past the
// cursor's end (the unit's end).
bool skipForm(Cursor &c, uint64_t form, unsigned offsetSize, unsigned addrSize, unsigned version,
              bool indirectAllowed = true) {
  using namespace llvm::dwarf;
  auto skip = [&](uint64_t n) {
    if (!c.has(n)) c.ok = false;
    else c.pos += n;
    return c.ok;
  };
  switch (form) {
    case DW_FORM_addr: return skip(addrSize);
    case DW_FORM_flag_present: case DW_FORM_implicit_const: return true;
    case DW_FORM_data1: case DW_FORM_ref1: case DW_FORM_flag: case DW_FORM_strx1:
    case DW_FORM_addrx1: return skip(1);
    case DW_FORM_data2: case DW_FORM_ref2: case DW_FORM_strx2: case DW_FORM_addrx2: return skip(2);
    case DW_FORM_strx3: case DW_FORM_addrx3: return skip(3);
    case DW_FORM_data4: case DW_FORM_ref4: case DW_FORM_ref_sup4: case DW_FORM_strx4:
    case DW_FORM_addrx4: return skip(4);
    case DW_FORM_data8: case DW_FORM_ref8: case DW_FORM_ref_sig8: case DW_FORM_ref_sup8:
      return skip(8);
    case DW_FORM_data16: return skip(16);
    case DW_FORM_strp: case DW_FORM_line_strp: case DW_FORM_sec_offset: case DW_FORM_strp_sup:
    case DW_FORM_GNU_ref_alt: case DW_FORM_GNU_strp_alt: return skip(offsetSize);
    case DW_FORM_ref_addr: return skip(version <= 2 ? addrSize : offsetSize);
    case DW_FORM_sdata: c.sleb(); return c.ok;
    case DW_FORM_udata: case DW_FORM_ref_udata: case DW_FORM_strx: case DW_FORM_addrx:
    case DW_FORM_loclistx: case DW_FORM_rnglistx: case DW_FORM_GNU_addr_index:
    case DW_FORM_GNU_str_index: c.uleb(); return c.ok;
    case DW_FORM_string: c.cstr(); return c.ok;
    case DW_FORM_block1: return skip(c.get<uint8_t>()) && c.ok;
    case DW_FORM_block2: { uint16_t n = c.get<uint16_t>(); return c.ok && skip(n); }
    case DW_FORM_block4: { uint32_t n = c.get<uint32_t>(); return c.ok && skip(n); }
    case DW_FORM_block: case DW_FORM_exprloc: { uint64_t n = c.uleb(); return c.ok && skip(n); }
    case DW_FORM_indirect: {
      uint64_t f = c.uleb();
      return c.ok && indirectAllowed && skipForm(c, f, offsetSize, addrSize, version, false);
    }
    default: return false;
  }
}

}  // namespace

std::optional<std::string> checkUnitShape(llvm::StringRef debugInfo, llvm::StringRef debugAbbrev,
                                          uint64_t unitOffset) {
  using namespace llvm::dwarf;
  Cursor h(debugInfo, unitOffset);
  uint64_t length = h.get<uint32_t>();
  unsigned offsetSize = 4;
  if (length == 0xffffffff) {
    length = h.get<uint64_t>();
    offsetSize = 8;
  } else if (length >= 0xfffffff0) {
    return "a reserved unit length";
  }
  if (!h.ok || !h.has(length)) return "the unit runs past the end of .debug_info";
  uint64_t end = h.pos + length;
  uint16_t version = h.get<uint16_t>();
  if (version < 2 || version > 5) return "unsupported DWARF version " + std::to_string(version);
  uint8_t addrSize = 0;
  uint64_t abbrevOffset = 0;
  if (version >= 5) {
    uint8_t type = h.get<uint8_t>();
    addrSize = h.get<uint8_t>();
    abbrevOffset = offsetSize == 8 ? h.get<uint64_t>() : h.get<uint32_t>();
    if (type == DW_UT_skeleton || type == DW_UT_split_compile) h.get<uint64_t>();
    else if (type == DW_UT_type || type == DW_UT_split_type) {
      h.get<uint64_t>();
      if (offsetSize == 8) h.get<uint64_t>();
      else h.get<uint32_t>();
    } else if (type != DW_UT_compile && type != DW_UT_partial) {
      return "unknown unit type " + std::to_string(type);
    }
  } else {
    abbrevOffset = offsetSize == 8 ? h.get<uint64_t>() : h.get<uint32_t>();
    addrSize = h.get<uint8_t>();
  }
  if (!h.ok || h.pos > end) return "the unit header runs past the unit";
  if (addrSize != 4 && addrSize != 8) return "address size " + std::to_string(addrSize);

  // The abbreviation table: code -> attribute forms.
  if (abbrevOffset >= debugAbbrev.size()) return "its abbreviation table is past .debug_abbrev";
  std::unordered_map<uint64_t, std::vector<uint64_t>> abbrevs;  // code -> its attributes' forms
  Cursor a(debugAbbrev, abbrevOffset);
  while (true) {
    uint64_t code = a.uleb();
    if (!a.ok) return "its abbreviation table runs past .debug_abbrev";
    if (code == 0) break;
    std::vector<uint64_t> forms;
    a.uleb();          // tag
    a.get<uint8_t>();  // has children
    while (a.ok) {
      uint64_t attr = a.uleb(), form = a.uleb();
      if (attr == 0 && form == 0) break;
      if (form == DW_FORM_implicit_const) a.sleb();
      forms.push_back(form);
    }
    if (!a.ok) return "its abbreviation table runs past .debug_abbrev";
    abbrevs[code] = std::move(forms);
  }

  // Every DIE, each attribute skipped by its form, within the unit.
  Cursor d(debugInfo.substr(0, end), h.pos);
  while (d.pos < end) {
    uint64_t code = d.uleb();
    if (!d.ok) return "a DIE runs past the unit";
    if (code == 0) continue;  // the end of a sibling list
    auto it = abbrevs.find(code);
    if (it == abbrevs.end()) return "a DIE uses the undefined abbreviation " + std::to_string(code);
    for (uint64_t form : it->second)
      if (!skipForm(d, form, offsetSize, addrSize, version))
        return d.ok ? "an attribute has the unknown form " + std::to_string(form)
                    : "an attribute runs past the unit";
  }
  return std::nullopt;
}

}  // namespace bt
