// Synthetic call-frame information for tests and fuzzers: a little-endian byte writer with
// LEB128, and an .eh_frame (one CIE, one FDE for a push %rbp; mov %rsp,%rbp function at
// kFuncStart, as linked at kEhVaddr) with its .eh_frame_hdr search table.
#pragma once

#include <llvm/BinaryFormat/Dwarf.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace bt::synth {

namespace dw = llvm::dwarf;

// Little-endian bytes, LEB128 included (also DWARF expressions).
struct ByteWriter {
  std::string b;
  void u8(uint8_t v) { b.push_back(char(v)); }
  void u32(uint32_t v) { b.append(reinterpret_cast<const char *>(&v), 4); }
  void i32(int32_t v) { b.append(reinterpret_cast<const char *>(&v), 4); }
  void uleb(uint64_t v) {
    do {
      uint8_t x = v & 0x7f;
      v >>= 7;
      u8(x | (v ? 0x80 : 0));
    } while (v);
  }
  void sleb(int64_t v) {
    bool more = true;
    while (more) {
      uint8_t x = v & 0x7f;
      v >>= 7;
      more = !((v == 0 && !(x & 0x40)) || (v == -1 && (x & 0x40)));
      u8(x | (more ? 0x80 : 0));
    }
  }
  void patch32(size_t at, uint32_t v) { memcpy(&b[at], &v, 4); }
};

constexpr uint64_t kEhVaddr = 0x2000;
constexpr uint64_t kFuncStart = 0x1000;
constexpr uint64_t kFuncLen = 0x40;

// CIE "zR" (pcrel|sdata4 FDE pointers), CFA = rsp+8, RA at CFA-8; one FDE for a classic
// push %rbp; mov %rsp,%rbp prologue.
// `fdeProgram`, when given, replaces the FDE's call-frame instructions (the CIE's initial ones
// stay: CFA = rsp+8, RA at CFA-8).
inline std::string makeEhFrame(bool signalFrame = false, const std::string *fdeProgram = nullptr) {
  ByteWriter e;
  size_t cieStart = e.b.size();
  e.u32(0);  // length, patched
  e.u32(0);  // CIE id
  e.u8(1);   // version
  e.b += signalFrame ? "zRS" : "zR";
  e.u8(0);
  e.uleb(1);   // code align
  e.sleb(-8);  // data align
  e.u8(16);    // RA register
  e.uleb(1);   // augmentation data length
  e.u8(dw::DW_EH_PE_pcrel | dw::DW_EH_PE_sdata4);
  e.u8(dw::DW_CFA_def_cfa); e.uleb(7); e.uleb(8);
  e.u8(dw::DW_CFA_offset | 16); e.uleb(1);
  while ((e.b.size() - cieStart) % 8 != 0) e.u8(dw::DW_CFA_nop);
  e.patch32(cieStart, uint32_t(e.b.size() - cieStart - 4));

  size_t fdeStart = e.b.size();
  e.u32(0);
  e.u32(uint32_t(e.b.size() - cieStart));  // CIE pointer: distance back to the CIE
  e.i32(int32_t(int64_t(kFuncStart) - int64_t(kEhVaddr + e.b.size())));  // pcrel start
  e.u32(kFuncLen);
  e.uleb(0);  // augmentation data length
  if (fdeProgram) {
    e.b += *fdeProgram;
  } else {
    e.u8(dw::DW_CFA_advance_loc | 1);            // after push %rbp
    e.u8(dw::DW_CFA_def_cfa_offset); e.uleb(16);
    e.u8(dw::DW_CFA_offset | 6); e.uleb(2);      // rbp at CFA-16
    e.u8(dw::DW_CFA_advance_loc | 3);            // after mov %rsp,%rbp
    e.u8(dw::DW_CFA_def_cfa_register); e.uleb(6);
    e.u8(dw::DW_CFA_remember_state);
    e.u8(dw::DW_CFA_advance_loc | 0x30);         // epilogue: leave
    e.u8(dw::DW_CFA_def_cfa); e.uleb(7); e.uleb(8);
    e.u8(dw::DW_CFA_advance_loc | 1);
    e.u8(dw::DW_CFA_restore_state);
  }
  while ((e.b.size() - fdeStart) % 8 != 0) e.u8(dw::DW_CFA_nop);
  e.patch32(fdeStart, uint32_t(e.b.size() - fdeStart - 4));
  e.u32(0);  // terminator
  return e.b;
}

// .eh_frame_hdr at hdrVaddr with one table entry: kFuncStart -> the FDE at fdeOffset.
inline std::string makeHdr(uint64_t hdrVaddr, uint64_t fdeOffset) {
  ByteWriter h;
  h.u8(1);
  h.u8(dw::DW_EH_PE_pcrel | dw::DW_EH_PE_sdata4);
  h.u8(dw::DW_EH_PE_udata4);
  h.u8(dw::DW_EH_PE_datarel | dw::DW_EH_PE_sdata4);
  h.i32(int32_t(int64_t(kEhVaddr) - int64_t(hdrVaddr + 4)));
  h.u32(1);
  h.i32(int32_t(int64_t(kFuncStart) - int64_t(hdrVaddr)));
  h.i32(int32_t(int64_t(kEhVaddr + fdeOffset) - int64_t(hdrVaddr)));
  return h.b;
}

}  // namespace bt::synth
