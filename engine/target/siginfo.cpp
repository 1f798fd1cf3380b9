#include "target/siginfo.h"

#include <csignal>
#include <cstring>

namespace bt {

bool signalHasFaultAddress(int signo, int code) {
  bool fault = signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
               signo == SIGTRAP;
  return fault && code > 0 && code != kSiKernel;
}

SignalInfo decodeSiginfo(const uint8_t *si) {
  SignalInfo s;
  int32_t v[3];
  memcpy(v, si, 12);
  s.signo = v[0];
  s.err = v[1];
  s.code = v[2];
  // Fault signals carry si_addr at offset 16; signals sent by a process (si_code <= 0) carry the
  // sender's pid there instead.
  if (signalHasFaultAddress(s.signo, s.code)) {
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
