// Fuzz target for call-frame information (engine/unwind/cfi): a CfiTable over untrusted
// .eh_frame, .eh_frame_hdr and .debug_frame bytes, asked for the rows of a range of PCs, and
// every DWARF expression a row holds evaluated. Input: [flags u8][hdr length u16][hdr][eh_frame];
// flags bit 0 also serves the eh_frame bytes as .debug_frame. Seeds: the synthetic .eh_frame
// and .eh_frame_hdr of tests/synth. Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "synth/cfi_builder.h"
#include "unwind/cfi.h"

#include <cstring>

namespace {

using bt::fuzz::Bytes;

constexpr uint64_t kHdrVaddr = 0x3000;

struct Parts {
  uint8_t flags = 0;
  Bytes hdr, eh;
};

bool decode(const uint8_t *data, size_t size, Parts &p) {
  if (size < 3) return false;
  p.flags = data[0];
  size_t hdrLen = size_t(data[1]) | size_t(data[2]) << 8;
  if (hdrLen > size - 3) hdrLen = size - 3;
  p.hdr.assign(reinterpret_cast<const char *>(data) + 3, hdrLen);
  p.eh.assign(reinterpret_cast<const char *>(data) + 3 + hdrLen, size - 3 - hdrLen);
  return true;
}

Bytes encode(const Parts &p) {
  Bytes out(1, char(p.flags));
  uint16_t n = uint16_t(std::min<size_t>(p.hdr.size(), 0xffff));
  out += char(n & 0xff);
  out += char(n >> 8);
  return out + p.hdr.substr(0, n) + p.eh;
}

std::optional<uint64_t> reg(void *, int r) {
  if (r < 0 || r > 16) return std::nullopt;
  return 0x7ff000 + uint64_t(r) * 8;
}
std::optional<uint64_t> mem(void *, uint64_t a, unsigned) {
  if (a < 0x1000) return std::nullopt;
  return a ^ 0x5a5a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Parts p;
  if (!decode(data, size, p)) return 0;
  bt::CfiTable t({p.eh, bt::synth::kEhVaddr, true}, {p.hdr, kHdrVaddr, true},
                 {(p.flags & 1) ? llvm::StringRef(p.eh) : llvm::StringRef(), 0, false});
  bt::ExprContext ec{reg, mem, nullptr};
  uint64_t from = bt::synth::kFuncStart - 8;
  for (uint64_t pc = from; pc < from + bt::synth::kFuncLen + 16; pc += 3) {
    std::optional<bt::CfiRow> row = t.rowFor(pc);
    if (!row) continue;
    if (row->cfaIsExpr) (void)bt::evalDwarfExpr(row->cfaExpr, ec, std::nullopt);
    for (const bt::RegRule &r : row->regs)
      if (r.kind == bt::RegRule::Expression || r.kind == bt::RegRule::ValExpression)
        (void)bt::evalDwarfExpr(r.expr, ec, 0x7ff100);
  }
  // PCs far away and at the edges of the address space.
  for (uint64_t pc : {uint64_t(0), uint64_t(1), ~uint64_t(0), uint64_t(0x7fffffffffffffff)})
    (void)t.rowFor(pc);
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  bt::fuzz::TargetInfo info;
  info.name = "cfi_fuzz";
  std::string eh = bt::synth::makeEhFrame(), ehS = bt::synth::makeEhFrame(true);
  // The FDE follows the 24-byte CIE (see makeEhFrame).
  info.seeds = {encode({0, bt::synth::makeHdr(kHdrVaddr, 24), eh}), encode({1, "", ehS}),
                encode({0, "", eh})};
  info.mutate = [](const Bytes &seed, bt::fuzz::Rng &r, std::vector<Bytes> &pool) {
    Parts p;
    if (!decode(reinterpret_cast<const uint8_t *>(seed.data()), seed.size(), p)) return seed;
    for (int i = 0, n = 1 + int(r.below(3)); i < n; ++i) {
      switch (r.below(4)) {
      case 0: bt::fuzz::mutateBytes(p.hdr, r, p.hdr.size() * 2 + 64); break;
      case 1: p.flags ^= uint8_t(1u << r.below(8)); break;
      default: bt::fuzz::mutateBytes(p.eh, r, p.eh.size() * 2 + 256); break;
      }
    }
    Bytes out = encode(p);
    if (r.chance(8)) pool.push_back(out);
    return out;
  };
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
