// SharedLibrary: a library opened with dlopen on the first use of what needs it, rather than
// linked. libcurl (uploads) and libdebuginfod (fetching debug files) brought 30 more libraries
// into every bt run: their loading and relocations were half of a 10 ms capture of a small
// program, and 4 MB of its resident memory. Opened once per process and never closed.
#pragma once

#include <llvm/Support/Error.h>

#include <string>

namespace bt {

class SharedLibrary {
public:
  // The library by soname (the loader's search path); an error that names it and what to
  // install when it cannot be opened. `package`: the Debian package that ships it.
  static llvm::Expected<SharedLibrary> open(const char *soname, const char *package);

  // `fn` bound to the library's symbol `name` (null when it has none: see bound()).
  template <class F>
  void bind(F *&fn, const char *name) {
    fn = reinterpret_cast<F *>(symbol(name));
    if (!fn && missing_.empty()) missing_ = name;
  }
  // An error naming the first symbol bind did not find, if any.
  llvm::Error bound() const;

private:
  SharedLibrary(void *handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
  void *symbol(const char *name) const;
  void *handle_;
  std::string soname_, missing_;
};

}  // namespace bt
