#include "support/address_ranges.h"

#include <algorithm>

namespace bt {

AddressRanges mergeRanges(AddressRanges r) {
  std::sort(r.begin(), r.end());
  AddressRanges out;
  for (auto [s, e] : r) {
    if (e <= s) continue;
    if (!out.empty() && s <= out.back().second) out.back().second = std::max(out.back().second, e);
    else out.emplace_back(s, e);
  }
  return out;
}

AddressRanges uncoveredRanges(const AddressRanges &ranges, const AddressRanges &covered) {
  AddressRanges out;
  for (auto [start, end] : ranges) {
    uint64_t at = start;
    for (auto [a, b] : covered) {
      if (b <= at || a >= end) continue;
      if (a > at) out.emplace_back(at, a);
      at = std::max(at, b);
    }
    if (at < end) out.emplace_back(at, end);
  }
  return out;
}

AddressRanges intersectRanges(const AddressRanges &a, const AddressRanges &b) {
  AddressRanges out;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    uint64_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (lo < hi) out.emplace_back(lo, hi);
    if (a[i].second < b[j].second) ++i;
    else ++j;
  }
  return out;
}

}  // namespace bt
