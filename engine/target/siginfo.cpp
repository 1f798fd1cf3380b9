#include "target/siginfo.h"

#include <csignal>
#include <cstring>

namespace bt {

SignalInfo decodeSiginfo(const uint8_t *si) {
  SignalInfo s;
  int32_t v[3];
  memcpy(v, si, 12);
  s.signo = v[0];
  s.err = v[1];
  s.code = v[2];
  // Fault signals carry si_addr at offset 16; signals sent by a process (si_code <= 0) carry the
  // sender's pid there instead.
  bool fault = s.signo == SIGSEGV || s.signo == SIGBUS || s.signo == SIGILL || s.signo == SIGFPE ||
               s.signo == SIGTRAP;
  // SI_KERNEL: the kernel raised it without an address (a general-protection fault, e.g. a
  // non-canonical address): si_addr is 0 then, which must not read as a NULL dereference.
  if (s.code > 0 && fault && s.code != kSiKernel) {
    memcpy(&s.address, si + 16, 8);
    s.hasAddress = true;
  } else if (s.code <= 0) {
    int32_t sender;
    memcpy(&sender, si + 16, 4);
    s.senderPid = sender;
  }
  return s;
}

}  // namespace bt
