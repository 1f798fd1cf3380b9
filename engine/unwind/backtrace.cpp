#include "unwind/backtrace.h"

#include "symbols/symbolizer.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace bt {

const char *signalName(int signo) {
  switch (signo) {
    case SIGHUP: return "SIGHUP";   case SIGINT: return "SIGINT";   case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";   case SIGTRAP: return "SIGTRAP"; case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";   case SIGFPE: return "SIGFPE";   case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1"; case SIGSEGV: return "SIGSEGV"; case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE"; case SIGALRM: return "SIGALRM"; case SIGTERM: return "SIGTERM";
    case SIGCHLD: return "SIGCHLD"; case SIGCONT: return "SIGCONT"; case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP"; case SIGSYS: return "SIGSYS";   case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    default: break;
  }
  static thread_local char buf[16];
  snprintf(buf, sizeof buf, "SIG%d", signo);
  return buf;
}

static bool isOutermostFunction(const std::string &fn) {
  return fn == "_start" || fn == "clone" || fn == "clone3" || fn == "__clone" ||
         fn == "__clone3" || fn == "__GI___clone" || fn == "__GI___clone3";
}

std::vector<ThreadBacktrace> buildBacktraces(Target &target, Symbolizer &symbols,
                                             const UnwindOptions &opts) {
  Unwinder unwinder(target, symbols, opts);
  std::vector<ThreadBacktrace> out;
  for (const ThreadInfo &t : target.threads()) {
    ThreadBacktrace tb;
    tb.tid = t.tid;
    tb.name = t.name;
    tb.signal = t.signal;
    tb.crashed = target.crashedTid() && *target.crashedTid() == t.tid;
    UnwindResult ur = unwinder.unwind(t.regs);
    tb.stopReason = ur.stopReason;
    // Insert the frames of tail calls that CFI cannot see (gdb's "tailcall frames").
    std::vector<PhysicalFrame> frames;
    for (size_t i = 0; i < ur.frames.size(); ++i) {
      frames.push_back(ur.frames[i]);
      if (i + 1 >= ur.frames.size() || ur.frames[i + 1].how != FrameHow::Cfi ||
          ur.frames[i].signalTrampoline)
        continue;
      const PhysicalFrame &callee = ur.frames[i];
      for (uint64_t pc : symbols.tailCallChain(target, callee.pc, callee.pcExact,
                                               ur.frames[i + 1].pc)) {
        PhysicalFrame tf;
        tf.pc = pc;
        tf.how = FrameHow::TailCall;
        tf.pcExact = false;
        frames.push_back(tf);
      }
    }
    for (const PhysicalFrame &pf : frames) {
      bool exact = pf.pcExact || pf.signalTrampoline;
      std::vector<SourceLocation> chain = symbols.symbolize(target, pf.pc, exact);
      const ModuleInfo *mod = target.moduleFor(exact ? pf.pc : pf.pc - 1);
      Frame base;
      base.pc = pf.pc;
      base.how = pf.how;
      base.suspect = pf.suspect;
      base.signalTrampoline = pf.signalTrampoline;
      if (mod) {
        base.module = mod->path;
        base.moduleOffset = pf.pc - mod->loadBias;
      }
      if (chain.empty()) chain.push_back({});
      // gdb shows a tail-call frame as the innermost function at its pc only.
      if (pf.how == FrameHow::TailCall) {
        chain.resize(1);
        chain[0].inlined = false;
      }
      bool outermost = false;
      for (const SourceLocation &loc : chain) {
        Frame f = base;
        f.index = tb.frames.size();
        f.function = loc.function;
        f.file = loc.file;
        f.line = loc.line;
        f.column = loc.column;
        f.inlined = loc.inlined;
        outermost |= !loc.inlined && isOutermostFunction(loc.function);
        tb.frames.push_back(std::move(f));
      }
      if (outermost) break;
    }
    out.push_back(std::move(tb));
  }
  // Crashing thread first, the others in tid order.
  std::stable_sort(out.begin(), out.end(), [](const ThreadBacktrace &a, const ThreadBacktrace &b) {
    if (a.crashed != b.crashed) return a.crashed;
    return a.tid < b.tid;
  });
  return out;
}

}  // namespace bt
