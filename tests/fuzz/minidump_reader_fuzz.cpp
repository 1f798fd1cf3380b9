// Fuzz target for the minidump reader (engine/target/minidump): Minidump::openBuffer on
// untrusted bytes and, when it accepts them, its threads, regions, modules and memory reads.
// Seeds: the synthetic minidump of tests/synth plus any .dmp files given (CI gives the shared
// Breakpad test dumps when they are there). Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "synth/minidump_builder.h"
#include "target/minidump.h"

#include <llvm/Support/MemoryBuffer.h>

namespace {

using bt::fuzz::invariantFailed;

void checkRead(bt::Target &t, uint64_t addr, size_t len) {
  static char buf[4096];
  len = std::min(len, sizeof buf);
  if (t.readMemory(addr, buf, len) > len) invariantFailed("readMemory returned more than asked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto md = bt::Minidump::openBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size),
                                           "fuzz.dmp"),
      "fuzz.dmp");
  if (!md) {
    if (llvm::toString(md.takeError()).empty()) invariantFailed("empty error message");
    return 0;
  }
  bt::Target &t = **md;
  if (t.threads().empty()) invariantFailed("a minidump accepted with no threads");
  for (size_t i = 1; i < t.regions().size(); ++i)
    if (t.regions()[i].start < t.regions()[i - 1].start) invariantFailed("regions unsorted");
  for (size_t i = 1; i < t.modules().size(); ++i)
    if (t.modules()[i].start < t.modules()[i - 1].start) invariantFailed("modules unsorted");
  size_t budget = 64;
  for (const bt::ThreadInfo &th : t.threads()) {
    if (budget-- == 0) break;
    checkRead(t, th.regs.rsp, 512);
    checkRead(t, th.regs.rip, 16);
  }
  budget = 64;
  for (const bt::ModuleInfo &m : t.modules()) {
    if (budget-- == 0) break;
    checkRead(t, m.start, 64);
  }
  for (const auto &kv : t.auxv()) (void)t.auxvValue(kv.first);
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  bt::fuzz::TargetInfo info;
  info.name = "minidump_reader_fuzz";
  info.seeds = {bt::synth::sampleMinidump()};
  info.accepts = [](const bt::fuzz::Bytes &in) {
    auto t = bt::Minidump::openBuffer(llvm::MemoryBuffer::getMemBufferCopy(in, "fuzz.dmp"), "fuzz.dmp");
    if (t) return true;
    llvm::consumeError(t.takeError());
    return false;
  };
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
