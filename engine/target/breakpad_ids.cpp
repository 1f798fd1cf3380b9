#include "target/breakpad_ids.h"

#include <cctype>

namespace bt {

namespace {

bool isHex(llvm::StringRef s) {
  if (s.empty() || s.size() % 2) return false;
  for (char c : s)
    if (!isxdigit((unsigned char)c)) return false;
  return true;
}

}  // namespace

std::string breakpadDebugId(llvm::StringRef buildIdHex) {
  if (!isHex(buildIdHex)) return "";
  std::string b = buildIdHex.take_front(32).lower();
  b.resize(32, '0');  // a build-id shorter than a GUID is padded with zero bytes
  // The GUID's first three fields (4, 2 and 2 bytes) are stored little-endian.
  auto swapped = [&](size_t at, size_t bytes) {
    std::string out;
    for (size_t i = bytes; i-- > 0;) out += b.substr(at + 2 * i, 2);
    return out;
  };
  std::string id = swapped(0, 4) + swapped(8, 2) + swapped(12, 2) + b.substr(16) + "0";
  for (char &c : id) c = char(toupper((unsigned char)c));
  return id;
}

std::string breakpadCodeId(llvm::StringRef buildIdHex) {
  return isHex(buildIdHex) ? buildIdHex.lower() : "";
}

}  // namespace bt
