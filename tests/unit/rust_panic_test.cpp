// Unit tests of engine/analysis/rust_panic on hand-made memory: a PanicHookInfo's Location and
// payload decoded by layout (a &'static str, a String in any field order), and garbage that must
// give no message or nothing at all; then the rust-panic rule and the fingerprint's skipping of
// the panic machinery on hand-made frames.
#include "analysis/fault_rules.h"
#include "analysis/fingerprint.h"
#include "analysis/rust_panic.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <functional>
#include <map>

using namespace bt;

namespace {

// A process image: regions with bytes (zero-filled), the first module covering text and rodata.
class MemTarget : public Target {
public:
  static constexpr uint64_t kText = 0x400000, kRodata = 0x402000, kHeap = 0x600000,
                            kStack = 0x7ff000000000, kSp = kStack + 0x1000;
  static constexpr uint64_t kTypeId = kText + 0x100, kDrop = kText + 0x200;

  MemTarget() {
    map(kText, 0x1000, PermRead | PermExec, "/bin/prog");
    map(kRodata, 0x1000, PermRead, "/bin/prog");
    map(kHeap, 0x10000, PermRead | PermWrite, "");
    map(kStack, 0x10000, PermRead | PermWrite, "[stack]");
    ModuleInfo m;
    m.path = "/bin/prog";
    m.start = kText;
    m.end = kRodata + 0x1000;
    m.isMainExecutable = true;
    modules_.push_back(m);
  }
  const char *kind() const override { return "core"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override {
    auto it = mem_.upper_bound(addr);
    if (it == mem_.begin()) return 0;
    --it;
    const std::vector<uint8_t> &bytes = it->second;
    if (addr - it->first >= bytes.size()) return 0;
    size_t n = std::min<uint64_t>(len, bytes.size() - (addr - it->first));
    std::memcpy(buf, bytes.data() + (addr - it->first), n);
    ++reads;
    return n;
  }
  void put(uint64_t addr, const void *data, size_t len) {
    auto it = std::prev(mem_.upper_bound(addr));
    ASSERT_LE(addr - it->first + len, it->second.size());
    std::memcpy(it->second.data() + (addr - it->first), data, len);
  }
  void put(uint64_t addr, const std::string &s) { put(addr, s.data(), s.size()); }
  void words(uint64_t addr, std::initializer_list<uint64_t> ws) {
    for (uint64_t w : ws) {
      put(addr, &w, 8);
      addr += 8;
    }
  }
  // A Location {file: &str, line, col} (rustc 1.95's order) at `at`, its file name at `name`.
  void location(uint64_t at, uint64_t name, const std::string &file, uint32_t line, uint32_t col) {
    put(name, file);
    words(at, {name, file.size()});
    put(at + 16, &line, 4);
    put(at + 20, &col, 4);
  }
  int reads = 0;

private:
  void map(uint64_t start, uint64_t size, uint32_t perms, std::string path) {
    MemoryRegion r;
    r.start = start;
    r.end = start + size;
    r.perms = perms;
    r.path = std::move(path);
    regions_.push_back(r);
    mem_[start].resize(size);
  }
  std::map<uint64_t, std::vector<uint8_t>> mem_;
};

using M = MemTarget;
constexpr uint64_t kLoc = M::kRodata + 0x100, kFile = M::kRodata, kStrVt = M::kRodata + 0x300,
                   kStringVt = M::kRodata + 0x340, kBigVt = M::kRodata + 0x380,
                   kStaticText = M::kRodata + 0x400;

// The program's image: a Location of src/main.rs:7:13, vtables of &str (16 bytes), String (24)
// and a 32-byte payload type, and the stack's PanicHookInfo {payload data, vtable, &Location,
// bools} at sp + 0x40 whose data is at sp + 0x100.
void image(MemTarget &t) {
  t.location(kLoc, kFile, "src/main.rs", 7, 13);
  t.words(kStrVt, {0, 16, 8, M::kTypeId});
  t.words(kStringVt, {M::kDrop, 24, 8, M::kTypeId});
  t.words(kBigVt, {M::kDrop, 32, 8, M::kTypeId});
}

void hookInfo(MemTarget &t, uint64_t vtable, uint64_t at = M::kSp + 0x40) {
  t.words(at, {M::kSp + 0x100, vtable, kLoc, 0x0101});
}

}  // namespace

TEST(RustPanic, StaticStrPayload) {
  MemTarget t;
  image(t);
  t.put(kStaticText, "called `Option::unwrap()` on a `None` value");
  t.words(M::kSp + 0x100, {kStaticText, 43});
  hookInfo(t, kStrVt);
  std::optional<RustPanic> p = findRustPanic(t, M::kSp);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->file, "src/main.rs");
  EXPECT_EQ(p->line, 7u);
  EXPECT_EQ(p->column, 13u);
  EXPECT_EQ(p->at, M::kSp + 0x50);
  ASSERT_TRUE(p->hasMessage);
  EXPECT_EQ(p->message, "called `Option::unwrap()` on a `None` value");
}

TEST(RustPanic, StringPayloadInEveryFieldOrder) {
  const std::string text = "order rejected: code 42 \xc3\xa9";  // with a two-byte character
  for (int order = 0; order < 3; ++order) {
    MemTarget t;
    image(t);
    t.put(M::kHeap + 0x40, text);
    uint64_t ptr = M::kHeap + 0x40, cap = 64, len = text.size();
    if (order == 0) t.words(M::kSp + 0x100, {cap, ptr, len});
    if (order == 1) t.words(M::kSp + 0x100, {ptr, cap, len});
    if (order == 2) t.words(M::kSp + 0x100, {len, ptr, cap});
    hookInfo(t, kStringVt);
    std::optional<RustPanic> p = findRustPanic(t, M::kSp);
    ASSERT_TRUE(p) << order;
    ASSERT_TRUE(p->hasMessage) << order;
    EXPECT_EQ(p->message, text) << order;
  }
}

TEST(RustPanic, PayloadAfterTheLocationAndTheOtherLocationOrder) {
  MemTarget t;
  image(t);
  // Location as {line, col, file ptr, file len}.
  uint32_t lc[2] = {120, 9};
  t.put(kLoc + 0x40, lc, 8);
  t.words(kLoc + 0x48, {kFile, 11});
  t.put(kStaticText, "boom");
  t.words(M::kSp + 0x100, {kStaticText, 4});
  t.words(M::kSp + 0x40, {0x0101, kLoc + 0x40, M::kSp + 0x100, kStrVt});
  std::optional<RustPanic> p = findRustPanic(t, M::kSp);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->file, "src/main.rs");
  EXPECT_EQ(p->line, 120u);
  EXPECT_EQ(p->column, 9u);
  EXPECT_TRUE(p->hasMessage);
  EXPECT_EQ(p->message, "boom");
}

TEST(RustPanic, OlderPanicInfoWithTheMessageArgumentsBetween) {
  // Before Rust 1.81 the hook got a PanicInfo {payload data, vtable, message:
  // Option<&fmt::Arguments>, &Location, can_unwind} (rustc 1.63's DWARF offsets 0, 8, 16, 24, 32):
  // the message word is Some (a stack address) or None (0).
  for (uint64_t message : {M::kSp + 0x200, uint64_t(0)}) {
    MemTarget t;
    image(t);
    t.put(kStaticText, "index out of bounds");
    t.words(M::kSp + 0x100, {kStaticText, 19});
    t.words(M::kSp + 0x40, {M::kSp + 0x100, kStrVt, message, kLoc, 1});
    std::optional<RustPanic> p = findRustPanic(t, M::kSp);
    ASSERT_TRUE(p) << message;
    EXPECT_EQ(p->at, M::kSp + 0x58);
    EXPECT_EQ(p->line, 7u);
    ASSERT_TRUE(p->hasMessage);
    EXPECT_EQ(p->message, "index out of bounds");
  }
  // The word between that is no Option<&Arguments> (unmapped, misaligned): no pair is believed.
  for (uint64_t between : {uint64_t(0x123456789000), M::kSp + 0x201}) {
    MemTarget t;
    image(t);
    t.put(kStaticText, "index out of bounds");
    t.words(M::kSp + 0x100, {kStaticText, 19});
    t.words(M::kSp + 0x40, {M::kSp + 0x100, kStrVt, between, kLoc, 1});
    EXPECT_FALSE(findRustPanic(t, M::kSp)) << between;
  }
}

TEST(RustPanic, TheInnermostDecodedPayloadWins) {
  MemTarget t;
  image(t);
  t.put(kStaticText, "inner");
  t.put(kStaticText + 0x10, "outer");
  t.words(M::kSp + 0x100, {kStaticText, 5});
  t.words(M::kSp + 0x110, {kStaticText + 0x10, 5});
  // An undecodable payload (another type) nearest to sp, then two &str ones.
  t.words(M::kSp + 0x20, {M::kSp + 0x100, kBigVt, kLoc, 0});
  t.words(M::kSp + 0x40, {M::kSp + 0x100, kStrVt, kLoc, 0});
  t.words(M::kSp + 0x60, {M::kSp + 0x110, kStrVt, kLoc, 0});
  std::optional<RustPanic> p = findRustPanic(t, M::kSp);
  ASSERT_TRUE(p && p->hasMessage);
  EXPECT_EQ(p->message, "inner");
  EXPECT_EQ(p->at, M::kSp + 0x50);
}

TEST(RustPanic, AnotherPayloadTypeGivesTheLocationWithoutAMessage) {
  MemTarget t;
  image(t);
  hookInfo(t, kBigVt);  // panic_any(some 32-byte value): the hook printed "Box<dyn Any>"
  std::optional<RustPanic> p = findRustPanic(t, M::kSp);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->line, 7u);
  EXPECT_FALSE(p->hasMessage);
  EXPECT_EQ(p->message, "");
}

TEST(RustPanic, GarbagePayloadsGiveNoMessage) {
  auto messageOf = [](const std::function<void(MemTarget &)> &setup) -> std::optional<std::string> {
    MemTarget t;
    image(t);
    setup(t);
    std::optional<RustPanic> p = findRustPanic(t, M::kSp);
    EXPECT_TRUE(p);  // the Location and the vtable are fine
    if (!p || !p->hasMessage) return std::nullopt;
    return p->message;
  };
  // A String whose pointer is unmapped.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.words(M::kSp + 0x100, {64, 0x123456789000, 10});
    hookInfo(t, kStringVt);
  }));
  // Capacity and length beyond any allocation.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.words(M::kSp + 0x100, {M::kHeap + 0x40, uint64_t(1) << 50, (uint64_t(1) << 50) + 1});
    hookInfo(t, kStringVt);
  }));
  // A plausible String over zeroed memory (NUL bytes are no message).
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.words(M::kSp + 0x100, {100000, M::kHeap + 0x40, 100});
    hookInfo(t, kStringVt);
  }));
  // Invalid UTF-8.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.put(M::kHeap + 0x40, "bad \xff\xfe bytes");
    t.words(M::kSp + 0x100, {32, M::kHeap + 0x40, 13});
    hookInfo(t, kStringVt);
  }));
  // Two readable pointers: two readings of the String disagree, neither is believed.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.put(M::kHeap + 0x40, "first");
    t.put(M::kHeap + 0x80, "other");
    t.words(M::kSp + 0x100, {M::kHeap + 0x40, M::kHeap + 0x80, 5});
    hookInfo(t, kStringVt);
  }));
  // A &str running past the end of its mapping.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.words(M::kSp + 0x100, {M::kRodata + 0xff0, 0x100});
    hookInfo(t, kStrVt);
  }));
  // A null &str pointer.
  EXPECT_FALSE(messageOf([](MemTarget &t) {
    t.words(M::kSp + 0x100, {0, 4});
    hookInfo(t, kStrVt);
  }));
}

TEST(RustPanic, GarbageLocationsAndVtablesGiveNothing) {
  auto found = [](const std::function<void(MemTarget &)> &setup) {
    MemTarget t;
    image(t);
    t.put(kStaticText, "boom");
    t.words(M::kSp + 0x100, {kStaticText, 4});
    hookInfo(t, kStrVt);
    setup(t);
    return findRustPanic(t, M::kSp).has_value();
  };
  EXPECT_TRUE(found([](MemTarget &) {}));  // the baseline the others break
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/main.c", 7, 13); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/main.rs", 0, 13); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/main.rs", 7, 0); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/main.rs", 20'000'000, 1); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/\x01main.rs", 7, 13); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.location(kLoc, kFile, "src/\xffmain.rs", 7, 13); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.words(kLoc, {0x123456789000, 11}); }));  // file unmapped
  EXPECT_FALSE(found([](MemTarget &t) { t.words(kLoc, {kFile, 1 << 20}); }));      // file too long
  // The Location in writable memory (a stack or heap copy is not the static Location).
  EXPECT_FALSE(found([](MemTarget &t) {
    t.location(M::kHeap, M::kHeap + 0x100, "src/main.rs", 7, 13);
    t.words(M::kSp + 0x50, {M::kHeap});
  }));
  // Vtables: type_id not code, drop_in_place not code, a bad alignment, in writable memory.
  EXPECT_FALSE(found([](MemTarget &t) { t.words(kStrVt, {0, 16, 8, M::kRodata}); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.words(kStrVt, {M::kHeap, 16, 8, M::kTypeId}); }));
  EXPECT_FALSE(found([](MemTarget &t) { t.words(kStrVt, {0, 16, 6, M::kTypeId}); }));
  EXPECT_FALSE(found([](MemTarget &t) {
    t.words(M::kHeap + 0x200, {0, 16, 8, M::kTypeId});
    t.words(M::kSp + 0x48, {M::kHeap + 0x200});
  }));
  // A Location word with no payload pair next to it (a #[track_caller] argument, say).
  EXPECT_FALSE(found([](MemTarget &t) { t.words(M::kSp + 0x40, {7, 7, kLoc, 7, 7}); }));
  // The PanicHookInfo beyond the scanned window.
  EXPECT_FALSE([] {
    MemTarget t;
    image(t);
    t.put(kStaticText, "boom");
    t.words(M::kSp + 0x100, {kStaticText, 4});
    hookInfo(t, kStrVt, M::kSp + 0x2000);
    return findRustPanic(t, M::kSp, 0x1000).has_value();
  }());
}

TEST(RustPanic, LongMessagesAreCutOnACharacterBoundary) {
  MemTarget t;
  image(t);
  std::string text(kMaxRustPanicMessage - 1, 'a');
  text += "\xc3\xa9 and more";  // 'é' straddles the limit
  t.put(M::kHeap + 0x40, text);
  t.words(M::kSp + 0x100, {text.size(), M::kHeap + 0x40, text.size()});
  hookInfo(t, kStringVt);
  std::optional<RustPanic> p = findRustPanic(t, M::kSp);
  ASSERT_TRUE(p && p->hasMessage);
  EXPECT_EQ(p->message, std::string(kMaxRustPanicMessage - 1, 'a'));
}

TEST(RustPanic, PanicMachineryFrames) {
  for (const char *yes :
       {"core::panicking::panic_fmt", "core::panicking::panic_bounds_check", "std::panicking::panic_with_hook",
        "std::panicking::begin_panic_handler::{closure#0}", "std::panicking::begin_panic<&str>",
        "panic_abort::__rust_start_panic", "__rust_start_panic", "rust_panic", "__rustc::rust_begin_unwind",
        "rust_begin_unwind", "std::sys::backtrace::__rust_end_short_backtrace<std::panicking::panic_handler::{closure_env#0}, !>",
        "core::option::unwrap_failed", "core::option::expect_failed", "core::result::unwrap_failed",
        "core::slice::index::slice_end_index_len_fail", "<std::panicking::begin_panic_handler::FormatStringPayload as core::panic::PanicPayload>::take_box"})
    EXPECT_TRUE(isRustPanicFrame(yes)) << yes;
  for (const char *no :
       {"std::panicking::catch_unwind::do_call<fn(), ()>", "std::panicking::try<i32, F>", "std::panicking::r#try",
        "std::panicking::panic_count::is_zero_slow_path", "std::panic::catch_unwind<F, i32>", "std::process::abort",
        "std::sys::backtrace::__rust_begin_short_backtrace<fn(), ()>", "crash_rs::main", "app::rust_panic_report",
        "raise", "abort", ""})
    EXPECT_FALSE(isRustPanicFrame(no)) << no;
}

namespace {

Frame frame(const std::string &function, const std::string &module = "/bin/prog") {
  Frame f;
  f.function = function;
  f.module = module;
  return f;
}

// panic=unwind with a hook that aborts (the fixture's): the hook closure and Box<F>'s call sit
// between the abort and the panic machinery.
std::vector<Frame> panicFrames() {
  return {frame("__pthread_kill_implementation", "/lib/libc.so.6"), frame("raise", "/lib/libc.so.6"),
          frame("abort", "/lib/libc.so.6"), frame("std::sys::pal::unix::abort_internal"),
          frame("std::process::abort"), frame("app::main::{closure#0}"),
          frame("alloc::boxed::{impl#29}::call<(&std::panic::PanicHookInfo), dyn core::ops::function::Fn<...>>"),
          frame("std::panicking::panic_with_hook"), frame("std::panicking::panic_handler::{closure#0}"),
          frame("std::sys::backtrace::__rust_end_short_backtrace<std::panicking::panic_handler::{closure_env#0}, !>"),
          frame("__rustc::rust_begin_unwind"), frame("core::panicking::panic_fmt"),
          frame("core::panicking::panic_bounds_check"), frame("core::slice::index::{impl#2}::index<i32>"),
          frame("alloc::vec::{impl#14}::index<i32, usize, alloc::alloc::Global>"), frame("app::Indexer::step"),
          frame("app::main"), frame("std::panicking::catch_unwind<i32, F>"), frame("std::rt::lang_start_internal")};
}

FaultFacts abortFacts(std::vector<Frame> frames, int signo = SIGABRT) {
  FaultFacts f;
  SignalInfo s;
  s.signo = signo;
  f.signal = s;
  f.frames = std::move(frames);
  f.evidence = CrashEvidence{};
  return f;
}

std::string fact(const Classification &c, const std::string &name) {
  for (const auto &[k, v] : c.evidence)
    if (k == name) return v;
  return "<none>";
}

}  // namespace

TEST(RustPanic, RuleClassifiesWithWhatWasValidated) {
  FaultFacts f = abortFacts(panicFrames());
  RustPanic p;
  p.file = "src/app.rs";
  p.line = 12;
  p.column = 5;
  f.evidence->rustPanic = p;
  std::optional<Classification> c = classifyFault(f);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "rust-panic");
  EXPECT_EQ(c->rule, "rust-panic");
  EXPECT_EQ(c->severity, "probably_not_exploitable");
  EXPECT_EQ(c->reason, "a Rust panic at src/app.rs:12:5");  // no validated message: none shown
  EXPECT_EQ(fact(*c, "panic_location"), "src/app.rs:12:5");
  EXPECT_EQ(fact(*c, "panic_message"), "<none>");
  EXPECT_EQ(fact(*c, "panic_source"), "stack scan by layout (heuristic), PanicHookInfo at 0x0");

  f.evidence->rustPanic->hasMessage = true;
  f.evidence->rustPanic->message = "index out of bounds";
  c = classifyFault(f);
  EXPECT_EQ(c->reason, "a Rust panic: 'index out of bounds' at src/app.rs:12:5");
  EXPECT_EQ(fact(*c, "panic_message"), "index out of bounds");

  f.evidence->rustPanic.reset();
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "rust-panic");
  EXPECT_EQ(c->reason, "a Rust panic");
  EXPECT_EQ(fact(*c, "panic_source"), "<none>");  // nothing was found, so no source is claimed
}

TEST(RustPanic, RuleNeedsThePanicMachineryAndAnAbort) {
  // A plain abort() from Rust code: catch_unwind frames are every Rust thread's, not a panic.
  std::vector<Frame> plain = {frame("raise", "/lib/libc.so.6"), frame("abort", "/lib/libc.so.6"),
                              frame("std::process::abort"), frame("app::main"),
                              frame("std::panicking::catch_unwind<i32, F>")};
  EXPECT_EQ(classifyFault(abortFacts(plain))->kind, "abort");
  // A fault keeps its own classification even with the panic machinery on the stack.
  FaultFacts segv = abortFacts(panicFrames(), SIGSEGV);
  segv.signal->hasAddress = true;
  segv.signal->address = 0;
  EXPECT_NE(classifyFault(segv)->kind, "rust-panic");
  // core::intrinsics::abort: a trap instruction (SIGILL) inside the machinery.
  FaultFacts ill = abortFacts(panicFrames(), SIGILL);
  DecodedInstruction ud2;
  ud2.text = "ud2";
  ud2.access = AccessKind::Trap;
  ill.instruction = ud2;
  EXPECT_EQ(classifyFault(ill)->kind, "rust-panic");
}

TEST(RustPanic, FingerprintStartsAtTheFunctionThatPanicked) {
  ThreadBacktrace t;
  t.tid = 1;
  t.crashed = true;
  t.frames = panicFrames();
  SignalInfo abrt;
  abrt.signo = SIGABRT;
  Fingerprint fp = crashFingerprint(abrt, {t});
  EXPECT_EQ(fp.frames, (std::vector<std::string>{"prog!app::Indexer::step", "prog!app::main",
                                                  "prog!std::panicking::catch_unwind<i32, F>",
                                                  "prog!std::rt::lang_start_internal"}));
  // `defaults off` hashes the machinery like any frame.
  llvm::Expected<FingerprintRules> off = FingerprintRules::parse("defaults off\n", "rules");
  ASSERT_TRUE(bool(off));
  EXPECT_EQ(crashFingerprint(abrt, {t}, *off).frames.front(), "libc.so.6!__pthread_kill_implementation");
  // Nothing of the program's past the machinery: the frames are hashed as before.
  t.frames.resize(15);  // up to alloc::vec's index
  EXPECT_EQ(crashFingerprint(abrt, {t}).frames.front(), "prog!std::sys::pal::unix::abort_internal");
}
