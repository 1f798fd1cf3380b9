#include "target/siginfo.h"

#include <csignal>
#include <cstring>
#include <iterator>

namespace bt {

bool signalHasFaultAddress(int signo, int code) {
  bool fault = signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
               signo == SIGTRAP;
  return fault && code > 0 && code != kSiKernel;
}

const char *signalCodeName(int signo, int code) {
  // The codes any signal can carry (sent by a process, or SI_KERNEL).
  switch (code) {
    case 0: return "SI_USER";
    case kSiKernel: return "SI_KERNEL";
    case -1: return "SI_QUEUE";
    case -2: return "SI_TIMER";
    case -3: return "SI_MESGQ";
    case -4: return "SI_ASYNCIO";
    case -5: return "SI_SIGIO";
    case -6: return "SI_TKILL";
    case -7: return "SI_DETHREAD";
    case -60: return "SI_ASYNCNL";
  }
  static const char *const kSegv[] = {"SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR",
                                      "SEGV_ACCADI", "SEGV_ADIDERR", "SEGV_ADIPERR", "SEGV_MTEAERR",
                                      "SEGV_MTESERR", "SEGV_CPERR"};
  static const char *const kBus[] = {"BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR",
                                     "BUS_MCEERR_AO"};
  static const char *const kIll[] = {"ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC",
                                     "ILL_PRVREG", "ILL_COPROC", "ILL_BADSTK", "ILL_BADIADDR"};
  static const char *const kFpe[] = {"FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF",
                                     "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV", "FPE_FLTSUB",
                                     "FPE_DECOVF", "FPE_DECDIV", "FPE_DECERR", "FPE_INVASC",
                                     "FPE_INVDEC", "FPE_FLTUNK", "FPE_CONDTRAP"};
  static const char *const kTrap[] = {"TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT",
                                      "TRAP_UNK", "TRAP_PERF"};
  auto pick = [code](const auto &names) -> const char * {
    return code >= 1 && size_t(code) <= std::size(names) ? names[code - 1] : "";
  };
  switch (signo) {
    case SIGSEGV: return pick(kSegv);
    case SIGBUS: return pick(kBus);
    case SIGILL: return pick(kIll);
    case SIGFPE: return pick(kFpe);
    case SIGTRAP: return pick(kTrap);
  }
  return "";
}

const char *signalCodeName(const SignalInfo &s) {
  if (s.hasAddress && s.code <= 0) return "";
  // SI_USER names a kill() whose sender is known; code 0 without one is a code not recorded.
  if (s.code == 0 && !s.senderPid) return "";
  return signalCodeName(s.signo, s.code);
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
