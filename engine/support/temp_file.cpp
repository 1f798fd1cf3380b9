#include "support/temp_file.h"

#include "support/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace bt {

llvm::Expected<TempFile> createTempFileNextTo(const std::string &destination, mode_t mode) {
  TempFile t;
  for (int i = 0; i < 100 && t.fd < 0; ++i) {
    t.path = destination + ".tmp." + std::to_string(getpid()) + (i ? "." + std::to_string(i) : "");
    t.fd = ::open(t.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (t.fd < 0 && errno != EEXIST) break;
  }
  if (t.fd >= 0) return t;
  int e = errno;
  ErrorKind kind = e == ENOENT || e == ENOTDIR                 ? ErrorKind::MissingFile
                   : e == EACCES || e == EPERM || e == EROFS ? ErrorKind::PermissionDenied
                                                             : ErrorKind::Generic;
  return makeError(kind, "cannot write {0}: {1}", destination, strerror(e));
}

}  // namespace bt
