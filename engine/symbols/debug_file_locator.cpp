#include "symbols/debug_file_locator.h"

namespace bt {

std::vector<std::string> debugFileCandidates(const DebugFileQuery &q,
                                             const std::vector<std::string> &debugDirs) {
  std::vector<std::string> dirs = debugDirs;
  dirs.push_back("/usr/lib/debug");
  std::vector<std::string> out;
  if (q.buildId.size() > 2) {
    for (auto &d : dirs)
      out.push_back(d + "/.build-id/" + q.buildId.substr(0, 2) + "/" + q.buildId.substr(2) +
                    ".debug");
  }
  if (!q.debugLink.empty() && q.debugLink.find('/') == std::string::npos) {
    std::string dir = q.binaryPath;
    size_t slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : dir.substr(0, slash);
    out.push_back(dir + "/" + q.debugLink);
    out.push_back(dir + "/.debug/" + q.debugLink);
    for (auto &d : dirs) out.push_back(d + dir + "/" + q.debugLink);
  }
  return out;
}

}  // namespace bt
