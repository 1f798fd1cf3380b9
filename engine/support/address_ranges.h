// Address ranges [start, end) as the capture code handles them: merged, subtracted, intersected.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace bt {

using AddressRanges = std::vector<std::pair<uint64_t, uint64_t>>;

// Sorted and disjoint, overlapping and adjacent ranges joined, empty ones dropped.
AddressRanges mergeRanges(AddressRanges ranges);
// The parts of `ranges` that `covered` (sorted, disjoint) does not cover.
AddressRanges uncoveredRanges(const AddressRanges &ranges, const AddressRanges &covered);
// The parts of `a` also in `b` (both sorted and disjoint).
AddressRanges intersectRanges(const AddressRanges &a, const AddressRanges &b);

}  // namespace bt
