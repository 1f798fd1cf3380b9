#include "analysis/fault_rules.h"

#include "support/hex.h"

#include "analysis/highlight.h"
#include "analysis/rust_panic.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/ADT/StringRef.h>

#include <algorithm>
#include <csignal>
#include <map>

namespace bt {

namespace {

constexpr const char *kExploitable = "exploitable";
constexpr const char *kProbablyExploitable = "probably_exploitable";
constexpr const char *kProbablyNot = "probably_not_exploitable";
constexpr const char *kUnknown = "unknown";

constexpr uint64_t kStackReach = 64 * 1024;  // a push, call or frame allocation reaches this far

bool isCanonical(uint64_t a) { return a < 0x0000800000000000ull || a >= 0xffff800000000000ull; }

// Eight bytes of which at least four are printable ASCII and the rest zero: a pointer that was
// overwritten by text (a string copied past the end of its buffer).
bool looksLikeText(uint64_t a) {
  int printable = 0;
  for (int i = 0; i < 8; ++i) {
    unsigned b = (a >> (8 * i)) & 0xff;
    if (b >= 0x20 && b < 0x7f) ++printable;
    else if (b != 0) return false;
  }
  return printable >= 4;
}

std::string asText(uint64_t a) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    if (char c = char((a >> (8 * i)) & 0xff)) s += c;
  return s;
}

class Facts {
public:
  explicit Facts(const FaultFacts &f) : f_(f) {}

  const MemoryRegion *region(uint64_t a) const { return findContaining(f_.regions, a); }
  const ModuleInfo *module(uint64_t a) const { return findContaining(f_.modules, a); }
  // The mapping in words: "[stack]", "text of libc.so.6 (r-x)", "anonymous mapping (rw-)".
  std::string describe(const MemoryRegion &r) const {
    std::string perms = std::string(r.perms & PermRead ? "r" : "-") +
                        (r.perms & PermWrite ? "w" : "-") + (r.perms & PermExec ? "x" : "-");
    std::string base = llvm::StringRef(r.path).rsplit('/').second.str();
    if (base.empty()) base = r.path;
    std::string what;
    if (!r.path.empty() && r.path[0] == '[') what = r.path;
    else if (!r.path.empty() && (r.perms & PermExec)) what = "code of " + base;
    else if (!r.path.empty() && !(r.perms & PermWrite)) what = "read-only data of " + base;
    else if (!r.path.empty()) what = "writable data of " + base;
    else what = "anonymous mapping";
    return what + " (" + perms + ")";
  }
  std::string where(uint64_t a) const {
    const MemoryRegion *r = region(a);
    return r ? describe(*r) : "no mapping";
  }
  bool hasFrame(llvm::StringRef name) const {
    return std::any_of(f_.frames.begin(), f_.frames.end(),
                       [&](const Frame &fr) { return fr.function == name; });
  }
  const std::string &abortMessage() const {
    static const std::string none;
    return f_.evidence ? f_.evidence->abortMessage : none;
  }
  // The stack pointer and pc of the crashed thread (from its registers, else frame 0).
  std::optional<uint64_t> sp() const {
    if (f_.evidence) return f_.evidence->regs.rsp;
    return std::nullopt;
  }
  std::optional<uint64_t> pc() const {
    if (f_.evidence) return f_.evidence->regs.rip;
    if (!f_.frames.empty()) return f_.frames.front().pc;
    return std::nullopt;
  }
  // The fault address: the kernel's when it gave one, else the instruction's effective address
  // (a general-protection fault on a non-canonical address reports none).
  std::optional<uint64_t> faultAddress() const {
    std::optional<uint64_t> ea = f_.instruction ? f_.instruction->effectiveAddress : std::nullopt;
    // The CPU cannot report a non-canonical address: the kernel says 0 (or nothing) for it.
    if (ea && !isCanonical(*ea)) return ea;
    if (f_.signal && f_.signal->hasAddress) return f_.signal->address;
    return ea;
  }
  // The pc is in code: an executable mapping, or — when the source lists no mapping there (a
  // minidump without /proc/PID/maps) — a module.
  bool inCode(uint64_t pc) const {
    const MemoryRegion *r = region(pc);
    // A minidump without /proc/PID/maps has only its memory list as regions: nameless, and their
    // permissions made up. There a module says more.
    if (r && (!r->path.empty() || !module(pc))) return r->perms & PermExec;
    return module(pc) != nullptr;
  }
  bool isStack(const MemoryRegion &r) const { return llvm::StringRef(r.path).starts_with("[stack"); }

private:
  const FaultFacts &f_;
};

Classification make(const char *kind, const char *severity, const char *rule, std::string reason) {
  return makeClassification(kind, severity, rule, std::move(reason));
}

bool isHeapMessage(llvm::StringRef m) {
  for (const char *p : {"double free", "free(): ", "malloc(): ", "realloc(): ", "calloc(): ",
                        "corrupted size vs. prev_size", "corrupted double-linked list",
                        "munmap_chunk(): ", "malloc_consolidate(): ", "tcache_thread_shutdown(): ",
                        "memalign(): ", "_int_malloc(): "})
    if (m.contains(p)) return true;
  return false;
}

// Checks the C library made before it aborted (they name the bug better than the signal does).
std::optional<Classification> libraryCheck(const Facts &x, const FaultFacts &f) {
  llvm::StringRef msg = x.abortMessage();
  std::optional<Classification> c;
  if (x.hasFrame("__stack_chk_fail") || msg.contains("stack smashing detected")) {
    c = make("stack-buffer-overflow", kExploitable, "stack-protector",
             "the stack protector found its canary overwritten: a buffer on the stack was "
             "written past its end");
  } else if (x.hasFrame("__chk_fail") || x.hasFrame("__fortify_fail") ||
             msg.contains("buffer overflow detected")) {
    c = make("buffer-overflow", kExploitable, "fortify-check",
             "a _FORTIFY_SOURCE check found a copy larger than its destination buffer");
  } else if (x.hasFrame("malloc_printerr") || isHeapMessage(msg)) {
    // "double free or corruption (out)" is either: only the tcache's check and "(fasttop)" (the
    // chunk is the fastbin's first) are certain (the allocator state can tell the rest).
    const char *kind = msg.contains("double free detected") || msg.contains("(fasttop)") ? "double-free"
                       : msg.contains("invalid pointer") ? "invalid-free"
                                                         : "heap-corruption";
    c = make(kind, kExploitable, "glibc-heap-check",
             msg.empty() ? std::string("glibc's allocator found its heap corrupted")
                         : "glibc's allocator stopped the program: " + msg.str());
  } else if (auto a = parseAssertMessage(msg.str())) {
    c = make("assertion-failure", kProbablyNot, "assert",
             "assertion `" + a->expression + "' failed in " + a->function + " at " + a->file +
                 ":" + std::to_string(a->line));
    c->evidence.push_back({"expression", a->expression});
    c->evidence.push_back({"file", a->file});
    c->evidence.push_back({"line", std::to_string(a->line)});
    c->evidence.push_back({"function", a->function});
  } else if (x.hasFrame("__assert_fail") || x.hasFrame("__assert_fail_base")) {
    c = make("assertion-failure", kProbablyNot, "assert",
             "an assertion failed (its message could not be read)");
  } else if (x.hasFrame("std::terminate") || x.hasFrame("__cxa_throw") ||
             x.hasFrame("__cxxabiv1::__terminate") || x.hasFrame("__cxa_rethrow") ||
             (f.signal && f.signal->signo == SIGABRT && f.evidence && f.evidence->exception)) {
    const ThrownException *e = f.evidence && f.evidence->exception ? &*f.evidence->exception : nullptr;
    std::string reason = "a C++ exception was not caught and std::terminate aborted the program";
    if (e) {
      reason = "uncaught C++ exception of type " + e->type;
      if (!e->what.empty()) reason += ": " + e->what;
    }
    c = make("uncaught-exception", kProbablyNot, "uncaught-exception", reason);
    if (e) {
      c->evidence.push_back({"exception_type", e->type});
      if (!e->what.empty()) c->evidence.push_back({"what", e->what});
      c->evidence.push_back({"exception_object", hexU64(e->object)});
    }
  }
  if (c && !msg.empty()) c->evidence.push_back({"abort_message", msg.str()});
  return c;
}

// A Rust panic that ended the process: the panic runtime (panic=abort), an aborting panic hook, a
// panic that cannot unwind, all call abort() (SIGABRT) or core::intrinsics::abort (a trap
// instruction) from inside the panic machinery. A fault (SIGSEGV, SIGBUS) keeps its own
// classification: the machinery raises no such signal.
std::optional<Classification> rustPanic(const FaultFacts &f) {
  const SignalInfo &s = *f.signal;
  bool trap = (s.signo == SIGILL && f.instruction && f.instruction->access == AccessKind::Trap) ||
              s.signo == SIGTRAP;
  if (s.signo != SIGABRT && !trap) return std::nullopt;
  if (std::none_of(f.frames.begin(), f.frames.end(),
                   [](const Frame &fr) { return isRustPanicFrame(fr.function); }))
    return std::nullopt;
  const RustPanic *p = f.evidence && f.evidence->rustPanic ? &*f.evidence->rustPanic : nullptr;
  std::string reason = "a Rust panic";
  std::string location = p ? p->file + ":" + std::to_string(p->line) + ":" + std::to_string(p->column) : "";
  if (p && p->hasMessage) reason += ": '" + p->message + "'";
  if (p) reason += " at " + location;
  Classification c = make("rust-panic", kProbablyNot, "rust-panic", reason);
  if (p && p->hasMessage) c.evidence.push_back({"panic_message", p->message});
  if (p) c.evidence.push_back({"panic_location", location});
  // The standard library has no variable DWARF: the message and location were found by a
  // layout-validated scan of the stack, not read by name. Say so, with where it was found.
  if (p)
    c.evidence.push_back(
        {"panic_source", "stack scan by layout (heuristic), PanicHookInfo at " + hexU64(p->at)});
  return c;
}

std::string accessWord(AccessKind k) {
  switch (k) {
  case AccessKind::Write: return "write";
  case AccessKind::ReadWrite: return "read-modify-write";
  case AccessKind::BlockMove: return "block move";
  case AccessKind::Call: return "call";
  case AccessKind::Jump: return "jump";
  case AccessKind::Return: return "return";
  default: return "read";
  }
}

bool writes(AccessKind k) {
  return k == AccessKind::Write || k == AccessKind::ReadWrite || k == AccessKind::BlockMove;
}

// SIGSEGV/SIGBUS where the pc itself is bad: the program jumped somewhere it must not.
std::optional<Classification> badPc(const Facts &x, const FaultFacts &f) {
  std::optional<uint64_t> pc = x.pc();
  if (!pc) return std::nullopt;
  if (x.inCode(*pc)) return std::nullopt;
  const MemoryRegion *r = x.region(*pc);
  std::optional<Classification> c;
  const CrashEvidence *e = f.evidence ? &*f.evidence : nullptr;
  // A call pushes its return address; a ret pops the bad address and leaves it just below.
  bool called = f.spHoldsReturnAddress;
  if (!called && e && e->wordBelowSp && *e->wordBelowSp == *pc) {
    c = make("return-address-corruption", kExploitable, "return-to-bad-address",
             "a `ret` took " + hexU64(*pc) + " from the stack as its return address: the stack was "
             "overwritten");
    c->evidence.push_back({"popped_return_address", hexU64(*pc)});
  } else if (*pc < kNearNull) {
    c = make(called ? "call-to-null" : "jump-to-null", kProbablyExploitable, "pc-near-null",
             std::string(called ? "a call" : "a jump") + " to address " + hexU64(*pc) +
                 ": a NULL function pointer (or a NULL object's method table)");
    if (called && e && e->wordAtSp) c->evidence.push_back({"return_address", hexU64(*e->wordAtSp)});
  } else if (!r) {
    c = make("jump-to-unmapped", kExploitable, "pc-unmapped",
             "the program counter " + hexU64(*pc) + " is in no mapping: control flow was hijacked "
             "or a function pointer was corrupted");
    if (looksLikeText(*pc)) c->evidence.push_back({"pc_as_text", asText(*pc)});
  } else {
    c = make("execute-non-executable", kExploitable, "pc-not-executable",
             "the program executed " + x.describe(*r) + ", which is not code");
  }
  c->evidence.insert(c->evidence.begin(), {"pc", hexU64(*pc)});
  c->evidence.push_back({"pc_mapping", x.where(*pc)});
  return c;
}

// The stack pointer is not in a stack: either it ran off the end (overflow) or it was moved
// elsewhere (a stack pivot, the classic first step of return-oriented programming).
std::optional<Classification> badStack(const Facts &x, const FaultFacts &f) {
  std::optional<uint64_t> sp = x.sp();
  if (!sp) return std::nullopt;
  std::optional<uint64_t> a = x.faultAddress();
  const MemoryRegion *spRegion = x.region(*sp);
  bool nearSp = a && (*a > *sp ? *a - *sp : *sp - *a) <= kStackReach;
  const MemoryRegion *aRegion = a ? x.region(*a) : nullptr;
  // The fault is at the stack pointer, in no mapping or a guard page: the stack ran out.
  if (nearSp && (!aRegion || aRegion->perms == 0) &&
      (!spRegion || spRegion->perms & PermWrite || spRegion->perms == 0)) {
    Classification c = make("stack-overflow", kProbablyNot, "fault-at-stack-pointer",
                            "the stack ran out: the fault address " + hexU64(*a) +
                                " is next to the stack pointer " + hexU64(*sp) + " and in " +
                                x.where(*a));
    c.evidence.push_back({"fault_address", hexU64(*a)});
    c.evidence.push_back({"stack_pointer", hexU64(*sp)});
    c.evidence.push_back({"fault_mapping", x.where(*a)});
    c.evidence.push_back({"frames", std::to_string(f.frames.size())});
    // The function that recursed most, the usual cause.
    std::map<std::string, size_t> counts;
    for (const Frame &fr : f.frames)
      if (!fr.function.empty()) ++counts[fr.function];
    auto top = std::max_element(counts.begin(), counts.end(),
                                [](auto &l, auto &r) { return l.second < r.second; });
    if (top != counts.end() && top->second > 1)
      c.evidence.push_back({"most_repeated_function",
                            top->first + " (" + std::to_string(top->second) + " frames)"});
    return c;
  }
  if (!spRegion) {
    Classification c = make("stack-pivot", kExploitable, "sp-unmapped",
                            "the stack pointer " + hexU64(*sp) + " is in no mapping: it was "
                            "overwritten or moved");
    c.evidence.push_back({"stack_pointer", hexU64(*sp)});
    return c;
  }
  // The main thread's stack is known by what the kernel put on it (the auxiliary vector's
  // strings): the main thread's sp elsewhere is a pivot.
  if (f.crashedIsMainThread && f.mainStackAddress && spRegion->path.empty()) {
    const MemoryRegion *mainStack = x.region(*f.mainStackAddress);
    if (mainStack && mainStack != spRegion) {
      Classification c = make("stack-pivot", kExploitable, "sp-off-main-stack",
                              "the main thread's stack pointer " + hexU64(*sp) +
                                  " points into " + x.describe(*spRegion) +
                                  ", not into its stack at " + hexU64(mainStack->start) + "-" +
                                  hexU64(mainStack->end));
      c.evidence.push_back({"stack_pointer", hexU64(*sp)});
      c.evidence.push_back({"stack_pointer_mapping", x.describe(*spRegion)});
      return c;
    }
  }
  // Thread stacks are anonymous mappings: only a named mapping that is not a stack is certain.
  if (!spRegion->path.empty() && !x.isStack(*spRegion)) {
    Classification c = make("stack-pivot", kExploitable, "sp-not-in-stack",
                            "the stack pointer " + hexU64(*sp) + " points into " +
                                x.describe(*spRegion) + ", not a stack");
    c.evidence.push_back({"stack_pointer", hexU64(*sp)});
    c.evidence.push_back({"stack_pointer_mapping", x.describe(*spRegion)});
    return c;
  }
  return std::nullopt;
}

// A bad data access (or a branch through a bad pointer), judged by the address and the access.
Classification badAccess(const Facts &x, const FaultFacts &f) {
  const DecodedInstruction *i = f.instruction ? &*f.instruction : nullptr;
  std::optional<uint64_t> a = x.faultAddress();
  AccessKind k = i ? i->access : AccessKind::None;
  bool known = k != AccessKind::None;
  std::string what = known ? accessWord(k) : "access";
  Classification c;
  if (i && k == AccessKind::Return) {
    c = make("return-address-corruption", kExploitable, "bad-return",
             "the `ret` faulted on its return address: the stack was overwritten");
  } else if (i && k == AccessKind::Privileged) {
    c = make("privileged-instruction", kExploitable, "privileged-instruction",
             "the program ran a privileged instruction (" + i->text +
                 "): it is executing something that is not its code");
  } else if (!a) {
    c = make("bad-access", kUnknown, "no-fault-address",
             "a memory access faulted but neither the kernel nor the instruction says where");
  } else if (*a < kNearNull) {
    bool branch = k == AccessKind::Call || k == AccessKind::Jump;
    const char *sev = !known ? kUnknown : writes(k) || branch ? kProbablyExploitable : kProbablyNot;
    const char *rule = !known ? "null-access" : branch ? "null-branch" : writes(k) ? "null-write"
                                                                                  : "null-read";
    std::string reason = what + " at " + hexU64(*a) + " through a NULL pointer";
    if (*a != 0) reason += " (a field at offset " + std::to_string(*a) + ")";
    c = make("null-deref", sev, rule, reason);
  } else if (!isCanonical(*a)) {
    bool w = writes(k);
    c = make(w ? "wild-write" : "wild-read", w ? kExploitable : kUnknown, "non-canonical-address",
             what + " at " + hexU64(*a) + ", an address no process can map (a corrupted pointer)");
  } else if (const MemoryRegion *r = x.region(*a)) {
    if (writes(k) && !(r->perms & PermWrite)) {
      c = make("write-to-readonly", kExploitable, "write-to-readonly",
               what + " at " + hexU64(*a) + " into " + x.describe(*r));
    } else if (k == AccessKind::Call || k == AccessKind::Jump) {
      c = make("bad-branch", kExploitable, "bad-branch",
               what + " through " + hexU64(*a) + " in " + x.describe(*r));
    } else {
      c = make(writes(k) ? "wild-write" : "wild-read", writes(k) ? kExploitable : kUnknown,
               "access-not-permitted",
               what + " at " + hexU64(*a) + " in " + x.describe(*r) + ", which does not allow it");
    }
  } else {
    bool w = writes(k);
    bool branch = k == AccessKind::Call || k == AccessKind::Jump;
    c = make(branch ? "bad-branch" : w ? "wild-write" : "wild-read",
             w || branch ? kExploitable : kUnknown, "unmapped-address",
             what + " at " + hexU64(*a) + ", which is in no mapping (a dangling or corrupted pointer)");
  }
  if (a) {
    c.evidence.push_back({"fault_address", hexU64(*a)});
    if (!isCanonical(*a) || !x.region(*a)) {
      if (looksLikeText(*a) && c.severity == std::string(kUnknown)) {
        c.severity = kProbablyExploitable;
        c.rule = "text-as-pointer";
        c.reason += "; the address is text (\"" + asText(*a) + "\"): a string overwrote a pointer";
      }
      if (looksLikeText(*a)) c.evidence.push_back({"address_as_text", asText(*a)});
    }
  }
  if (i) {
    c.evidence.push_back({"instruction", i->text});
    c.evidence.push_back({"access", accessKindName(k)});
    if (!i->base.empty()) {
      uint64_t baseVal = a ? *a - uint64_t(i->displacement) : 0;
      if (i->index.empty() && a) c.evidence.push_back({"base_register", i->base + " = " + hexU64(baseVal)});
      else c.evidence.push_back({"base_register", i->base});
    }
    // A block move that faulted is a copy that ran past its buffer (CERT: BlockMoveAv).
    if (k == AccessKind::BlockMove && c.severity != std::string(kExploitable)) {
      c.severity = kProbablyExploitable;
    }
  }
  return c;
}

// The C library function the crashed thread is in (frame 0), by its plain name: glibc's
// optimized variants (__memmove_avx_unaligned_erms, __strcpy_avx2) and internal aliases
// (__GI___libc_free) are the function a program called.
std::string libraryFunction(const FaultFacts &f) {
  if (f.frames.empty()) return {};
  llvm::StringRef n = f.frames.front().function;
  while (n.consume_front("__GI_") || n.consume_front("__libc_") || n.consume_front("__") ||
         n.consume_front("_")) {
  }
  static const char *const kStringFunctions[] = {
      "memmove", "memcpy", "mempcpy", "memset", "strncpy", "stpcpy", "strcpy", "strncat", "strcat",
      "strnlen", "strlen", "strncmp", "strcmp", "strrchr", "strchr", "memcmp", "memchr"};
  for (const char *s : kStringFunctions)
    if (n == s || n.starts_with(std::string(s) + "_")) return s;
  if (n == "free" || n == "cfree" || n == "int_free") return "free";
  if (n == "realloc" || n == "int_realloc") return "realloc";
  return {};
}

// Function-call rules: inside memcpy, strcpy, free, ... the bad access is one of the arguments
// the caller passed; name it (the caller's variables are then the ones to look at).
void callRules(const Facts &x, const FaultFacts &f, Classification &c) {
  std::string fn = libraryFunction(f);
  const DecodedInstruction *i = f.instruction ? &*f.instruction : nullptr;
  std::optional<uint64_t> a = x.faultAddress();
  if (fn.empty() || !i || !a) return;
  std::string argument;
  if (fn == "free" || fn == "realloc") {
    // The allocator reads the chunk header just below the pointer it was given.
    c.kind = "invalid-free";
    c.severity = kExploitable;
    c.rule = "bad-pointer-to-" + fn;
    c.reason = fn + "() was given a pointer that is not from the heap: reading its chunk header at " +
               hexU64(*a) + " faulted (" + x.where(*a) + ")";
    argument = "the pointer (rdi)";
  } else if (fn == "memset") {
    argument = "the destination (rdi)";
  } else if (fn.starts_with("mem") || fn.starts_with("str")) {
    bool twoBuffers = fn == "memmove" || fn == "memcpy" || fn == "mempcpy" || fn == "strncpy" ||
                      fn == "stpcpy" || fn == "strcpy" || fn == "strncat" || fn == "strcat";
    if (twoBuffers) argument = writes(i->access) ? "the destination (rdi)" : "the source (rsi)";
    else argument = "the string or buffer argument";
  }
  if (argument.empty()) return;
  c.evidence.push_back({"in_function", f.frames.front().function});
  c.evidence.push_back({"bad_argument", argument});
  if (fn != "free" && fn != "realloc") {
    c.rule += "+call-args";
    c.reason += " — " + fn + "() was given a bad " + argument.substr(4);
    // The copy started in mapped memory and ran off its end: the size was too large.
    if (!i->base.empty() && !x.region(*a)) {
      uint64_t cursor = *a - uint64_t(i->displacement);
      if (const MemoryRegion *r = x.region(cursor - 1); r && cursor != *a)
        c.evidence.push_back({"ran_past", x.describe(*r)});
    }
  }
}

const char *bpHigh = "HIGH";

}  // namespace

namespace {

bool isHeapKind(llvm::StringRef k) {
  return k == "double-free" || k == "invalid-free" || k == "heap-corruption";
}

// The pointer the program gave free() or realloc(): glibc's own parameter (`mem`, `oldmem`;
// libc6-dbg's DWARF, with variables), else rdi when the fault is in free itself.
std::optional<uint64_t> freedPointer(const FaultFacts &f, std::string *function) {
  for (const Frame &fr : f.frames) {
    llvm::StringRef fn = fr.function;
    bool isFree = fn.ends_with("libc_free") || fn == "free" || fn == "cfree";
    bool isRealloc = fn.ends_with("libc_realloc") || fn == "realloc";
    if (!isFree && !isRealloc) continue;
    *function = isFree ? "free" : "realloc";
    // glibc's _int_free(av, p, ...) below it has the chunk (the pointer - 16).
    if (&fr != &f.frames.front()) {
      const Frame &inner = *(&fr - 1);
      if (inner.function == "_int_free" || inner.function == "_int_realloc")
        for (const Variable &v : inner.variables)
          if ((v.name == "p" || v.name == "oldp") && !v.optimizedOut && !v.error)
            if (auto p = pointerInText(v.value)) return *p + 16;
    }
    for (const Variable &v : fr.variables)
      if ((v.name == "mem" || v.name == "oldmem") && !v.optimizedOut && !v.error)
        if (auto p = pointerInText(v.value)) return p;
    if (&fr == &f.frames.front() && f.evidence) return f.evidence->regs.rdi;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

void applyHeapRules(Classification &c, const FaultFacts &f, const Target &target) {
  if (!f.evidence) return;
  const CrashEvidence &e = *f.evidence;
  std::string function;
  std::optional<uint64_t> freed = freedPointer(f, &function);
  if (!e.heap) {
    if (isHeapKind(c.kind) && !e.heapUnavailable.empty()) c.evidence.push_back({"heap", e.heapUnavailable});
    return;
  }
  const GlibcHeap &heap = *e.heap;
  Facts x(f);
  if (freed && (isHeapKind(c.kind) || function == "free" || function == "realloc")) {
    c.evidence.push_back({"freed_pointer", hexU64(*freed)});
    c.evidence.push_back({"heap: freed_pointer", heap.describe(target, *freed)});
    const HeapChunk *chunk = heap.chunkFor(*freed);
    bool start = chunk && chunk->address + 16 == *freed;
    bool free = chunk && chunk->state != ChunkState::InUse && chunk->state != ChunkState::Top;
    if (start && free) {
      c.kind = "double-free";
      c.severity = kExploitable;
      c.rule = "allocator-state-double-free";
      c.reason = function + "() was given " + hexU64(*freed) + ", which is already " +
                 chunkStateText(chunk->state) + ": a double free";
    } else if (!start && isHeapKind(c.kind)) {
      c.kind = "invalid-free";
      c.severity = kExploitable;
      c.rule = "allocator-state-invalid-free";
      c.reason = function + "() was given " + hexU64(*freed) + ", " + heap.describe(target, *freed);
    }
  }
  // The addresses a bad access involved.
  std::optional<uint64_t> a = x.faultAddress();
  const DecodedInstruction *i = f.instruction ? &*f.instruction : nullptr;
  std::optional<uint64_t> base;
  if (i && a && !i->base.empty() && i->index.empty()) base = *a - uint64_t(i->displacement);
  std::vector<std::pair<std::string, uint64_t>> involved;
  if (a && heap.inHeap(*a)) involved.push_back({"fault_address", *a});
  if (base && heap.inHeap(*base) && base != a) involved.push_back({"base_register", *base});
  // A call through an object's vtable: the object (`this`) is in rdi.
  if (i && (i->access == AccessKind::Call) && heap.inHeap(e.regs.rdi)) involved.push_back({"rdi", e.regs.rdi});
  bool uaf = false;
  // A pointer that was read out of freed memory: the fault address or the base register is the
  // safe-linked next pointer glibc stored in a freed chunk (an object's vtable pointer, say).
  for (std::optional<uint64_t> v : {base, a}) {
    const HeapChunk *freed = v ? heap.freeChunkLinking(*v) : nullptr;
    if (!freed || uaf) continue;
    uaf = true;
    c.kind = "use-after-free";
    c.severity = kExploitable;
    c.rule = "pointer-from-free-chunk";
    c.reason = "the pointer " + hexU64(*v) + " comes from the " + chunkStateText(freed->state) +
               " chunk at " + hexU64(freed->address) + " (it is, or is computed from, the link glibc stored "
               "in the chunk when it was freed): memory used after it was freed";
    c.evidence.push_back({"freed_chunk", hexU64(freed->address)});
  }
  for (const auto &[what, p] : involved) {
    c.evidence.push_back({"heap: " + what, heap.describe(target, p)});
    const HeapChunk *chunk = heap.chunkFor(p);
    if (chunk && chunk->state != ChunkState::InUse && chunk->state != ChunkState::Top &&
        p >= chunk->address + 16 && !uaf && (c.kind == "null-deref" || c.kind.starts_with("wild") ||
                                             c.kind == "bad-branch" || c.kind == "jump-to-unmapped" ||
                                             c.kind == "bad-access")) {
      uaf = true;
      c.kind = "use-after-free";
      c.severity = kExploitable;
      c.rule = "object-in-free-chunk";
      c.reason = "the memory accessed through " + what + " (" + hexU64(p) + ") is " +
                 heap.describe(target, p) + ": it was used after it was freed";
    }
  }
  // A chunk header overwritten: the chunk before it was written past its end.
  if (heap.corruptChunk() && (isHeapKind(c.kind) || c.kind == "abort") &&
      c.rule != "allocator-state-double-free") {
    const HeapChunk *before = heap.chunkBefore(heap.corruptChunk());
    c.kind = "heap-buffer-overflow";
    c.severity = kExploitable;
    c.rule = "overwritten-chunk-header";
    c.reason = "the header of the chunk at " + hexU64(heap.corruptChunk()) + " was overwritten (size " +
               hexU64(heap.corruptSize()) + (looksLikeText(heap.corruptSize()) ? ", text \"" + asText(heap.corruptSize()) + "\"" : "") +
               ")" + (before ? ": the in-use chunk before it (data at " + hexU64(before->address + 16) + ", " +
                                   std::to_string(before->size - 8) + " usable bytes) was written past its end"
                             : "");
    c.evidence.push_back({"overwritten_chunk", hexU64(heap.corruptChunk())});
    if (before) c.evidence.push_back({"overflowed_chunk_data", hexU64(before->address + 16)});
  }
  size_t shown = 0;
  for (const std::string &problem : heap.problems())
    if (shown++ < 3) c.evidence.push_back({"heap problem", problem});
}

std::optional<AssertionText> parseAssertMessage(const std::string &message) {
  // glibc: "%s%s%s:%u: %s%sAssertion `%s' failed." — program name and ": " (may be empty), file,
  // line, function and ": " (may be empty), expression. Parsed by hand: a regex over text from
  // the target would recurse once per character.
  llvm::StringRef m = message;
  size_t assertion = m.find("Assertion `");
  if (assertion == llvm::StringRef::npos) return std::nullopt;
  llvm::StringRef expr = m.drop_front(assertion + 11);
  size_t failed = expr.rfind("' failed");
  if (failed == llvm::StringRef::npos) return std::nullopt;
  AssertionText a;
  a.expression = expr.take_front(failed).str();
  llvm::StringRef head = m.take_front(assertion);  // "prog: file:line: function: "
  head.consume_back(" ");
  head.consume_back(":");
  // The first ":<digits>: " is the file's line; what precedes it is "prog: file" or "file".
  for (size_t colon = head.find(':'); colon != llvm::StringRef::npos; colon = head.find(':', colon + 1)) {
    llvm::StringRef rest = head.drop_front(colon + 1);
    size_t digits = 0;
    while (digits < rest.size() && llvm::isDigit(rest[digits])) ++digits;
    llvm::StringRef after = rest.drop_front(digits);
    if (digits == 0 || digits > 9 || (!after.empty() && !after.starts_with(":"))) continue;
    llvm::StringRef file = head.take_front(colon);
    if (size_t prog = file.find(": "); prog != llvm::StringRef::npos) file = file.drop_front(prog + 2);
    if (file.empty()) return std::nullopt;
    a.file = file.str();
    rest.take_front(digits).getAsInteger(10, a.line);
    llvm::StringRef function = after.drop_front(after.empty() ? 0 : 1);  // none: glibc omits it
    function.consume_front(" ");
    a.function = function.str();
    return a;
  }
  return std::nullopt;
}

std::optional<Classification> classifyFault(const FaultFacts &f) {
  if (!f.signal) return std::nullopt;
  Facts x(f);
  const SignalInfo &s = *f.signal;
  std::optional<Classification> c = libraryCheck(x, f);
  if (!c) c = rustPanic(f);
  if (!c) {
    switch (s.signo) {
    case SIGSEGV:
    case SIGBUS:
      c = badPc(x, f);
      if (!c) c = badStack(x, f);
      if (!c && s.signo == SIGBUS && !(f.instruction && f.instruction->access == AccessKind::Privileged)) {
        std::optional<uint64_t> a = x.faultAddress();
        const char *why = s.code == 1 ? "a misaligned access (BUS_ADRALN)"
                          : s.code == 2 ? "an access beyond the end of a mapped file, which was "
                                          "truncated after it was mapped (BUS_ADRERR)"
                          : s.code == 3 ? "a hardware error on the object (BUS_OBJERR)"
                                        : "a bus error";
        c = make("bus-error", kUnknown, "sigbus", std::string(why) + (a ? " at " + hexU64(*a) : ""));
        if (a) c->evidence.push_back({"fault_address", hexU64(*a)});
        if (a) c->evidence.push_back({"fault_mapping", x.where(*a)});
      }
      if (!c) {
        c = badAccess(x, f);
        callRules(x, f, *c);
      }
      break;
    case SIGFPE:
      // A minidump often has no si_code: a faulting div/idiv says the same.
      if (s.code == 1 || (s.code <= 0 && f.instruction &&
                          (llvm::StringRef(f.instruction->text).starts_with("div ") ||
                           llvm::StringRef(f.instruction->text).starts_with("idiv "))))
        c = make("divide-by-zero", kProbablyNot, "sigfpe", "integer division by zero");
      else if (s.code == 2)
        c = make("integer-overflow", kProbablyNot, "sigfpe", "integer overflow (FPE_INTOVF)");
      else
        c = make("floating-point-exception", kProbablyNot, "sigfpe",
                 "floating-point exception (si_code " + std::to_string(s.code) + ")");
      break;
    case SIGILL:
      if (f.instruction && f.instruction->access == AccessKind::Trap)
        c = make("trap-instruction", kProbablyNot, "trap-instruction",
                 "the program ran a trap instruction (" + f.instruction->text +
                     ") on purpose: __builtin_trap, a sanitizer's trap mode or a language runtime's abort");
      else if (auto bad = badPc(x, f))
        c = bad;
      else if (!f.evidence || f.evidence->code.empty())
        c = make("illegal-instruction", kUnknown, "no-code-bytes",
                 "an illegal instruction; its bytes are not in the source, so which one is unknown");
      else if (f.instruction)
        c = make("illegal-instruction", kUnknown, "valid-instruction-refused",
                 "the CPU refused a valid instruction (" + f.instruction->text +
                     "): code built for a CPU feature this machine lacks");
      else
        c = make("illegal-instruction", kExploitable, "invalid-instruction",
                 "the bytes at the pc are not a valid instruction: corrupted code, or data "
                 "executed as code");
      break;
    case SIGTRAP:
      c = make("breakpoint", kProbablyNot, "sigtrap",
               "a breakpoint or trap instruction stopped the program (no debugger attached)");
      break;
    case SIGSYS:
      c = make("bad-system-call", kProbablyNot, "sigsys",
               "a system call was refused (a seccomp filter, or an unknown system call)");
      // orig_rax holds the number in a core; a signal handler's context has none (-1).
      if (f.evidence && f.evidence->regs.orig_rax != ~0ull)
        c->evidence.push_back({"syscall", std::to_string(f.evidence->regs.orig_rax)});
      break;
    case SIGABRT:
      c = make("abort", kUnknown, "abort",
               x.abortMessage().empty() ? "the program called abort()"
                                        : "the program aborted: " + x.abortMessage());
      if (!x.abortMessage().empty()) c->evidence.push_back({"abort_message", x.abortMessage()});
      break;
    default: {
      std::string reason = std::string("the process was terminated by ") + signalName(s.signo);
      if (s.senderPid) reason += " sent by process " + std::to_string(s.senderPid);
      c = make("killed-by-signal", kProbablyNot, "benign-signal", reason);
      break;
    }
    }
  }
  c->evidence.insert(c->evidence.begin(), {"signal", signalName(s.signo)});
  c->breakpadRating = breakpadRating(f, &*c);
  return c;
}

std::string breakpadRating(const FaultFacts &f, const Classification *fault) {
  if (!f.signal) return "";
  Facts x(f);
  // 1. A stack-protector or fortify failure in the crashed thread (Breakpad finds the functions
  // by name; we also accept the same finding from glibc's own message).
  if (x.hasFrame("__stack_chk_fail") || x.hasFrame("__chk_fail")) return bpHigh;
  if (fault && (fault->kind == "stack-buffer-overflow" || fault->kind == "buffer-overflow"))
    return bpHigh;
  // 2. Benign signals (Breakpad's list: every classic signal but SIGILL, SIGBUS, SIGSEGV and
  // SIGSTKFLT).
  int signo = f.signal->signo;
  if (signo >= 1 && signo <= 31 && signo != SIGILL && signo != SIGBUS && signo != SIGSEGV &&
      signo != SIGSTKFLT)
    return "NONE";
  // 3. The pc outside executable memory, the stack pointer in a named mapping that is not a
  // stack, an executable stack or heap.
  std::optional<uint64_t> pc = x.pc(), sp = x.sp();
  if (pc && !x.inCode(*pc)) return bpHigh;
  if (sp) {
    const MemoryRegion *r = x.region(*sp);
    if (!r || (!r->path.empty() && !x.isStack(*r))) return bpHigh;
  }
  for (const MemoryRegion &r : f.regions)
    if ((x.isStack(r) || llvm::StringRef(r.path).starts_with("[heap")) && (r.perms & PermExec))
      return bpHigh;
  // 4. A write instruction whose destination address is above 4 KiB (Breakpad's objdump check).
  if (const DecodedInstruction *i = f.instruction ? &*f.instruction : nullptr) {
    llvm::StringRef mnemonic = llvm::StringRef(i->text).split(' ').first;
    static const char *const kWrites[] = {"mov", "inc", "dec", "and", "or", "xor",
                                          "not", "neg", "add", "sub", "shl", "shr"};
    bool writeOp = std::any_of(std::begin(kWrites), std::end(kWrites),
                               [&](const char *w) { return mnemonic == w; });
    if (writeOp && writes(i->access) && i->effectiveAddress && *i->effectiveAddress > 4096)
      return bpHigh;
  }
  // 5. Our addition (the rule of Breakpad's Windows engine): a fault address made of text.
  if (std::optional<uint64_t> a = x.faultAddress())
    if (looksLikeText(*a) && (!isCanonical(*a) || !x.region(*a))) return bpHigh;
  return "INTERESTING";
}

}  // namespace bt
