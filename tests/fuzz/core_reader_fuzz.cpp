// Fuzz target for the ELF core reader (engine/target/core_file): CoreFile::openBuffer on
// untrusted bytes and, when it accepts them, the Target it makes — threads, regions, modules,
// auxv and memory reads, which must stay within what was asked and never crash. Seeds: the
// synthetic core of tests/synth plus any core files given. Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "target_checks.h"
#include "synth/core_builder.h"
#include "target/core_file.h"

#include <llvm/Support/MemoryBuffer.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto core = bt::CoreFile::openBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size),
                                           "fuzz.core"),
      "fuzz.core");
  if (!core) {
    if (llvm::toString(core.takeError()).empty()) bt::fuzz::invariantFailed("empty error message");
    return 0;
  }
  bt::Target &t = **core;
  bt::fuzz::exerciseTarget(t);
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
