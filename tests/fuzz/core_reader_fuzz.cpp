// Fuzz target for the ELF core reader (engine/target/core_file): CoreFile::openBuffer on
// untrusted bytes and, when it accepts them, the Target it makes — threads, regions, modules,
// auxv and memory reads, which must stay within what was asked and never crash. Seeds: the
// synthetic core of tests/synth plus any core files given. Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "synth/core_builder.h"
#include "target/core_file.h"

#include <llvm/Support/MemoryBuffer.h>

#include <cstring>

namespace {

using bt::fuzz::invariantFailed;

void checkRead(bt::Target &t, uint64_t addr, size_t len) {
  static char buf[4096];
  len = std::min(len, sizeof buf);
  if (t.readMemory(addr, buf, len) > len) invariantFailed("readMemory returned more than asked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto core = bt::CoreFile::openBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size),
                                           "fuzz.core"),
      "fuzz.core");
  if (!core) {
    if (llvm::toString(core.takeError()).empty()) invariantFailed("empty error message");
    return 0;
  }
  bt::Target &t = **core;
  for (size_t i = 1; i < t.regions().size(); ++i)
    if (t.regions()[i].start < t.regions()[i - 1].start) invariantFailed("regions unsorted");
  for (size_t i = 1; i < t.modules().size(); ++i)
    if (t.modules()[i].start < t.modules()[i - 1].start) invariantFailed("modules unsorted");
  size_t budget = 64;  // bounded work per input
  for (const bt::ThreadInfo &th : t.threads()) {
    if (budget-- == 0) break;
    checkRead(t, th.regs.rsp, 256);
    checkRead(t, th.regs.rip, 16);
    (void)t.regionFor(th.regs.rsp);
    (void)t.moduleFor(th.regs.rip);
  }
  budget = 64;
  for (const bt::MemoryRegion &r : t.regions()) {
    if (budget-- == 0) break;
    checkRead(t, r.start, 64);
    checkRead(t, r.end - 8, 64);  // across the end
  }
  if (t.signal() && t.signal()->hasAddress) checkRead(t, t.signal()->address, 64);
  for (const auto &kv : t.auxv()) (void)t.auxvValue(kv.first);
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  bt::fuzz::TargetInfo info;
  info.name = "core_reader_fuzz";
  info.seeds = {bt::synth::sampleCore()};
  info.accepts = [](const bt::fuzz::Bytes &in) {
    auto t = bt::CoreFile::openBuffer(llvm::MemoryBuffer::getMemBufferCopy(in, "fuzz.core"), "fuzz.core");
    if (t) return true;
    llvm::consumeError(t.takeError());
    return false;
  };
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
