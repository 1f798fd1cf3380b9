// Crashpad annotations: the key/value strings a Crashpad client attaches to its minidumps (the
// MinidumpCrashpadInfo stream, 0x43500001): the process's simple annotations, then each
// module's simple annotations and string annotation objects (crashpad::Annotation of type
// kString), in the order the dump lists them; the first value of a key wins. They become the
// target's attributes, as `bt snapshot --attr` ones do. Every offset and count is checked
// against the file: a damaged stream yields what could be read and a warning, never a crash.
#pragma once

#include <llvm/ADT/ArrayRef.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bt {

constexpr uint32_t kCrashpadInfoStream = 0x43500001;

// `file` is the whole minidump (the stream's RVAs point into it), `stream` the stream's bytes.
std::vector<std::pair<std::string, std::string>> readCrashpadAnnotations(
    llvm::ArrayRef<uint8_t> file, llvm::ArrayRef<uint8_t> stream, std::vector<std::string> &warnings);

}  // namespace bt
