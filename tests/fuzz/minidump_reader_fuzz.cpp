// Fuzz target for the minidump reader (engine/target/minidump): Minidump::openBuffer on
// untrusted bytes and, when it accepts them, its threads, regions, modules and memory reads.
// Seeds: the synthetic minidump of tests/synth plus any .dmp files given (CI gives the shared
// Breakpad test dumps when they are there). Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "target_checks.h"
#include "synth/minidump_builder.h"
#include "target/minidump.h"

#include <llvm/Support/MemoryBuffer.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto md = bt::Minidump::openBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size),
                                           "fuzz.dmp"),
      "fuzz.dmp");
  if (!md) {
    if (llvm::toString(md.takeError()).empty()) bt::fuzz::invariantFailed("empty error message");
    return 0;
  }
  bt::Target &t = **md;
  if (t.threads().empty()) bt::fuzz::invariantFailed("a minidump accepted with no threads");
  bt::fuzz::exerciseTarget(t);
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
