// Unit tests of the ELF core reader on synthetic cores: notes (NT_PRSTATUS, NT_PRPSINFO,
// NT_SIGINFO, NT_AUXV, NT_FILE), memory from PT_LOAD, and malformed files (truncated, garbage
// notes, random bit flips) that must give a clear error, never a crash.
#include "support/error.h"
#include "target/core_file.h"
#include "synth/core_builder.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

using namespace bt;
using synth::CoreBuilder;
using synth::sampleCore;

namespace {

std::string writeTemp(const std::string &data) {
  char path[] = "/tmp/bt_core_test_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
  close(fd);
  return path;
}

}  // namespace

TEST(CoreFile, ParsesThreadsSignalProcessAndMemory) {
  std::string path = writeTemp(sampleCore());
  auto core = CoreFile::open(path);
  ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
  CoreFile &c = **core;
  ASSERT_EQ(c.threads().size(), 2u);
  EXPECT_EQ(c.threads()[0].tid, 100);
  EXPECT_EQ(c.threads()[0].regs.rip, 0x401000u);
  EXPECT_EQ(c.threads()[0].regs.rsp, 0x7ff000u);
  EXPECT_EQ(c.threads()[0].regs.rbp, 0xbbbbu);
  EXPECT_EQ(c.threads()[0].name, "crashy");
  EXPECT_EQ(c.threads()[1].tid, 101);
  EXPECT_FALSE(c.threads()[1].signal);
  ASSERT_TRUE(c.crashedTid());
  EXPECT_EQ(*c.crashedTid(), 100);
  ASSERT_TRUE(c.signal());
  EXPECT_EQ(c.signal()->signo, SIGSEGV);
  EXPECT_EQ(c.signal()->code, 1);
  EXPECT_TRUE(c.signal()->hasAddress);
  EXPECT_EQ(c.signal()->address, 0x10u);
  EXPECT_EQ(c.process().pid, 100);
  ASSERT_EQ(c.process().commandLine.size(), 2u);
  EXPECT_EQ(c.process().commandLine[1], "--fast");
  EXPECT_EQ(c.auxvValue(AT_PAGESZ), 4096u);

  uint64_t w = 0;
  EXPECT_TRUE(c.readU64(0x7ff000 + 8 * 7, w));
  EXPECT_EQ(w, 0x1007u);
  // A read that runs off the end of the segment returns the readable prefix.
  char buf[16];
  EXPECT_EQ(c.readMemory(0x800000 - 8, buf, 16), 8u);
  EXPECT_EQ(c.readMemory(0x900000, buf, 8), 0u);  // in a segment, but not dumped
  EXPECT_EQ(c.readMemory(0x12345678, buf, 8), 0u);
  ASSERT_EQ(c.regions().size(), 2u);
  unlink(path.c_str());
}

TEST(CoreFile, CoreCutBeforeItsThreadsIsATruncatedError) {
  std::string data = sampleCore();
  Elf64_Ehdr eh;
  memcpy(&eh, data.data(), sizeof eh);
  uint64_t notes = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    memcpy(&ph, data.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_NOTE) notes = ph.p_offset;
  }
  ASSERT_GT(notes, 0u);
  // Inside the ELF header, inside the program headers, inside the first NT_PRSTATUS.
  for (size_t cut : {size_t(70), size_t(200), size_t(notes + 40)}) {
    std::string path = writeTemp(data.substr(0, cut));
    auto core = CoreFile::open(path);
    ASSERT_FALSE(bool(core)) << "cut at " << cut;
    ErrorReport r = takeErrorReport(core.takeError());
    EXPECT_EQ(r.kind, ErrorKind::Truncated) << r.message;
    EXPECT_NE(r.message.find("truncated"), std::string::npos) << r.message;
    unlink(path.c_str());
  }
}

TEST(CoreFile, TruncatedCoreIsReadAsFarAsItGoes) {
  std::string data = sampleCore();
  // The stack segment is last: cut off its end, then most of it.
  for (size_t lost : {size_t(100), size_t(4000)}) {
    std::string path = writeTemp(data.substr(0, data.size() - lost));
    auto core = CoreFile::open(path);
    ASSERT_TRUE(bool(core)) << "lost " << lost << ": " << llvm::toString(core.takeError());
    CoreFile &c = **core;
    EXPECT_TRUE(c.partial());
    ASSERT_FALSE(c.warnings().empty());
    EXPECT_NE(c.warnings()[0].find("truncated core file"), std::string::npos) << c.warnings()[0];
    // Every thread's registers are in the notes at the start.
    ASSERT_EQ(c.threads().size(), 2u);
    EXPECT_EQ(c.threads()[0].regs.rip, 0x401000u);
    EXPECT_EQ(c.crashedTid(), 100);
    // What is present reads as stored; what was cut off is unreadable, never zeros.
    uint64_t w = 0;
    EXPECT_TRUE(c.readU64(0x7ff000 + 8 * 7, w));
    EXPECT_EQ(w, 0x1007u);
    char buf[16];
    EXPECT_EQ(c.readMemory(0x800000 - 8, buf, 8), 0u);
    size_t present = 4096 - lost;
    EXPECT_EQ(c.readMemory(0x7ff000 + present - 8, buf, 16), 8u);
    unlink(path.c_str());
  }
  // A complete core is not partial.
  std::string path = writeTemp(data);
  auto whole = CoreFile::open(path);
  ASSERT_TRUE(bool(whole));
  EXPECT_FALSE((*whole)->partial());
  unlink(path.c_str());
}

TEST(CoreFile, NotACoreIsABadInputError) {
  std::string path = writeTemp("#!/bin/sh\necho hello\n");
  auto core = CoreFile::open(path);
  ASSERT_FALSE(bool(core));
  ErrorReport r = takeErrorReport(core.takeError());
  EXPECT_EQ(r.kind, ErrorKind::BadInput);
  unlink(path.c_str());

  auto self = CoreFile::open("/proc/self/exe");  // an ELF, but ET_EXEC/ET_DYN
  ASSERT_FALSE(bool(self));
  ErrorReport r2 = takeErrorReport(self.takeError());
  EXPECT_EQ(r2.kind, ErrorKind::BadInput);
  EXPECT_NE(r2.message.find("not a core file"), std::string::npos) << r2.message;

  auto missing = CoreFile::open("/nonexistent/core.1");
  ASSERT_FALSE(bool(missing));
  EXPECT_EQ(takeErrorReport(missing.takeError()).kind, ErrorKind::MissingFile);
}

TEST(CoreFile, GarbageNotesAreRejectedCleanly) {
  CoreBuilder b;
  b.thread(7, SIGABRT, 1, 2);
  // A note whose descsz runs far past the segment.
  uint32_t hdr[3] = {5, 0x7fffffff, NT_FILE};
  b.notes.append(reinterpret_cast<char *>(hdr), 12);
  b.notes += "CORE";
  b.notes.append(4, '\0');
  std::string path = writeTemp(b.build());
  auto core = CoreFile::open(path);
  ASSERT_FALSE(bool(core));
  ErrorReport r = takeErrorReport(core.takeError());
  EXPECT_EQ(r.kind, ErrorKind::BadInput);
  EXPECT_NE(r.message.find("note"), std::string::npos) << r.message;
  unlink(path.c_str());

  // NT_FILE with an absurd count.
  CoreBuilder c;
  c.thread(7, SIGABRT, 1, 2);
  uint64_t nf[2] = {~0ull / 2, 4096};
  c.note(NT_FILE, "CORE", std::string(reinterpret_cast<char *>(nf), 16));
  path = writeTemp(c.build());
  auto core2 = CoreFile::open(path);
  ASSERT_FALSE(bool(core2));
  EXPECT_EQ(takeErrorReport(core2.takeError()).kind, ErrorKind::BadInput);
  unlink(path.c_str());

  // No NT_PRSTATUS at all.
  CoreBuilder d;
  d.note(NT_AUXV, "CORE", std::string(16, '\0'));
  path = writeTemp(d.build());
  auto core3 = CoreFile::open(path);
  ASSERT_FALSE(bool(core3));
  EXPECT_EQ(takeErrorReport(core3.takeError()).kind, ErrorKind::BadInput);
  unlink(path.c_str());
}

TEST(CoreFile, RandomBitFlipsNeverCrash) {
  std::string good = sampleCore();
  std::mt19937 rng(42);
  int opened = 0, rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string data = good;
    int flips = 1 + rng() % 16;
    for (int i = 0; i < flips; ++i) data[rng() % data.size()] ^= char(1 << (rng() % 8));
    std::string path = writeTemp(data);
    auto core = CoreFile::open(path);
    if (core) {
      ++opened;
      char buf[64];
      for (auto &r : (*core)->regions()) (*core)->readMemory(r.start, buf, sizeof buf);
    } else {
      ++rejected;
      ErrorReport r = takeErrorReport(core.takeError());
      EXPECT_FALSE(r.message.empty());
    }
    unlink(path.c_str());
  }
  EXPECT_EQ(opened + rejected, 400);
}

TEST(CoreFile, TheMainThreadIsNamedWhenAnotherThreadCrashed) {
  // The kernel writes the crashing thread's NT_PRSTATUS first, then NT_PRPSINFO, then the other
  // threads: the main thread (tid == pid) comes after the process name.
  CoreBuilder b;
  b.thread(101, SIGSEGV, 0x401000, 0x7ff000);
  std::string ps(136, '\0');
  int32_t pid = 100;
  memcpy(&ps[24], &pid, 4);
  memcpy(&ps[40], "crashy", 6);
  b.note(NT_PRPSINFO, "CORE", ps);
  b.thread(100, 0, 0x401100, 0x7fe000);
  std::string path = writeTemp(b.build());
  auto core = CoreFile::open(path);
  unlink(path.c_str());
  ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
  ASSERT_EQ((*core)->threads().size(), 2u);
  EXPECT_EQ((*core)->threads()[0].tid, 101);
  EXPECT_EQ((*core)->threads()[0].name, "");  // a core has no other thread's name
  EXPECT_EQ((*core)->threads()[1].tid, 100);
  EXPECT_EQ((*core)->threads()[1].name, "crashy");
  EXPECT_EQ((*core)->crashedTid(), 101);
}

TEST(CoreFile, ASignalThatFollowsNoThreadMarksNoThreadAsCrashed) {
  // Fuzzing: the crashing thread's NT_PRSTATUS damaged (its type changed), so NT_SIGINFO follows
  // no thread. A sleeping thread used to be printed as "crashed: SIGSEGV".
  CoreBuilder b;
  std::string si(128, '\0');
  int32_t v[3] = {SIGSEGV, 0, 1};
  memcpy(&si[0], v, 12);
  b.note(NT_SIGINFO, "CORE", si);
  b.thread(101, SIGSEGV, 0x401100, 0x7fe000);  // pr_cursig is the signal in every thread
  std::string path = writeTemp(b.build());
  auto core = CoreFile::open(path);
  unlink(path.c_str());
  ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
  EXPECT_FALSE((*core)->crashedTid());
  ASSERT_TRUE((*core)->signal());
  EXPECT_EQ((*core)->signal()->signo, SIGSEGV);
  bool warned = false;
  for (const std::string &w : (*core)->warnings()) warned |= w.find("no thread is marked as crashed") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(CoreFile, SignalNumbersOutOfRangeAndForeignPidsAreReportedNotShown) {
  CoreBuilder b;
  b.thread(100, SIGSEGV, 0x401000, 0x7ff000);
  std::string si(128, '\0');
  int32_t v[3] = {967055, 0, 1};
  memcpy(&si[0], v, 12);
  b.note(NT_SIGINFO, "CORE", si);
  std::string ps(136, '\0');
  int32_t pid = 0;  // a damaged NT_PRPSINFO
  memcpy(&ps[24], &pid, 4);
  b.note(NT_PRPSINFO, "CORE", ps);
  std::string path = writeTemp(b.build());
  auto core = CoreFile::open(path);
  unlink(path.c_str());
  ASSERT_TRUE(bool(core)) << llvm::toString(core.takeError());
  const std::vector<std::string> &w = (*core)->warnings();
  auto said = [&](const char *what) {
    for (const std::string &s : w)
      if (s.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(said("names signal 967055, which does not exist"));
  EXPECT_TRUE(said("NT_PRPSINFO names process 0, which is none of the core's threads"));
  // The thread's own (valid) signal stands; the invalid one is not invented into "SIG967055".
  ASSERT_TRUE((*core)->threads()[0].signal);
  EXPECT_EQ((*core)->threads()[0].signal->signo, SIGSEGV);
}
