// PacketCodec: the GDB remote serial protocol's framing. PacketReader turns a byte stream into
// events — a packet ("$payload#cs", checksum verified, run-length encoding expanded), an ack
// '+', a nack '-', an interrupt (0x03) or a broken packet — keeping a bounded buffer, so garbage
// or an oversized packet costs bounded memory. encodePacket frames a reply, escaping the bytes
// the protocol reserves ('#', '$', '}', '*').
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bt::rsp {

constexpr size_t kMaxPacket = 64 * 1024;  // what qSupported announces as PacketSize

struct Event {
  enum Kind { Packet, Ack, Nack, Interrupt, BadChecksum, TooLong } kind;
  std::string payload;  // Packet: the decoded payload
};

class PacketReader {
public:
  void feed(const char *data, size_t n) { buf_.append(data, n); }
  // The next complete event, if the buffered bytes hold one. Bytes outside packets other than
  // '+', '-' and 0x03 are skipped, as the protocol says.
  std::optional<Event> next();

private:
  void consume(size_t n);

  std::string buf_;
  size_t pos_ = 0;  // bytes of buf_ already consumed
};

std::string encodePacket(const std::string &payload);
// Binary data in a reply (x, qXfer, vFile:pread): escape '#', '$', '}' and '*'.
std::string escapeBinary(const std::string &data);
// Expands "c*N" run-length encoding (N = repeat count + 29); nullopt if malformed.
std::optional<std::string> expandRunLength(const std::string &s);
std::string toHex(const void *data, size_t n);
std::optional<std::string> fromHex(const std::string &hex);

}  // namespace bt::rsp
