#include "support/hex.h"

#include <cinttypes>
#include <cstdio>

namespace bt {

std::string hexU64(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

bool parseHexU64(llvm::StringRef s, uint64_t &out) {
  if (!s.consume_front("0x") || s.empty() || s.size() > 16) return false;
  return !s.getAsInteger(16, out);
}

}  // namespace bt
