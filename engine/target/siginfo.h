// siginfo_t as the kernel lays it out on x86-64 (in a core's NT_SIGINFO note, or in the memory of
// a process inside its signal handler), decoded once for every source: number, errno, code, and
// either the fault address (a fault signal the kernel raised: si_code > 0, except SI_KERNEL, which
// has none) or the sender's pid (a signal sent by a process: si_code <= 0).
#pragma once

#include "target/target.h"

#include <cstddef>
#include <cstdint>

namespace bt {

constexpr size_t kSiginfoMinSize = 24;  // what decodeSiginfo reads
constexpr int kSiKernel = 0x80;         // si_code SI_KERNEL: raised by the kernel, no address

// A SIGSEGV the kernel raised without a fault address: a general-protection fault.
inline bool isGeneralProtectionFault(const SignalInfo &s) {
  return s.signo == 11 /* SIGSEGV */ && s.code == kSiKernel && !s.hasAddress;
}

// A Linux signal number (1..64); anything else in a note or a dump is damage.
inline bool isLinuxSignal(int signo) { return signo > 0 && signo <= 64; }

// A fault signal the kernel raised with an address: si_code > 0 (not sent by a process) and not
// SI_KERNEL, which gives none (si_addr is 0 then and must not read as a NULL dereference).
bool signalHasFaultAddress(int signo, int code);

// si_code's name as <signal.h> spells it, for the signal it came with: "SEGV_MAPERR",
// "BUS_ADRALN", "SI_TKILL", "SI_KERNEL"; "" for a code Linux does not define for that signal.
const char *signalCodeName(int signo, int code);
// The same for a decoded signal, "" also when its code is not credible: 0 (SI_USER) with an
// address or without a sender (Breakpad's older writers left si_code out as 0).
const char *signalCodeName(const SignalInfo &s);

// `si` holds at least kSiginfoMinSize bytes.
SignalInfo decodeSiginfo(const uint8_t *si);

}  // namespace bt
