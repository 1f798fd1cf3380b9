#include "transport.h"

#include "support/error.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace bt::rsp {

FdTransport::~FdTransport() {
  if (!owned_) return;
  ::close(in_);
  if (out_ != in_) ::close(out_);
}

ssize_t FdTransport::read(char *buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(in_, buf, n);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

bool FdTransport::write(const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(out_, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += size_t(w);
  }
  return true;
}

llvm::Expected<std::unique_ptr<Transport>> listenTcp(const std::string &spec,
                                                     const std::function<void(int)> &announce) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos)
    return makeError(ErrorKind::Usage, "--listen needs HOST:PORT (got '{0}')", spec);
  std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res))
    return makeError(ErrorKind::Usage, "--listen {0}: {1}", spec, gai_strerror(rc));
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 1) != 0) {
    int e = errno;
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return makeError(ErrorKind::Generic, "cannot listen on {0}: {1}", spec, strerror(e));
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr *>(&bound), &len);
  int boundPort = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
  if (announce) announce(boundPort);
  int client;
  do client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  while (client < 0 && errno == EINTR);
  ::close(fd);  // one debugger at a time: nobody else may connect
  if (client < 0) return makeError(ErrorKind::Generic, "accept: {0}", strerror(errno));
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::make_unique<FdTransport>(client, client, true);
}

}  // namespace bt::rsp
