#include "snapshot/open_target.h"

#include "snapshot/snapshot_target.h"
#include "support/error.h"
#include "target/core_file.h"
#include "target/live_process.h"
#include "target/minidump.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace bt {

namespace {

// The first bytes of a regular file ("" for anything else: the opener that follows says why).
// Opened non-blocking and checked with fstat, so a FIFO never blocks here.
std::string magicOf(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st;
  char buf[18] = {};  // up to e_type of an ELF header
  ssize_t n = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

std::string kindOfMagic(llvm::StringRef magic) {
  if (magic.starts_with("BTSNAP")) return "snapshot";
  if (magic.starts_with("MDMP")) return "minidump";
  if (magic.size() >= 18 && magic.starts_with("\x7f" "ELF") && magic[16] == 4 && magic[17] == 0)
    return "core";  // ET_CORE, little-endian
  return "unknown";
}

}  // namespace

bool isProcessId(const std::string &text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

std::string sourceKindOf(const TargetRequest &request) {
  if (request.path.empty()) return "live";
  return kindOfMagic(magicOf(request.path));
}

static llvm::Expected<std::unique_ptr<Target>> openByKind(const TargetRequest &request) {
  std::string kind = sourceKindOf(request);
  if (kind == "live") {
    auto lp = LiveProcess::open(request.pid);
    if (!lp) return lp.takeError();
    if (request.signalTid)
      if (llvm::Error e = (*lp)->adoptSignalContext(request.signalTid, request.siginfo,
                                                    request.ucontext)) {
        (*lp)->release();
        return std::move(e);
      }
    return std::unique_ptr<Target>(std::move(*lp));
  }
  if (kind == "snapshot") {
    auto s = SnapshotTarget::open(request.path);
    if (!s) return s.takeError();
    return std::unique_ptr<Target>(std::move(*s));
  }
  if (kind == "minidump") {
    auto m = Minidump::open(request.path);
    if (!m) return m.takeError();
    return std::unique_ptr<Target>(std::move(*m));
  }
  auto c = CoreFile::open(request.path, request.exe);
  if (!c) return c.takeError();
  return std::unique_ptr<Target>(std::move(*c));
}

// Every source checked its modules' files when it opened; the user's choice applies here.
static llvm::Expected<std::unique_ptr<Target>> withMismatchPolicy(
    llvm::Expected<std::unique_ptr<Target>> t, bool allowMismatch) {
  if (t && allowMismatch) (*t)->allowMismatchedFiles();
  return t;
}

llvm::Expected<std::unique_ptr<Target>> openTarget(const TargetRequest &request) {
  return withMismatchPolicy(openByKind(request), request.allowMismatch);
}

static llvm::Expected<std::unique_ptr<Target>> openBufferByKind(
    std::unique_ptr<llvm::MemoryBuffer> bytes, const std::string &name, const std::string &exe) {
  std::string kind = kindOfMagic(bytes->getBuffer().take_front(18));
  if (kind == "snapshot") {
    auto data = parseSnapshot(bytes->getBuffer(), name);
    if (!data) return data.takeError();
    return std::unique_ptr<Target>(std::make_unique<SnapshotTarget>(std::move(*data)));
  }
  if (kind == "minidump") {
    auto m = Minidump::openBuffer(std::move(bytes), name);
    if (!m) return m.takeError();
    return std::unique_ptr<Target>(std::move(*m));
  }
  auto c = CoreFile::openBuffer(std::move(bytes), name, exe);
  if (!c) return c.takeError();
  return std::unique_ptr<Target>(std::move(*c));
}

llvm::Expected<std::unique_ptr<Target>> openTargetBuffer(std::unique_ptr<llvm::MemoryBuffer> bytes,
                                                         const std::string &name,
                                                         const std::string &exe,
                                                         bool allowMismatch) {
  return withMismatchPolicy(openBufferByKind(std::move(bytes), name, exe), allowMismatch);
}

}  // namespace bt
