// Unit tests of engine/analysis/fault_rules on hand-made facts: the rules that need a situation a
// real crash gives rarely or never on this machine (a kernel that reports 0 for a non-canonical
// address, a minidump without memory maps, a ret into text), the order the rules are tried in,
// and glibc's assert message format.
#include "analysis/fault_rules.h"

#include <gtest/gtest.h>

#include <csignal>

using namespace bt;

namespace {

MemoryRegion region(uint64_t start, uint64_t end, uint32_t perms, std::string path = "") {
  MemoryRegion r;
  r.start = start;
  r.end = end;
  r.perms = perms;
  r.path = std::move(path);
  return r;
}

FaultFacts segvAt(uint64_t pc, uint64_t sp, std::optional<uint64_t> address) {
  FaultFacts f;
  SignalInfo s;
  s.signo = SIGSEGV;
  s.code = address ? 1 : 0x80;
  s.hasAddress = address.has_value();
  s.address = address.value_or(0);
  f.signal = s;
  f.regions = {region(0x400000, 0x401000, PermRead | PermExec, "/bin/prog"),
               region(0x7ff000000000, 0x7ff000100000, PermRead | PermWrite, "[stack]")};
  CrashEvidence e;
  e.regs.rip = pc;
  e.regs.rsp = sp;
  f.evidence = e;
  return f;
}

std::string fact(const Classification &c, const std::string &name) {
  for (const auto &[k, v] : c.evidence)
    if (k == name) return v;
  return "<none>";
}

}  // namespace

TEST(FaultRules, NothingCrashedIsNotClassified) {
  EXPECT_FALSE(classifyFault(FaultFacts{}));
  EXPECT_EQ(breakpadRating(FaultFacts{}, nullptr), "");
}

TEST(FaultRules, NonCanonicalAddressComesFromTheInstructionNotTheKernelsZero) {
  FaultFacts f = segvAt(0x400100, 0x7ff000080000, 0);  // the kernel said 0
  DecodedInstruction i;
  i.text = "mov rax, qword ptr [rcx]";
  i.access = AccessKind::Read;
  i.base = "rcx";
  i.effectiveAddress = 0x6172747320746f6eull;  // "not stra"
  f.instruction = i;
  std::optional<Classification> c = classifyFault(f);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "wild-read");  // not a NULL dereference
  EXPECT_EQ(c->rule, "text-as-pointer");
  EXPECT_EQ(c->severity, "probably_exploitable");
  EXPECT_EQ(fact(*c, "address_as_text"), "not stra");
  EXPECT_EQ(c->breakpadRating, "HIGH");
  // The same read through an ordinary corrupted (non-text) pointer: severity unknown.
  f.instruction->effectiveAddress = 0x8000000000001234ull;
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "wild-read");
  EXPECT_EQ(c->severity, "unknown");
  EXPECT_EQ(c->breakpadRating, "INTERESTING");
}

TEST(FaultRules, ARetIntoNowhereIsReturnAddressCorruptionACallIsNot) {
  FaultFacts f = segvAt(0x4141414141, 0x7ff000080000, 0x4141414141);
  f.evidence->wordBelowSp = 0x4141414141;  // what the ret popped
  std::optional<Classification> c = classifyFault(f);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "return-address-corruption");
  EXPECT_EQ(c->severity, "exploitable");
  EXPECT_EQ(c->breakpadRating, "HIGH");  // the pc is outside executable memory
  // A call leaves its return address at sp: the same pc is a jump through a bad pointer.
  f.spHoldsReturnAddress = true;
  f.evidence->wordAtSp = 0x400123;
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "jump-to-unmapped");
  // A call to NULL.
  f = segvAt(0, 0x7ff000080000, 0);
  f.spHoldsReturnAddress = true;
  f.evidence->wordAtSp = 0x400123;
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "call-to-null");
  EXPECT_EQ(fact(*c, "return_address"), "0x400123");
}

TEST(FaultRules, APcInAModuleWithoutAMappingListIsCode) {
  // A minidump without /proc/PID/maps lists modules but not their mappings.
  FaultFacts f = segvAt(0x200100, 0x7ff000080000, 0x10);
  f.regions = {region(0x7ff000000000, 0x7ff000100000, PermRead | PermWrite)};
  ModuleInfo m;
  m.path = "/bin/prog";
  m.start = 0x200000;
  m.end = 0x300000;
  f.modules = {m};
  std::optional<Classification> c = classifyFault(f);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "null-deref");  // not "execute-non-executable"
  EXPECT_EQ(c->severity, "unknown");  // no instruction: read or write is not known
  EXPECT_EQ(c->breakpadRating, "INTERESTING");
  // The reader makes nameless rw- regions of the dump's memory list, the code around the pc
  // included: their made-up permissions must not make the pc "not code".
  f.regions.insert(f.regions.begin(), region(0x200000, 0x200200, PermRead | PermWrite));
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "null-deref");
  EXPECT_EQ(c->breakpadRating, "INTERESTING");
  // With /proc/PID/maps the module's own mapping names it, and its permissions count.
  f.regions.front().path = "/bin/prog";
  EXPECT_EQ(classifyFault(f)->kind, "execute-non-executable");
}

TEST(FaultRules, StackPointerInANamedMappingThatIsNotAStackIsAPivot) {
  FaultFacts f = segvAt(0x400100, 0x400800, 0x10);
  std::optional<Classification> c = classifyFault(f);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, "stack-pivot");
  EXPECT_EQ(c->rule, "sp-not-in-stack");
  EXPECT_EQ(c->breakpadRating, "HIGH");
  // A fault just below the stack pointer, in no mapping: the stack ran out instead.
  f = segvAt(0x400100, 0x7ff000000010, 0x7fefffffffe8);
  c = classifyFault(f);
  EXPECT_EQ(c->kind, "stack-overflow");
  EXPECT_EQ(c->severity, "probably_not_exploitable");
}

TEST(FaultRules, TheLibrarysOwnMessageNamesTheBug) {
  FaultFacts f;
  SignalInfo s;
  s.signo = SIGABRT;
  f.signal = s;
  f.evidence = CrashEvidence{};
  f.evidence->abortMessage = "*** stack smashing detected ***: terminated";
  EXPECT_EQ(classifyFault(f)->kind, "stack-buffer-overflow");
  EXPECT_EQ(classifyFault(f)->breakpadRating, "HIGH");
  f.evidence->abortMessage = "double free or corruption (fasttop)";
  EXPECT_EQ(classifyFault(f)->kind, "double-free");
  EXPECT_EQ(classifyFault(f)->breakpadRating, "NONE");  // Breakpad: SIGABRT is benign
  f.evidence->abortMessage = "malloc(): corrupted top size";
  EXPECT_EQ(classifyFault(f)->kind, "heap-corruption");
  f.evidence->abortMessage = "";
  EXPECT_EQ(classifyFault(f)->kind, "abort");
  EXPECT_EQ(classifyFault(f)->severity, "unknown");
  // Frames say it when the message is missing (a glibc without __abort_msg symbols).
  Frame fr;
  fr.function = "__stack_chk_fail";
  f.frames = {fr};
  EXPECT_EQ(classifyFault(f)->kind, "stack-buffer-overflow");
}

TEST(FaultRules, ParsesGlibcAssertMessages) {
  auto a = parseAssertMessage("server: src/queue.c:42: pop: Assertion `q->len > 0' failed.");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->file, "src/queue.c");
  EXPECT_EQ(a->line, 42u);
  EXPECT_EQ(a->function, "pop");
  EXPECT_EQ(a->expression, "q->len > 0");
  // No program name, a C++ function with ": " nowhere but "::" inside, a quote in the expression.
  a = parseAssertMessage("a.cpp:7: int ns::f(int): Assertion `s == \"x: y\"' failed.");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->file, "a.cpp");
  EXPECT_EQ(a->function, "int ns::f(int)");
  EXPECT_EQ(a->expression, "s == \"x: y\"");
  // No function (glibc leaves it out when it has none); an expression that itself says "failed".
  a = parseAssertMessage("prog: f.c:3: Assertion `strcmp(s, \"' failed\") == 0' failed.");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->file, "f.c");
  EXPECT_EQ(a->line, 3u);
  EXPECT_EQ(a->function, "");
  EXPECT_EQ(a->expression, "strcmp(s, \"' failed\") == 0");
  // 100 KiB of text: parsed in linear time, no recursion.
  EXPECT_FALSE(parseAssertMessage(std::string(100000, ':') + "Assertion `x"));
  EXPECT_FALSE(parseAssertMessage("free(): invalid pointer"));
  EXPECT_FALSE(parseAssertMessage(""));
}
