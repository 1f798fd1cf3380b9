// Minidump export: writes a Breakpad-style minidump of a Linux x86-64 process from a Target alone
// (a core, a snapshot, another minidump: never asking which), so tools that read only minidumps
// (lldb, Breakpad's and rust-minidump's processors, crash servers) can take what bt opens. It
// holds the streams Breakpad's Linux writer does, as far as the Target knows their contents:
// SystemInfo (AMD64, Linux), ThreadList (each thread's CONTEXT_AMD64 and its stack from SP up),
// MemoryList (every byte the target holds that the module files here do not already hold, stacks
// first, within a budget), ModuleList (name, range and a 'LEpB' CodeView record with the GNU
// build-id), Exception (signal number, si_code, fault address) when the target has a signal, and
// the Linux streams (maps, auxv, cmdline, environ, status), MiscInfo's pid and the target's
// attributes as Crashpad simple annotations; nothing is
// invented (unknown values are 0 or left out) and what does not fit is named in a warning.
// Layouts come from LLVM's BinaryFormat/Minidump.h; engine/target/minidump.cpp reads it back.
#pragma once

#include "target/target.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bt {

struct MinidumpWriteOptions {
  // Each thread's stack from its SP (less the red zone) upward, at most this many bytes.
  uint64_t maxStackBytes = 512 * 1024;
  // The memory list in all (the stacks first, then the rest in address order); at most
  // kMaxMinidumpMemoryBytes, as the format addresses its bytes with 32-bit offsets.
  uint64_t maxMemoryBytes = uint64_t(2) << 30;
};

constexpr uint64_t kMaxMinidumpMemoryBytes = (uint64_t(15) << 30) / 4;  // 3.75 GiB

struct MinidumpWriteStats {
  size_t threads = 0, modules = 0, memoryRanges = 0, streams = 0;
  uint64_t memoryBytes = 0;  // bytes of memory written (stacks included)
  uint64_t fileBytes = 0;    // size of the minidump
  bool exception = false;    // an exception stream (the target has a signal)
};

// Writes the minidump to `os`. Warnings (memory left out, values that do not fit) are appended
// to `warnings`; an error is returned only when nothing useful could be written.
llvm::Expected<MinidumpWriteStats> writeMinidump(Target &target, llvm::raw_ostream &os,
                                                 const MinidumpWriteOptions &opts,
                                                 std::vector<std::string> &warnings);

// The same into the file `path`, atomically: a temporary file next to it (mode 0600: a minidump
// holds the process's memory), renamed over `path` once complete; nothing is left on failure.
llvm::Expected<MinidumpWriteStats> writeMinidumpFile(Target &target, const std::string &path,
                                                     const MinidumpWriteOptions &opts,
                                                     std::vector<std::string> &warnings);

}  // namespace bt
