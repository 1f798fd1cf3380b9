// Transport: a byte stream to one debugger. FdTransport wraps a pair of file descriptors
// (stdin/stdout for `target remote | btserve FILE`, or an accepted TCP socket); listenTcp
// binds (loopback unless told otherwise) and accepts exactly one client.
#pragma once

#include <llvm/Support/Error.h>

#include <cstddef>
#include <memory>
#include <string>
#include <sys/types.h>

namespace bt::rsp {

class Transport {
public:
  virtual ~Transport() = default;
  // Bytes read (0 = end of stream, -1 = error).
  virtual ssize_t read(char *buf, size_t n) = 0;
  virtual bool write(const std::string &data) = 0;
};

class FdTransport : public Transport {
public:
  FdTransport(int in, int out, bool owned) : in_(in), out_(out), owned_(owned) {}
  ~FdTransport() override;
  ssize_t read(char *buf, size_t n) override;
  bool write(const std::string &data) override;

private:
  int in_, out_;
  bool owned_;
};

// "127.0.0.1:1234", "[::1]:1234", ":1234" (loopback), "0.0.0.0:1234". Prints the bound port to
// `announce` (useful with port 0) before waiting for the client.
llvm::Expected<std::unique_ptr<Transport>> listenTcp(const std::string &spec,
                                                     const std::function<void(int port)> &announce);

}  // namespace bt::rsp
