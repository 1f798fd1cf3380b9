// Unit tests of the minidump reader on synthetic minidumps (tests/synth/minidump_builder.h):
// threads and registers, the exception's thread and signal, memory from stacks and the memory
// list, Linux streams; and damaged dumps that must give a clear error, never a crash.
#include "support/error.h"
#include "synth/minidump_builder.h"
#include "target/minidump.h"
#include "target/breakpad_ids.h"
#include "target/siginfo.h"

#include <gtest/gtest.h>

#include <random>

using namespace bt;

namespace {

llvm::Expected<std::unique_ptr<Minidump>> openBytes(const std::string &bytes) {
  return Minidump::openBuffer(llvm::MemoryBuffer::getMemBufferCopy(bytes), "synthetic.dmp");
}

}  // namespace

TEST(Minidump, ReadsThreadsExceptionMemoryAndLinuxStreams) {
  auto m = openBytes(synth::sampleMinidump());
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  Minidump &d = **m;
  EXPECT_STREQ(d.kind(), "minidump");
  ASSERT_EQ(d.threads().size(), 2u);
  EXPECT_EQ(d.threads()[0].tid, 4242);
  EXPECT_EQ(d.threads()[0].regs.rip, 0x401000u);
  EXPECT_EQ(d.threads()[0].regs.rsp, 0x7ffd0100u);
  EXPECT_EQ(d.threads()[0].regs.rbp, 0x7ffd0200u);
  EXPECT_EQ(d.crashedTid(), 4242);
  ASSERT_TRUE(d.signal());
  EXPECT_EQ(d.signal()->signo, SIGSEGV);
  EXPECT_TRUE(d.signal()->hasAddress);
  EXPECT_EQ(d.signal()->address, 0x10u);
  ASSERT_TRUE(d.threads()[0].signal);
  EXPECT_FALSE(d.threads()[1].signal);
  // Stack memory (word i holds 0x2000 + i), the memory list, and nothing elsewhere.
  uint64_t w = 0;
  ASSERT_TRUE(d.readU64(0x7ffd0000 + 8 * 5, w));
  EXPECT_EQ(w, 0x2005u);
  char c = 0;
  EXPECT_EQ(d.readMemory(0x600010, &c, 1), 1u);
  EXPECT_EQ(c, '\x22');
  EXPECT_EQ(d.readMemory(0x500000, &c, 1), 0u);
  // A read running off the end of the stack stops there.
  char buf[64];
  EXPECT_EQ(d.readMemory(0x7ffd1000 - 16, buf, sizeof buf), 16u);
  // /proc streams: maps, pid, uid, command line.
  ASSERT_EQ(d.regions().size(), 5u);
  EXPECT_EQ(d.regions()[1].perms, PermRead | PermExec);
  EXPECT_EQ(d.regions()[1].path, "/usr/bin/crashy");
  EXPECT_EQ(d.process().pid, 4242);
  EXPECT_EQ(d.process().uid, 1000);
  EXPECT_EQ(d.process().commandLine, (std::vector<std::string>{"./crashy", "--fast"}));
}

TEST(Minidump, AGeneralProtectionFaultHasNoAddress) {
  // si_code SI_KERNEL (0x80) in the exception flags: the kernel gave no address (a non-canonical
  // dereference); the record's 0 must not read as a NULL dereference. A SIGSEGV a process sent
  // (SI_TKILL, -6) has none either; SEGV_MAPERR (1) has one, and so does 0, which many writers
  // leave in the flags (rust-minidump and Breakpad's processor report the address then).
  for (auto [code, hasAddress] : {std::pair{0x80u, false}, {uint32_t(-6), false}, {1u, true}, {0u, true}}) {
    synth::MinidumpBuilder b;
    b.thread({4242, 0x401000, 0x7ffd0100, 0x7ffd0200, 0x7ffd0000, std::string(64, '\0')});
    b.exception(4242, SIGSEGV, hasAddress ? 0x10 : 0, code);
    auto m = openBytes(b.build());
    ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
    ASSERT_TRUE((*m)->signal());
    EXPECT_EQ((*m)->signal()->code, int(code));
    EXPECT_EQ((*m)->signal()->hasAddress, hasAddress) << "si_code " << code;
    EXPECT_EQ(isGeneralProtectionFault(*(*m)->signal()), code == 0x80u);
  }
}

TEST(Minidump, OtherArchitecturesAndMissingThreadsAreClearErrors) {
  synth::MinidumpBuilder arm;
  arm.architecture(llvm::minidump::ProcessorArchitecture::ARM64);
  arm.thread({1, 0x1000, 0x2000, 0, 0x2000, std::string(64, '\0')});
  auto a = openBytes(arm.build());
  ASSERT_FALSE(bool(a));
  ErrorReport r = takeErrorReport(a.takeError());
  EXPECT_EQ(r.kind, ErrorKind::BadInput);
  EXPECT_NE(r.message.find("only x86-64"), std::string::npos) << r.message;

  auto none = openBytes(synth::MinidumpBuilder().build());
  ASSERT_FALSE(bool(none));
  r = takeErrorReport(none.takeError());
  EXPECT_EQ(r.kind, ErrorKind::BadInput);
  EXPECT_NE(r.message.find("synthetic.dmp"), std::string::npos) << r.message;
}

TEST(Minidump, TruncationsAndBitFlipsNeverCrash) {
  std::string good = synth::sampleMinidump();
  for (size_t cut = 0; cut < good.size(); cut += 37) {
    auto m = openBytes(good.substr(0, cut));
    if (!m) {
      EXPECT_FALSE(takeErrorReport(m.takeError()).message.empty());
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = good;
    for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] ^= char(1 << (rng() % 8));
    auto m = openBytes(bad);
    if (!m) {
      EXPECT_FALSE(takeErrorReport(m.takeError()).message.empty());
      continue;
    }
    char buf[256];
    for (const ThreadInfo &t : (*m)->threads()) (*m)->readMemory(t.regs.rsp, buf, sizeof buf);
  }
}

// Breakpad's ids of an ELF build, as rust-minidump's and Breakpad's tools print them for
// linux-mini.dmp's modules (../shared/testdata/minidump/rust-minidump).
TEST(BreakpadIds, DebugAndCodeIdsFromBuildIds) {
  EXPECT_EQ(breakpadDebugId("f1c3bcc0279865fe3058404b2831d9e64135386c"), "C0BCC3F19827FE653058404B2831D9E60");
  EXPECT_EQ(breakpadCodeId("f1c3bcc0279865fe3058404b2831d9e64135386c"), "f1c3bcc0279865fe3058404b2831d9e64135386c");
  EXPECT_EQ(breakpadDebugId("B5381A457906D279073822A5CEB24C4BFEF94DDB"), "451A38B5067979D2073822A5CEB24C4B0");
  EXPECT_EQ(breakpadCodeId("B5381A457906D279073822A5CEB24C4BFEF94DDB"), "b5381a457906d279073822a5ceb24c4bfef94ddb");
  // Shorter than a GUID: zero-padded, as Breakpad does.
  EXPECT_EQ(breakpadDebugId("0102030405060708"), "04030201060508070000000000000000" "0");
  EXPECT_EQ(breakpadDebugId(""), "");
  EXPECT_EQ(breakpadDebugId("xyz0"), "");
  EXPECT_EQ(breakpadCodeId("abc"), "");  // odd length: not a byte string
}

TEST(Minidump, CrashpadAnnotationsBecomeAttributes) {
  synth::MinidumpBuilder b;
  b.thread({7, 0x401000, 0x7ffd0100, 0, 0x7ffd0000, std::string(256, '\0')});
  b.exception(7, SIGSEGV, 0x10);
  b.crashpadInfo({{"prod", "server"}, {"ver", "1.2"}}, {{"channel", "beta"}, {"ver", "shadowed"}},
                 {{"build", 1, "abc123"}, {"blob", 0x8001, std::string("\x01\x02", 2)}});
  auto m = openBytes(b.build());
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  using KV = std::vector<std::pair<std::string, std::string>>;
  // Process first, then the module's; the first value of a key wins; non-string objects skipped.
  EXPECT_EQ((*m)->attributes(), (KV{{"prod", "server"}, {"ver", "1.2"}, {"channel", "beta"}, {"build", "abc123"}}));
  EXPECT_TRUE((*m)->warnings().empty());

  // Damaged: every offset and count is checked; what was read before the damage is kept.
  std::string bytes = b.build();
  size_t at = bytes.find("server");
  ASSERT_NE(at, std::string::npos);
  for (size_t cut : {size_t(0), size_t(1)}) {
    std::string bad = bytes;
    // The "ver" key's length word (the string after "server").
    uint32_t huge = 0xfffffff0u;
    size_t verKey = bad.find(std::string("\x03\0\0\0ver\0", 8), at);
    if (cut) memcpy(&bad[verKey], &huge, 4);
    auto d = openBytes(bad);
    ASSERT_TRUE(bool(d)) << llvm::toString(d.takeError());
    if (!cut) continue;
    EXPECT_EQ((*d)->attributes(), (KV{{"prod", "server"}}));
    ASSERT_FALSE((*d)->warnings().empty());
    EXPECT_NE((*d)->warnings().back().find("Crashpad annotations are damaged"), std::string::npos);
  }
}
