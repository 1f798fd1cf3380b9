#include "packet_codec.h"

#include <llvm/ADT/StringExtras.h>

namespace bt::rsp {

std::optional<std::string> expandRunLength(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '*') {
      out += s[i];
      continue;
    }
    if (out.empty() || i + 1 >= s.size()) return std::nullopt;
    int n = static_cast<unsigned char>(s[++i]) - 29;
    if (n < 3 || n > 97 || out.size() + size_t(n) > kMaxPacket) return std::nullopt;
    out.append(size_t(n), out.back());
  }
  return out;
}

// Consumed bytes are skipped by an offset and dropped in one go once they are the larger part:
// erasing from the front per acknowledgement byte would be quadratic on a flood.
void PacketReader::consume(size_t n) {
  pos_ += n;
  if (pos_ >= buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

std::optional<Event> PacketReader::next() {
  while (pos_ < buf_.size()) {
    std::string_view b(buf_);
    b.remove_prefix(pos_);
    char c = b[0];
    if (c == '+' || c == '-' || c == '\x03') {
      consume(1);
      return Event{c == '+' ? Event::Ack : c == '-' ? Event::Nack : Event::Interrupt, {}};
    }
    if (c != '$') {
      // Line noise between packets: skip up to the next byte that can start an event.
      size_t n = b.find_first_of("$+-\x03");
      consume(n == std::string_view::npos ? b.size() : n);
      continue;
    }
    size_t hash = b.find('#');
    // A '$' before the end of this packet starts a new one: the client gave up on the first
    // (a lost packet must not swallow the next one, which matters without acks).
    size_t restart = b.find('$', 1);
    if (restart != std::string_view::npos && (hash == std::string_view::npos || restart < hash)) {
      consume(restart);
      return Event{Event::BadChecksum, {}};
    }
    if (hash == std::string_view::npos) {
      if (b.size() > kMaxPacket + 4) {
        consume(b.size());  // no end in sight (and no '$' in it): drop it
        return Event{Event::TooLong, {}};
      }
      return std::nullopt;
    }
    if (b.size() < hash + 3) return std::nullopt;  // checksum not here yet
    std::string raw(b.substr(1, hash - 1));
    std::string cs(b.substr(hash + 1, 2));
    consume(hash + 3);
    if (raw.size() > kMaxPacket) return Event{Event::TooLong, {}};
    unsigned sum = 0;
    for (unsigned char ch : raw) sum += ch;
    auto digit = [](char d) -> int {
      if (d >= '0' && d <= '9') return d - '0';
      if (d >= 'a' && d <= 'f') return d - 'a' + 10;
      if (d >= 'A' && d <= 'F') return d - 'A' + 10;
      return -1;
    };
    int hi = digit(cs[0]), lo = digit(cs[1]);
    if (hi < 0 || lo < 0 || unsigned(hi * 16 + lo) != (sum & 0xff)) return Event{Event::BadChecksum, {}};
    std::optional<std::string> payload = expandRunLength(raw);
    if (!payload) return Event{Event::BadChecksum, {}};
    return Event{Event::Packet, std::move(*payload)};
  }
  return std::nullopt;
}

std::string escapeBinary(const std::string &data) {
  std::string out;
  out.reserve(data.size());
  for (char c : data) {
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      out += '}';
      out += char(c ^ 0x20);
    } else {
      out += c;
    }
  }
  return out;
}

std::string encodePacket(const std::string &payload) {
  unsigned sum = 0;
  for (unsigned char c : payload) sum += c;
  static const char d[] = "0123456789abcdef";
  std::string out = "$" + payload + "#";
  out += d[(sum >> 4) & 15];
  out += d[sum & 15];
  return out;
}

std::string toHex(const void *data, size_t n) {
  return llvm::toHex(llvm::ArrayRef(static_cast<const uint8_t *>(data), n), /*LowerCase=*/true);
}

std::optional<std::string> fromHex(const std::string &hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = hex[2 * i + k];
      int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (x < 0) return std::nullopt;
      v = v * 16 + unsigned(x);
    }
    out[i] = char(v);
  }
  return out;
}

}  // namespace bt::rsp
