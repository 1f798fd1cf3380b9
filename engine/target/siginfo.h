// siginfo_t as the kernel lays it out on x86-64 (in a core's NT_SIGINFO note, or in the memory of
// a process inside its signal handler), decoded once for every source: number, errno, code, and
// either the fault address (a fault signal the kernel raised: si_code > 0) or the sender's pid (a
// signal sent by a process: si_code <= 0).
#pragma once

#include "target/target.h"

#include <cstddef>
#include <cstdint>

namespace bt {

constexpr size_t kSiginfoMinSize = 24;  // what decodeSiginfo reads

// `si` holds at least kSiginfoMinSize bytes.
SignalInfo decodeSiginfo(const uint8_t *si);

}  // namespace bt
