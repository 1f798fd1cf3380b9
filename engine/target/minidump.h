// Minidump: a Breakpad/Crashpad minidump of a Linux x86-64 process as a Target. Threads and
// their CONTEXT_AMD64 registers (the exception stream's context for the crashing thread, so
// frames start at the fault), the signal from the exception stream, memory from the memory list
// and thread stacks, modules from the module list (build-ids from Breakpad's CodeView records),
// and the Linux extension streams Breakpad writes: /proc/PID/maps, auxv, command line,
// environment, status. Parsing uses LLVM's object::MinidumpFile, which bounds-checks every
// stream and descriptor; anything malformed is a clear error.
#pragma once

#include "target/target.h"

#include <llvm/Object/Minidump.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <map>
#include <memory>

namespace bt {

class Minidump : public Target {
public:
  static llvm::Expected<std::unique_ptr<Minidump>> open(const std::string &path);
  // The same from bytes in memory (a pipe, a fuzzer); `name` names them in messages.
  static llvm::Expected<std::unique_ptr<Minidump>> openBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer,
                                                              const std::string &name);

  const char *kind() const override { return "minidump"; }
  size_t readMemory(uint64_t addr, void *buf, size_t len) override;
  std::vector<std::pair<uint64_t, uint64_t>> heldMemory() const override;
  std::vector<std::pair<std::string, std::string>> attributes() const override { return annotations_; }

private:
  llvm::Error parse();
  size_t readFromModuleFile(uint64_t addr, void *buf, size_t len);

  std::string path_;
  std::unique_ptr<llvm::MemoryBuffer> buf_;
  std::unique_ptr<llvm::object::MinidumpFile> md_;
  std::map<uint64_t, llvm::ArrayRef<uint8_t>> memory_;  // start -> bytes
  std::map<std::string, std::unique_ptr<llvm::MemoryBuffer>> files_;
  std::vector<std::pair<std::string, std::string>> annotations_;  // Crashpad's
};

}  // namespace bt
