#include "target/dump_file.h"

#include "target/core_file.h"
#include "target/minidump.h"

namespace bt {

llvm::Expected<std::unique_ptr<Target>> openDumpFile(const std::string &path,
                                                     const std::string &exeOverride) {
  if (Minidump::looksLikeMinidump(path)) {
    auto m = Minidump::open(path);
    if (!m) return m.takeError();
    return std::unique_ptr<Target>(std::move(*m));
  }
  auto c = CoreFile::open(path, exeOverride);
  if (!c) return c.takeError();
  return std::unique_ptr<Target>(std::move(*c));
}

}  // namespace bt
