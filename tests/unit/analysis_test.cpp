// Unit tests of engine/analysis on hand-made backtraces: the crash fingerprint (which thread and
// frames it hashes, what it skips, what changes it) and typed classifications through JSON.
#include "analysis/analysis.h"
#include "analysis/classification.h"
#include "analysis/fingerprint.h"

#include <gtest/gtest.h>

#include <csignal>

using namespace bt;

namespace {

Frame frame(const std::string &module, const std::string &function, uint64_t offset = 0) {
  Frame f;
  f.module = module;
  f.function = function;
  f.moduleOffset = offset;
  return f;
}

ThreadBacktrace thread(int tid, bool crashed, std::vector<Frame> frames) {
  ThreadBacktrace t;
  t.tid = tid;
  t.crashed = crashed;
  t.frames = std::move(frames);
  return t;
}

SignalInfo segv() {
  SignalInfo s;
  s.signo = SIGSEGV;
  return s;
}

}  // namespace

TEST(Fingerprint, HashesTheCrashedThreadsTopFramesByModuleAndFunction) {
  std::vector<ThreadBacktrace> bts = {
      thread(1, false, {frame("/lib/libc.so.6", "__poll")}),
      thread(2, true, {frame("/usr/bin/server", "crash_here"), frame("/usr/bin/server", "caller"),
                       frame("/usr/lib/libfoo.so", "", 0x1a2b)})};
  Fingerprint fp = crashFingerprint(segv(), bts);
  EXPECT_EQ(fp.frames, (std::vector<std::string>{"server!crash_here", "server!caller",
                                                 "libfoo.so!+0x1a2b"}));
  ASSERT_EQ(fp.hash.size(), 16u);
  EXPECT_EQ(fp.hash.find_first_not_of("0123456789abcdef"), std::string::npos);

  // The same crash elsewhere (other paths, other tids, other threads) groups together ...
  std::vector<ThreadBacktrace> again = {
      thread(7, true, {frame("/opt/server", "crash_here"), frame("/opt/server", "caller"),
                       frame("/lib/libfoo.so", "", 0x1a2b)})};
  EXPECT_EQ(crashFingerprint(segv(), again).hash, fp.hash);
  // ... another signal or another function does not.
  SignalInfo abrt;
  abrt.signo = SIGABRT;
  EXPECT_NE(crashFingerprint(abrt, bts).hash, fp.hash);
  again[0].frames[1].function = "other_caller";
  EXPECT_NE(crashFingerprint(segv(), again).hash, fp.hash);
}

TEST(Fingerprint, SkipsSignalTrampolinesAndKeepsFiveFrames) {
  std::vector<Frame> frames;
  for (int i = 0; i < 8; ++i) frames.push_back(frame("/bin/p", "f" + std::to_string(i)));
  frames[1].signalTrampoline = true;
  Fingerprint fp = crashFingerprint(segv(), {thread(1, true, frames)});
  EXPECT_EQ(fp.frames, (std::vector<std::string>{"p!f0", "p!f2", "p!f3", "p!f4", "p!f5"}));
}

TEST(Fingerprint, NoCrashedThreadUsesTheFirstAndNoSignalIsItsOwnKey) {
  std::vector<ThreadBacktrace> bts = {thread(1, false, {frame("/bin/p", "main")}),
                                      thread(2, false, {frame("/bin/p", "worker")})};
  Fingerprint fp = crashFingerprint(std::nullopt, bts);
  EXPECT_EQ(fp.frames, std::vector<std::string>{"p!main"});
  EXPECT_NE(fp.hash, crashFingerprint(segv(), bts).hash);
  EXPECT_EQ(crashFingerprint(std::nullopt, {}).frames.size(), 0u);
}

TEST(Fingerprint, RuntimeFramesOfAbortsAssertsAndThrowsAreSkipped) {
  auto assertAt = [](const char *site) {
    return thread(1, true, {frame("/lib/x86_64-linux-gnu/libc.so.6", "__pthread_kill_implementation"),
                            frame("/lib/x86_64-linux-gnu/libc.so.6", "__GI_raise"),
                            frame("/lib/x86_64-linux-gnu/libc.so.6", "__GI_abort"),
                            frame("/lib/x86_64-linux-gnu/libc.so.6", "__assert_fail_base"),
                            frame("/lib/x86_64-linux-gnu/libc.so.6", "__assert_fail"),
                            frame("/srv/app", site), frame("/srv/app", "main")});
  };
  SignalInfo abrt;
  abrt.signo = SIGABRT;
  Fingerprint a = crashFingerprint(abrt, {assertAt("check_input")});
  Fingerprint b = crashFingerprint(abrt, {assertAt("check_output")});
  EXPECT_EQ(a.frames, (std::vector<std::string>{"app!check_input", "app!main"}));
  EXPECT_NE(a.hash, b.hash);  // two assert sites: two groups
  // A throw through libstdc++ (and a statically linked terminate): the thrower counts.
  ThreadBacktrace thrown = thread(1, true, {frame("/lib/libc.so.6", "__pthread_kill_implementation"),
                                            frame("/srv/app", "__gnu_cxx::__verbose_terminate_handler"),
                                            frame("/usr/lib/libstdc++.so.6", "std::terminate"),
                                            frame("/usr/lib/libstdc++.so.6", "__cxa_throw"),
                                            frame("/srv/app", "Parser::fail"), frame("/srv/app", "main")});
  EXPECT_EQ(crashFingerprint(abrt, {thrown}).frames,
            (std::vector<std::string>{"app!Parser::fail", "app!main"}));
}

TEST(Fingerprint, AFaultInsideTheRuntimeKeepsItsInnermostFrame) {
  ThreadBacktrace t = thread(1, true, {frame("/lib/libc.so.6", "__strlen_avx2"),
                                       frame("/lib/libc.so.6", "msort_with_tmp"),
                                       frame("/srv/app", "compare"), frame("/srv/app", "main")});
  EXPECT_EQ(crashFingerprint(segv(), {t}).frames,
            (std::vector<std::string>{"libc.so.6!__strlen_avx2", "app!compare", "app!main"}));
  // Nothing but the runtime: its frames are all there is.
  ThreadBacktrace only = thread(1, true, {frame("/lib/libc.so.6", "__GI_abort"),
                                          frame("/lib/libc.so.6", "__libc_start_main")});
  EXPECT_EQ(crashFingerprint(segv(), {only}).frames,
            (std::vector<std::string>{"libc.so.6!__GI_abort", "libc.so.6!__libc_start_main"}));
}

TEST(Classification, RoundTripsThroughJson) {
  Classification c;
  c.kind = "null-deref";
  c.severity = "probably_not_exploitable";
  c.breakpadRating = "INTERESTING";
  c.rule = "address-below-64k";
  c.reason = "read of 0x10";
  c.evidence = {{"address", "0x10"}, {"access", "read"}};
  std::optional<Classification> back = classificationFromJson(classificationToJson(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, c.kind);
  EXPECT_EQ(back->severity, c.severity);
  EXPECT_EQ(back->rule, c.rule);
  EXPECT_EQ(back->reason, c.reason);
  EXPECT_EQ(back->breakpadRating, c.breakpadRating);
  EXPECT_EQ(back->evidence, c.evidence);  // in the order the rule used them
}

TEST(Classification, DamagedEntriesAreSkippedNotInvented) {
  EXPECT_FALSE(classificationFromJson(llvm::json::Value(1)));
  EXPECT_FALSE(classificationFromJson(llvm::json::Value(nullptr)));
  EXPECT_FALSE(classificationFromJson(llvm::json::Object{{"severity", "high"}}));  // no kind
  EXPECT_FALSE(classificationFromJson(llvm::json::Object{{"kind", 5}}));
  std::optional<Classification> c =
      classificationFromJson(llvm::json::Object{
          {"kind", "x"},
          {"evidence", llvm::json::Array{llvm::json::Object{{"fact", "a"}, {"value", "1"}},
                                         llvm::json::Object{{"fact", "n"}, {"value", 2}}, 7}}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->evidence, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}}));
}

TEST(FingerprintRules, ARuleFileSkipsRenamesStopsAndCounts) {
  ThreadBacktrace t = thread(1, true, {frame("/srv/libjson.so", "json::parse_value"),
                                       frame("/srv/app", "Handler::run.cold"),
                                       frame("/srv/app", "EventLoop::dispatch(int)"),
                                       frame("/srv/app", "EventLoop::run"), frame("/srv/app", "main")});
  // Built-in: clone suffixes (.cold, .isra.N, ...) are dropped.
  EXPECT_EQ(crashFingerprint(segv(), {t}).frames,
            (std::vector<std::string>{"libjson.so!json::parse_value", "app!Handler::run",
                                      "app!EventLoop::dispatch(int)", "app!EventLoop::run", "app!main"}));
  auto rules = FingerprintRules::parse(R"(# our noise
skip-module ^libjson\.so$
keep-innermost no
rename \(.*\)$ =>
stop-after ^EventLoop::
frames 3
)", "rules.txt");
  ASSERT_TRUE(bool(rules)) << llvm::toString(rules.takeError());
  Fingerprint fp = crashFingerprint(segv(), {t}, *rules);
  EXPECT_EQ(fp.frames, (std::vector<std::string>{"app!Handler::run", "app!EventLoop::dispatch"}));
  EXPECT_NE(fp.hash, crashFingerprint(segv(), {t}).hash);
  // The same crash through another JSON entry point now groups with it.
  ThreadBacktrace other = t;
  other.frames[0].function = "json::parse_array";
  EXPECT_EQ(crashFingerprint(segv(), {other}, *rules).hash, fp.hash);
  EXPECT_NE(crashFingerprint(segv(), {other}).hash, crashFingerprint(segv(), {t}).hash);
}

TEST(FingerprintRules, DefaultsOffStartsFromNothing) {
  ThreadBacktrace t = thread(1, true, {frame("/lib/libc.so.6", "__GI_abort"), frame("/srv/app", "main")});
  auto rules = FingerprintRules::parse("defaults off\n", "r");
  ASSERT_TRUE(bool(rules));
  EXPECT_EQ(crashFingerprint(segv(), {t}, *rules).frames,
            (std::vector<std::string>{"libc.so.6!__GI_abort", "app!main"}));
  EXPECT_EQ(crashFingerprint(segv(), {t}).frames, std::vector<std::string>{"app!main"});
}

TEST(FingerprintRules, BadFilesNameTheLineAndTheProblem) {
  auto msg = [](const char *text) {
    auto r = FingerprintRules::parse(text, "rules.txt");
    return r ? std::string("ok") : llvm::toString(r.takeError());
  };
  EXPECT_EQ(msg("frames 3\nskip-frame x\n"),
            "rules.txt:2: unknown rule 'skip-frame' (frames, skip-function, skip-module, stop-after, "
            "rename, keep-innermost, defaults)");
  EXPECT_NE(msg("skip-function ([a-z\n").find("rules.txt:1: bad regular expression '([a-z'"), std::string::npos);
  EXPECT_EQ(msg("frames 0\n"), "rules.txt:1: 'frames' needs a number from 1 to 64");
  EXPECT_EQ(msg("frames\n"), "rules.txt:1: 'frames' needs an argument");
  EXPECT_EQ(msg("rename abc\n"), "rules.txt:1: 'rename' needs 'REGEX => REPLACEMENT'");
  EXPECT_EQ(msg("frames 2\ndefaults off\n"), "rules.txt:2: 'defaults' must come before every other rule");
  EXPECT_EQ(msg("\n# only comments\n   \n"), "ok");
  auto missing = FingerprintRules::load("/nonexistent/rules.txt");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("/nonexistent/rules.txt: No such file"), std::string::npos);
}
