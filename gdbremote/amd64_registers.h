// Amd64Registers: a thread's registers in the layout gdb's amd64 Linux target description
// (org.gnu.gdb.i386.core/sse/linux/segments) numbers them: the 560-byte `g` block, single
// registers for `p`, and the XML description itself. The FXSAVE area is translated as gdb's
// i387 code does (full tag word from the abridged one, fop masked, 32-bit fioff/fiseg split);
// registers a source lacks (no FP state) are sent as unavailable ("xx").
#pragma once

#include "target/target.h"

#include <optional>
#include <string>
#include <vector>

namespace bt::rsp {

constexpr int kNumBaseRegisters = 60;  // rax .. gs_base: the `g` block
constexpr int kRegRbp = 6, kRegRsp = 7, kRegRip = 16;

// The registers of the target description: the base set, plus the AVX, AVX-512 and PKRU
// features when the process's XCR0 says the CPU had them on (as gdb derives them from a core's
// XSAVE note), so gdb sees the same registers as on the core. Their contents are not captured:
// they are served as unavailable.
class RegisterLayout {
public:
  explicit RegisterLayout(std::optional<uint64_t> xcr0);
  const std::string &xml() const { return xml_; }
  int count() const { return int(sizes_.size()); }
  int size(int regno) const { return sizes_[size_t(regno)]; }

private:
  std::string xml_;
  std::vector<int> sizes_;  // bytes per register number
};

// Hex of the `g` block (the base registers; "xx" for unavailable bytes).
std::string encodeAllRegisters(const ThreadInfo &t);
// Hex of register `regno`, nullopt if the layout has no such register.
std::optional<std::string> encodeRegister(const ThreadInfo &t, const RegisterLayout &layout, int regno);

}  // namespace bt::rsp
