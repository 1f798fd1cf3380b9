#include "snapshot/host_facts.h"

#include <sys/utsname.h>
#include <unistd.h>

namespace bt {

std::string hostName() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string kernelDescription() {
  struct utsname u;
  if (uname(&u) != 0) return {};
  return std::string(u.sysname) + " " + u.release + " " + u.version;
}

}  // namespace bt
