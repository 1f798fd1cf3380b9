#include "amd64_registers.h"

#include "packet_codec.h"

#include <cstring>
#include <vector>

namespace bt::rsp {

namespace {

struct RegSlot {
  int size;  // bytes in the g block
};

// gdb's register numbering for amd64 Linux: 16 GPRs, rip, eflags, 6 segment registers,
// st0-7, 8 x87 control registers, xmm0-15, mxcsr, orig_rax, fs_base, gs_base.
const std::vector<int> &slotSizes() {
  static const std::vector<int> sizes = [] {
    std::vector<int> s;
    for (int i = 0; i < 17; ++i) s.push_back(8);  // rax..r15, rip
    for (int i = 0; i < 7; ++i) s.push_back(4);   // eflags, cs ss ds es fs gs
    for (int i = 0; i < 8; ++i) s.push_back(10);  // st0..st7
    for (int i = 0; i < 8; ++i) s.push_back(4);   // fctrl fstat ftag fiseg fioff foseg fooff fop
    for (int i = 0; i < 16; ++i) s.push_back(16);  // xmm0..xmm15
    s.push_back(4);                               // mxcsr
    for (int i = 0; i < 3; ++i) s.push_back(8);   // orig_rax, fs_base, gs_base
    return s;
  }();
  return sizes;
}

uint32_t u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
uint16_t u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

// gdb's full x87 tag word from FXSAVE's abridged one (i387-tdep.c: i387_supply_fxsave).
uint32_t fullTagWord(const uint8_t *fx) {
  uint8_t abridged = fx[4];
  unsigned top = (u16(fx + 2) >> 11) & 7;
  uint32_t tag = 0;
  for (unsigned reg = 0; reg < 8; ++reg) {
    unsigned t = 3;  // empty
    if (abridged & (1u << reg)) {
      const uint8_t *raw = fx + 32 + 16 * ((reg - top) & 7);
      unsigned exponent = u16(raw + 8) & 0x7fff;
      bool integer = raw[7] & 0x80;
      if (exponent == 0x7fff) {
        t = 2;
      } else if (exponent == 0) {
        bool fractionZero = true;
        for (int i = 0; i < 8; ++i)
          if (raw[i] & (i == 7 ? 0x7f : 0xff)) fractionZero = false;
        t = fractionZero && !integer ? 1 : 2;
      } else {
        t = integer ? 0 : 2;
      }
    }
    tag |= t << (2 * reg);
  }
  return tag;
}

// The bytes of register `regno`; empty if unavailable.
std::string registerBytes(const ThreadInfo &t, int regno) {
  const Registers &r = t.regs;
  auto le = [](uint64_t v, int n) { return std::string(reinterpret_cast<const char *>(&v), size_t(n)); };
  static const uint64_t Registers::*const kGpr[17] = {
      &Registers::rax, &Registers::rbx, &Registers::rcx, &Registers::rdx, &Registers::rsi,
      &Registers::rdi, &Registers::rbp, &Registers::rsp, &Registers::r8,  &Registers::r9,
      &Registers::r10, &Registers::r11, &Registers::r12, &Registers::r13, &Registers::r14,
      &Registers::r15, &Registers::rip};
  static const uint64_t Registers::*const kSeg[6] = {&Registers::cs, &Registers::ss, &Registers::ds,
                                                     &Registers::es, &Registers::fs, &Registers::gs};
  if (regno < 17) return le(r.*kGpr[regno], 8);
  if (regno == 17) return le(r.eflags, 4);
  if (regno < 24) return le(r.*kSeg[regno - 18], 4);
  if (regno >= 57) return le(regno == 57 ? r.orig_rax : regno == 58 ? r.fs_base : r.gs_base, 8);
  if (!t.fpregs) return {};
  const uint8_t *fx = t.fpregs->bytes;
  if (regno < 32) return std::string(reinterpret_cast<const char *>(fx + 32 + 16 * (regno - 24)), 10);
  switch (regno) {
    case 32: return le(u16(fx), 4);                 // fctrl
    case 33: return le(u16(fx + 2), 4);             // fstat
    case 34: return le(fullTagWord(fx), 4);         // ftag
    case 35: return le(u32(fx + 12) & 0xffff, 4);   // fiseg
    case 36: return le(u32(fx + 8), 4);             // fioff
    case 37: return le(u32(fx + 20) & 0xffff, 4);   // foseg
    case 38: return le(u32(fx + 16), 4);            // fooff
    case 39: return le(u16(fx + 6) & 0x7ff, 4);     // fop
    default: break;
  }
  if (regno < 56) return std::string(reinterpret_cast<const char *>(fx + 160 + 16 * (regno - 40)), 16);
  return le(u32(fx + 24), 4);  // mxcsr
}

}  // namespace

std::optional<std::string> encodeRegister(const ThreadInfo &t, const RegisterLayout &layout,
                                          int regno) {
  if (regno < 0 || regno >= layout.count()) return std::nullopt;
  std::string b = regno < kNumBaseRegisters ? registerBytes(t, regno) : std::string();
  if (b.empty()) return std::string(size_t(layout.size(regno)) * 2, 'x');
  return toHex(b.data(), b.size());
}

std::string encodeAllRegisters(const ThreadInfo &t) {
  static const RegisterLayout base(std::nullopt);
  std::string out;
  for (int i = 0; i < kNumBaseRegisters; ++i) out += *encodeRegister(t, base, i);
  return out;
}

// The 128-bit vector types, defined by each feature that uses them (as gdb's own sse and avx512
// feature files do).
constexpr const char *kVec128Types = R"(<vector id="v8bf16" type="bfloat16" count="8"/>
<vector id="v8h" type="ieee_half" count="8"/>
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v8_bfloat16" type="v8bf16"/><field name="v8_half" type="v8h"/>
<field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
<field name="uint128" type="uint128"/>
</union>
)";

static const std::string &baseDescription() {
  static const std::string xml = [] {
    std::string x = R"(<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<osabi>GNU/Linux</osabi>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
<field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>
)";
    const char *gprs[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9",
                          "r10", "r11", "r12", "r13", "r14", "r15"};
    for (const char *g : gprs) {
      std::string type = !strcmp(g, "rbp") || !strcmp(g, "rsp") ? "data_ptr" : "int64";
      x += std::string("<reg name=\"") + g + "\" bitsize=\"64\" type=\"" + type + "\"/>\n";
    }
    x += "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n";
    x += "<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n";
    for (const char *s : {"cs", "ss", "ds", "es", "fs", "gs"})
      x += std::string("<reg name=\"") + s + "\" bitsize=\"32\" type=\"int32\"/>\n";
    for (int i = 0; i < 8; ++i)
      x += "<reg name=\"st" + std::to_string(i) + "\" bitsize=\"80\" type=\"i387_ext\"/>\n";
    for (const char *f : {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"})
      x += std::string("<reg name=\"") + f + "\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n";
    x += R"(</feature>
<feature name="org.gnu.gdb.i386.sse">
)" + std::string(kVec128Types) + R"(<flags id="i386_mxcsr" size="4">
<field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
<field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
<field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
<field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
<field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
</flags>
)";
    for (int i = 0; i < 16; ++i)
      x += "<reg name=\"xmm" + std::to_string(i) + "\" bitsize=\"128\" type=\"vec128\"" +
           (i == 0 ? " regnum=\"40\"" : "") + "/>\n";
    x += R"(<reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.linux">
<reg name="orig_rax" bitsize="64" type="int" regnum="57"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
<reg name="fs_base" bitsize="64" type="int"/>
<reg name="gs_base" bitsize="64" type="int"/>
</feature>
)";
    return x;
  }();
  return xml;
}

RegisterLayout::RegisterLayout(std::optional<uint64_t> xcr0) : xml_(baseDescription()), sizes_(slotSizes()) {
  uint64_t x = xcr0.value_or(0);
  auto reg = [&](const std::string &name, int bits, const char *type) {
    xml_ += "<reg name=\"" + name + "\" bitsize=\"" + std::to_string(bits) + "\" type=\"" + type + "\"/>\n";
    sizes_.push_back(bits / 8);
  };
  // XCR0 bits: 2 AVX, 5-7 AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM), 9 PKRU (gdb's feature order).
  if (x & 4) {
    xml_ += "<feature name=\"org.gnu.gdb.i386.avx\">\n";
    for (int i = 0; i < 16; ++i) reg("ymm" + std::to_string(i) + "h", 128, "uint128");
    xml_ += "</feature>\n";
  }
  if ((x & 0xe0) == 0xe0) {
    xml_ += "<feature name=\"org.gnu.gdb.i386.avx512\">\n";
    xml_ += kVec128Types;
    for (int i = 16; i < 32; ++i) reg("xmm" + std::to_string(i), 128, "vec128");
    for (int i = 16; i < 32; ++i) reg("ymm" + std::to_string(i) + "h", 128, "uint128");
    xml_ += "<vector id=\"v2ui128\" type=\"uint128\" count=\"2\"/>\n";
    for (int i = 0; i < 8; ++i) reg("k" + std::to_string(i), 64, "uint64");
    for (int i = 0; i < 32; ++i) reg("zmm" + std::to_string(i) + "h", 256, "v2ui128");
    xml_ += "</feature>\n";
  }
  if (x & 0x200) {
    xml_ += "<feature name=\"org.gnu.gdb.i386.pkeys\">\n";
    reg("pkru", 32, "uint32");
    xml_ += "</feature>\n";
  }
  xml_ += "</target>\n";
}

}  // namespace bt::rsp
