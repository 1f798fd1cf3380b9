// Finds the file that holds a module's DWARF: the module itself, a build-id file
// (<dir>/.build-id/xx/rest.debug in each --debug-dir and /usr/lib/debug), or the .gnu_debuglink
// name next to the binary, in its .debug/ folder, or under /usr/lib/debug/<binary's dir>.
// A candidate with a build-id that differs from the binary's is rejected.
#pragma once

#include <string>
#include <vector>

namespace bt {

class ElfFile;

struct DebugFileQuery {
  std::string binaryPath;  // path of the binary on this machine
  std::string buildId;     // lowercase hex, may be empty
  std::string debugLink;   // .gnu_debuglink name, may be empty
};

// Returns candidate paths in search order (no I/O).
std::vector<std::string> debugFileCandidates(const DebugFileQuery &q,
                                             const std::vector<std::string> &debugDirs);

}  // namespace bt
