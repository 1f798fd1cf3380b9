// The numbers of the minidump format that LLVM's BinaryFormat/Minidump.h does not name and that
// both the reader (target/minidump.cpp) and the writer (snapshot/minidump_writer.cpp) use:
// Breakpad's Linux extension streams (minidump_extension_linux.h), the MiscInfo stream and its
// process-id flag, Breakpad's CodeView signature for an ELF build-id, and the size of an AMD64
// CPU context. One place, so the two sides cannot disagree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bt::minidump_format {

constexpr uint32_t kLinuxProcStatus = 0x47670004;  // 0x47670003 is the CPU info
constexpr uint32_t kLinuxCmdLine = 0x47670006;
constexpr uint32_t kLinuxEnviron = 0x47670007;
constexpr uint32_t kLinuxAuxv = 0x47670008;
constexpr uint32_t kLinuxMaps = 0x47670009;
constexpr uint32_t kMiscInfo = 15;
constexpr uint32_t kMiscProcessId = 1;             // MINIDUMP_MISC1_PROCESS_ID
constexpr uint32_t kPlatformLinux = 0x8201;        // SystemInfo's platform id, as Breakpad writes it
constexpr uint32_t kCvElfSignature = 0x4270454c;   // "LEpB": a CodeView record holding a build-id
constexpr size_t kContextAmd64Size = 1232;         // MINIDUMP_CONTEXT_AMD64

}  // namespace bt::minidump_format
