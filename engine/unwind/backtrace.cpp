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

std::vector<UnwindResult> unwindAllThreads(Target &target, Symbolizer &symbols,
                                           const UnwindOptions &opts) {
  Unwinder unwinder(target, symbols, opts);
  std::vector<UnwindResult> unwound;
  for (const ThreadInfo &t : target.threads()) {
    if (opts.interrupted && opts.interrupted()) {
      unwound.emplace_back().stopReason = "interrupted";
      continue;
    }
    unwound.push_back(unwinder.unwind(t.regs));
    unwound.back().threadPointer = t.regs.fs_base;
  }
  return unwound;
}

std::vector<ThreadBacktrace> buildBacktraces(Target &target, Symbolizer &symbols,
                                             const UnwindOptions &opts) {
  return symbolizeBacktraces(target, symbols, unwindAllThreads(target, symbols, opts), opts);
}

std::vector<ThreadBacktrace> symbolizeBacktraces(const Target &target, Symbolizer &symbols,
                                                 const std::vector<UnwindResult> &unwound,
                                                 const UnwindOptions &opts,
                                                 const ScopeVisitorFactory &variables) {
  // 2. Symbolize all physical frames in one batch, grouped by module and compile unit.
  auto exactOf = [](const PhysicalFrame &pf) { return pf.pcExact || pf.signalTrampoline; };
  std::vector<Symbolizer::RuntimeQuery> queries;
  std::vector<ScopeVisitor> visitors;  // must outlive symbolizeAll: queries point into it
  if (variables) {
    size_t total = 0;
    for (const UnwindResult &ur : unwound) total += ur.frames.size();
    visitors.reserve(total);
  }
  for (const UnwindResult &ur : unwound)
    for (size_t i = 0; i < ur.frames.size(); ++i) {
      Symbolizer::RuntimeQuery rq{ur.frames[i].pc, exactOf(ur.frames[i])};
      if (variables) {
        visitors.push_back(variables(ur, i, std::nullopt));
        rq.visit = &visitors.back();
      }
      queries.push_back(rq);
    }
  std::vector<PcInfo> infos = symbols.symbolizeAll(target, queries);

  std::vector<ThreadBacktrace> out;
  size_t q = 0;
  for (size_t ti = 0; ti < unwound.size(); ++ti) {
    const ThreadInfo &t = target.threads()[ti];
    const UnwindResult &ur = unwound[ti];
    ThreadBacktrace tb;
    tb.tid = t.tid;
    tb.name = t.name;
    tb.signal = t.signal;
    tb.crashed = target.crashedTid() && *target.crashedTid() == t.tid;
    tb.stopReason = ur.stopReason;
    const PcInfo *frameInfo = &infos[q];
    q += ur.frames.size();

    // 3. Insert tail-call frames where the caller's call site calls another function than the
    // one the callee frame is in (gdb's "tailcall frames").
    std::vector<std::pair<PhysicalFrame, PcInfo>> frames;
    for (size_t i = 0; i < ur.frames.size(); ++i) {
      frames.emplace_back(ur.frames[i], frameInfo[i]);
      if (i + 1 >= ur.frames.size() || ur.frames[i + 1].how != FrameHow::Cfi ||
          ur.frames[i].signalTrampoline)
        continue;
      const PcInfo &callee = frameInfo[i], &caller = frameInfo[i + 1];
      bool knownTarget = caller.callTarget || !caller.callTargetName.empty();
      if (!callee.functionEntry || !knownTarget || callee.functionEntry == caller.callTarget)
        continue;
      std::vector<uint64_t> chain =
          symbols.tailCallChain(target, ur.frames[i].pc, ur.frames[i].pcExact, callee, caller);
      for (size_t level = 0; level < chain.size(); ++level) {
        PhysicalFrame tf;
        tf.pc = chain[level];
        tf.how = FrameHow::TailCall;
        tf.pcExact = false;
        PcInfo ti;
        // Its variables are read like gdb's: in the caller's registers as unwound, at the jump.
        ScopeVisitor visit;
        if (variables) visit = variables(ur, i, TailCallPosition{chain, level});
        ti.chain = symbols.symbolizeAll(target, {{tf.pc, false, visit ? &visit : nullptr}})[0].chain;
        // gdb shows a tail-call frame as the innermost function at its pc only.
        if (ti.chain.size() > 1) ti.chain.resize(1);
        if (!ti.chain.empty()) ti.chain[0].inlined = false;
        frames.emplace_back(tf, std::move(ti));
      }
    }

    // 4. Expand inline chains into frames.
    for (auto &[pf, info] : frames) {
      bool exact = exactOf(pf);
      const ModuleInfo *mod = target.moduleFor(exact ? pf.pc : pf.pc - 1);
      Frame base;
      base.pc = pf.pc;
      base.how = pf.how;
      base.suspect = pf.suspect;
      base.signalTrampoline = pf.signalTrampoline;
      if (mod) {
        base.module = mod->path;
        base.moduleOffset = pf.pc - mod->loadBias;
        base.buildIdMismatch = mod->mismatch;
      }
      std::vector<SourceLocation> chain = info.chain;
      if (chain.empty()) chain.push_back({});
      bool outermost = false;
      for (const SourceLocation &loc : chain) {
        Frame f = base;
        f.index = tb.frames.size();
        f.function = loc.function;
        f.file = loc.file;
        f.line = loc.line;
        f.column = loc.column;
        f.inlined = loc.inlined;
        f.variables = loc.variables;
        // gdb says "No locals." for a signal trampoline that debug info covers (an empty,
        // read list), and "No symbol table info available." where none does.
        f.variablesRequested = bool(variables);
        f.variablesRead = variables &&
                          ((!loc.function.empty() && !loc.file.empty()) ||
                           (pf.signalTrampoline && info.inCompileUnit));
        outermost |= !loc.inlined && isOutermostFunction(loc.function);
        // Like gdb (backtrace past-main off): the C runtime's frames below main are noise.
        outermost |= !loc.inlined && !opts.pastMain && loc.function == "main" && mod &&
                     mod->isMainExecutable;
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
