#include "symbols/breakpad_symbol_store.h"
#include "symbols/breakpad_symbols.h"
#include "symbols/gdb_names.h"
#include "unwind/breakpad_cfi.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

using namespace bt;

namespace {

// The shape of ../shared/testdata/minidump/breakpad's linux_inline symbols: main with foo()
// inlined at a.cpp:42, bar() inlined into foo at b.cpp:39 and func() into bar at c.cpp:32.
const char kNewLayout[] =
    "MODULE Linux x86_64 BBA6FA10B8AAB33D00000000000000000 linux_inline\n"
    "INFO CODE_ID 10FAA6BBAAB83DB3\n"
    "FILE 0 linux_inline.cpp\nFILE 1 a.cpp\nFILE 2 b.cpp\nFILE 3 c.cpp\n"
    "INLINE_ORIGIN 0 bar()\nINLINE_ORIGIN 1 foo()\nINLINE_ORIGIN 2 func()\n"
    "FUNC 15b30 6cf 0 main\n"
    "INLINE 0 42 1 1 15b45 6b1\n"
    "INLINE 1 39 2 0 15b72 684\n"
    "INLINE 2 32 3 2 15b83 673\n"
    "15b30 15 41 0\n15b45 11 36 0\n15b72 11 31 0\n15b83 a 9 0\n"
    "PUBLIC 15b00 0 _start\n"
    "STACK CFI INIT 15b30 6cf .cfa: $rsp 8 + .ra: .cfa -8 + ^\n"
    "STACK CFI 15b31 .cfa: $rsp 16 + $rbp: .cfa -16 + ^\n"
    "STACK CFI 15b34 .cfa: $rbp 16 +\n"
    "STACK WIN 4 15b30 6cf 0 0 0 0 0 0 1 $eip\n";

const char kOldLayout[] =
    "MODULE Linux x86_64 BBA6FA10B8AAB33D00000000000000000 linux_inline\n"
    "FILE 0 linux_inline.cpp\n"
    "INLINE_ORIGIN 0 0 bar()\nINLINE_ORIGIN 1 0 foo()\nINLINE_ORIGIN 2 0 func()\n"
    "FUNC 15b30 6cf 0 main\n"
    "INLINE 0 42 1 15b45 6b1\n"
    "INLINE 1 39 0 15b72 684\n"
    "INLINE 2 32 2 15b83 673\n"
    "15b30 15 41 0\n15b83 a 9 0\n";

}  // namespace

TEST(BreakpadSymbols, ModuleFunctionsInlinesAndLines) {
  auto s = BreakpadSymbols::parse(kNewLayout);
  ASSERT_TRUE(bool(s)) << llvm::toString(s.takeError());
  EXPECT_EQ(s->os(), "Linux");
  EXPECT_EQ(s->arch(), "x86_64");
  EXPECT_EQ(s->debugId(), "BBA6FA10B8AAB33D00000000000000000");
  EXPECT_EQ(s->name(), "linux_inline");
  EXPECT_EQ(s->codeId(), "10faa6bbaab83db3");
  EXPECT_EQ(s->malformedLines(), 0u);
  // Three calls deep: func() inside bar() inside foo() inside main.
  auto chain = s->lookup(0x15b85);
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[0].function, "func()");
  EXPECT_TRUE(chain[0].inlined);
  EXPECT_EQ(chain[0].file, "linux_inline.cpp");
  EXPECT_EQ(chain[0].line, 9u);
  EXPECT_EQ(chain[1].function, "bar()");
  EXPECT_EQ(chain[1].file, "c.cpp");
  EXPECT_EQ(chain[1].line, 32u);
  EXPECT_EQ(chain[2].function, "foo()");
  EXPECT_EQ(chain[2].file, "b.cpp");
  EXPECT_EQ(chain[2].line, 39u);
  EXPECT_EQ(chain[3].function, "main");
  EXPECT_FALSE(chain[3].inlined);
  EXPECT_EQ(chain[3].file, "a.cpp");
  EXPECT_EQ(chain[3].line, 42u);
  // Before the first inlined call: main alone, on its own line.
  chain = s->lookup(0x15b30);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].function, "main");
  EXPECT_EQ(chain[0].line, 41u);
  EXPECT_EQ(s->functionStart(0x15b90), 0x15b30u);
  // Outside every FUNC: nothing, and the PUBLIC symbol below says what it is.
  EXPECT_TRUE(s->lookup(0x15b10).empty());
  EXPECT_FALSE(s->functionStart(0x15b10));
  auto pub = s->publicSymbol(0x15b10);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->first, "_start");
  EXPECT_EQ(pub->second, 0x15b00u);
  EXPECT_FALSE(s->publicSymbol(0x100));
}

TEST(BreakpadSymbols, TheOldInlineLayoutToo) {
  auto s = BreakpadSymbols::parse(kOldLayout);
  ASSERT_TRUE(bool(s)) << llvm::toString(s.takeError());
  auto chain = s->lookup(0x15b85);
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[0].function, "func()");  // the origin's file id is not part of its name
  EXPECT_EQ(chain[1].function, "bar()");
  EXPECT_EQ(chain[1].line, 32u);
  EXPECT_EQ(chain[2].function, "foo()");
  EXPECT_EQ(chain[3].function, "main");
  EXPECT_EQ(chain[3].line, 42u);
}

TEST(BreakpadSymbols, CfiRulesAccumulateUpToTheAddress) {
  auto s = BreakpadSymbols::parse(kNewLayout);
  ASSERT_TRUE(bool(s));
  auto at = [&](uint64_t a) { return s->cfiRules(a); };
  ASSERT_TRUE(at(0x15b30));
  EXPECT_EQ((*at(0x15b30))[".cfa"], "$rsp 8 +");
  EXPECT_EQ((*at(0x15b30))[".ra"], ".cfa -8 + ^");
  EXPECT_EQ(at(0x15b30)->count("$rbp"), 0u);
  EXPECT_EQ((*at(0x15b32))[".cfa"], "$rsp 16 +");
  EXPECT_EQ((*at(0x15b32))["$rbp"], ".cfa -16 + ^");
  EXPECT_EQ((*at(0x15b40))[".cfa"], "$rbp 16 +");
  EXPECT_EQ((*at(0x15b40))["$rbp"], ".cfa -16 + ^");  // kept from the earlier delta
  EXPECT_EQ((*at(0x15b40))[".ra"], ".cfa -8 + ^");
  EXPECT_FALSE(at(0x15b30 + 0x6cf));  // past the INIT range
  EXPECT_FALSE(at(0x100));
}

TEST(BreakpadSymbols, BadInputIsCountedOrRefused) {
  EXPECT_FALSE(bool(BreakpadSymbols::parse("")));
  auto notSym = BreakpadSymbols::parse("\x7f" "ELF garbage\n");
  ASSERT_FALSE(bool(notSym));
  EXPECT_NE(llvm::toString(notSym.takeError()).find("MODULE"), std::string::npos);
  auto s = BreakpadSymbols::parse(
      "MODULE Linux x86_64 0123 m\n"
      "15b30 15 41 0\n"           // a line record before any FUNC
      "FUNC zz 10 0 f\n"          // not hex
      "FUNC 1000 10 0 f\n"
      "1000 10 x 0\n"             // bad line number
      "INLINE 0 1\n"              // too short
      "STACK CFI 1000 .cfa: $rsp 8 +\n"  // a delta before any INIT
      "NONSENSE\n");
  ASSERT_TRUE(bool(s));
  EXPECT_EQ(s->malformedLines(), 6u);
  EXPECT_EQ(s->functionCount(), 1u);
  ASSERT_EQ(s->lookup(0x1004).size(), 1u);
  EXPECT_EQ(s->lookup(0x1004)[0].function, "f");
  EXPECT_EQ(s->lookup(0x1004)[0].line, 0u);  // no line record survived
}

TEST(BreakpadCfi, PostfixExpressions) {
  std::map<std::string, uint64_t> vars{{"$rsp", 0x1000}, {".cfa", 0x2000}};
  uint64_t word = 0x4242;
  MemoryReader mem = [&](uint64_t a, void *b, size_t n) -> size_t {
    if (a != 0x1ff8 || n != 8) return 0;
    memcpy(b, &word, 8);
    return 8;
  };
  auto eval = [&](const char *e) { return evalBreakpadPostfix(e, vars, mem); };
  EXPECT_EQ(*eval("$rsp 8 +"), 0x1008u);
  EXPECT_EQ(*eval(".cfa -8 + ^"), 0x4242u);
  EXPECT_EQ(*eval("$rsp 0x10 -"), 0xff0u);
  EXPECT_EQ(*eval("$rsp 3 * 2 /"), 0x1800u);
  EXPECT_EQ(*eval("$rsp 7 + 16 @"), 0x1000u);
  EXPECT_EQ(*eval("-8 -3 %"), uint64_t(-2));
  for (const char *bad : {"", "$rsp +", "1 2", "$rax 8 +", "$rsp 0 /", "$rsp 3 @", "$rsp ^", "^", "+"}) {
    auto r = eval(bad);
    EXPECT_FALSE(bool(r)) << bad;
    if (!r) {
      EXPECT_FALSE(llvm::toString(r.takeError()).empty()) << bad;
    }
  }
}

TEST(BreakpadCfi, CallerRegistersFromTheSymbolFilesRules) {
  auto s = BreakpadSymbols::parse(kNewLayout);
  ASSERT_TRUE(bool(s));
  // At 0x15b32: .cfa = $rsp + 16, .ra at CFA-8, $rbp saved at CFA-16.
  std::map<std::string, uint64_t> callee{{"$rsp", 0x7000}, {"$rip", 0x15b32}, {"$rbp", 1}};
  std::map<uint64_t, uint64_t> stack{{0x7008, 0x401234}, {0x7000, 0x7100}};
  MemoryReader mem = [&](uint64_t a, void *b, size_t n) -> size_t {
    auto it = stack.find(a);
    if (it == stack.end() || n != 8) return 0;
    memcpy(b, &it->second, 8);
    return 8;
  };
  auto caller = applyBreakpadCfi(*s->cfiRules(0x15b32), callee, mem);
  ASSERT_TRUE(bool(caller)) << llvm::toString(caller.takeError());
  EXPECT_EQ((*caller)["$rsp"], 0x7010u);
  EXPECT_EQ((*caller)["$rip"], 0x401234u);
  EXPECT_EQ((*caller)["$rbp"], 0x7100u);
  // The return address unreadable: an error, not a guess.
  stack.erase(0x7008);
  auto lost = applyBreakpadCfi(*s->cfiRules(0x15b32), callee, mem);
  ASSERT_FALSE(bool(lost));
  EXPECT_NE(llvm::toString(lost.takeError()).find("unreadable"), std::string::npos);
  EXPECT_FALSE(bool(applyBreakpadCfi({{".cfa", "$rsp 8 +"}}, callee, mem)));  // no .ra
}

TEST(BreakpadNames, FramesAreNamedAsGdbNamesThem) {
  EXPECT_EQ(breakpadFunctionName("main"), "main");
  EXPECT_EQ(breakpadFunctionName("bar()"), "bar");
  EXPECT_EQ(breakpadFunctionName("ns::Foo<int>::bar(int, char const*) const"), "ns::Foo<int>::bar");
  EXPECT_EQ(breakpadFunctionName("google_breakpad::PageAllocator::FreeAll() [clone .isra.6]"),
            "google_breakpad::PageAllocator::FreeAll");
  EXPECT_EQ(breakpadFunctionName("f(int) [clone .isra.20] [clone .part.21]"), "f");
  EXPECT_EQ(breakpadFunctionName("Foo::operator()(int)"), "Foo::operator()");
  EXPECT_EQ(breakpadFunctionName("(anonymous namespace)::Writer::Write(void (*)(int))"),
            "(anonymous namespace)::Writer::Write");
  EXPECT_EQ(breakpadFunctionName("_ZN2ns3fooEv"), "ns::foo");
  EXPECT_EQ(breakpadFunctionName("unbalanced)"), "unbalanced)");
  EXPECT_EQ(breakpadFunctionName("void tmpl::crash_site<long>(long)"), "tmpl::crash_site<long>");
  EXPECT_EQ(breakpadFunctionName("main::{lambda(int)#1}::operator()"), "main::{lambda(int)#1}::operator()");
  EXPECT_EQ(breakpadFunctionName("std::pair<int, int>::pair<int&>(int&) requires _S_constructible<int&>()"),
            "std::pair<int, int>::pair<int&>");
  EXPECT_EQ(breakpadFunctionName("Foo::operator new(unsigned long)"), "Foo::operator new");
  EXPECT_EQ(breakpadFunctionName("void f<int>(int)::Guard::Guard(int)"), "void f<int>(int)::Guard::Guard");
  EXPECT_EQ(breakpadFunctionName("int (anonymous namespace)::g<int>(int)"), "(anonymous namespace)::g<int>");
  EXPECT_EQ(breakpadFunctionName("Foo::operator unsigned long() const"), "Foo::operator unsigned long");
}

TEST(BreakpadSymbolStore, FindsByNameAndDebugIdAndRefusesAnotherBuild) {
  char tmpl[] = "/tmp/bt-symstore-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  std::string id = "BBA6FA10B8AAB33D00000000000000000";
  std::string dir = root + "/linux_inline/" + id;
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  {
    std::ofstream(dir + "/linux_inline.sym") << kNewLayout;
  }
  std::vector<std::string> warnings;
  BreakpadSymbolStore store({root});
  const BreakpadSymbols *s = store.find("linux_inline", id, warnings);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s, store.find("linux_inline", llvm::StringRef(id).lower(), warnings));  // parsed once
  EXPECT_EQ(store.find("linux_inline", "", warnings), nullptr);  // a store needs the id
  EXPECT_EQ(store.find("other", id, warnings), nullptr);
  EXPECT_TRUE(warnings.empty());
  // Filed under another id than its MODULE line's: refused, said once.
  std::string other = "00000000000000000000000000000000A";
  ASSERT_EQ(system(("mkdir -p " + root + "/linux_inline/" + other + " && cp " + dir +
                    "/linux_inline.sym " + root + "/linux_inline/" + other + "/").c_str()), 0);
  EXPECT_EQ(store.find("linux_inline", other, warnings), nullptr);
  EXPECT_EQ(store.find("linux_inline", other, warnings), nullptr);
  EXPECT_EQ(warnings.size(), 1u);
  // A file given directly serves the module its MODULE line names, by id, or by name without one.
  BreakpadSymbolStore file({dir + "/linux_inline.sym"});
  EXPECT_NE(file.find("renamed", id, warnings), nullptr);
  EXPECT_NE(file.find("linux_inline", "", warnings), nullptr);
  EXPECT_EQ(file.find("linux_inline", other, warnings), nullptr);
  ASSERT_EQ(system(("rm -rf " + root).c_str()), 0);
}
