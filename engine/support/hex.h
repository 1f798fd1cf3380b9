// Addresses as text, one spelling everywhere: "0x1f" (lowercase, no padding) — the snapshot's
// JSON, the JSON output and the analysis' evidence all write them so.
#pragma once

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <string>

namespace bt {

std::string hexU64(uint64_t v);
// A whole "0x..." string (at most 16 digits) -> its value; false if it is not one.
bool parseHexU64(llvm::StringRef s, uint64_t &out);

}  // namespace bt
