#include "support/shared_library.h"

#include "support/error.h"

#include <dlfcn.h>

namespace bt {

llvm::Expected<SharedLibrary> SharedLibrary::open(const char *soname, const char *package) {
  // RTLD_LOCAL: its symbols (and its own dependencies') stay out of the global namespace.
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    return makeError(ErrorKind::MissingFile, "cannot load {0} ({1}); it is in the Debian package {2}", soname,
                     why ? why : "not found", package);
  }
  return SharedLibrary(h, soname);
}

void *SharedLibrary::symbol(const char *name) const { return dlsym(handle_, name); }

llvm::Error SharedLibrary::bound() const {
  if (missing_.empty()) return llvm::Error::success();
  return makeError(ErrorKind::Generic, "{0} has no {1}: another version than the one bt was built with", soname_,
                   missing_);
}

}  // namespace bt
