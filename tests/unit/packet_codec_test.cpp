// Unit tests of btserve's packet framing (gdbremote/packet_codec) on hand-made byte streams:
// packets, acks, interrupts, checksums, run-length encoding, noise, packets split across reads,
// a '$' inside an unfinished packet, oversized packets, and the reply side's escaping.
#include "gdbremote/packet_codec.h"

#include <gtest/gtest.h>

#include <vector>

using namespace bt::rsp;

namespace {

std::vector<Event> events(const std::string &bytes) {
  PacketReader r;
  r.feed(bytes.data(), bytes.size());
  std::vector<Event> out;
  while (std::optional<Event> e = r.next()) out.push_back(*e);
  return out;
}

}  // namespace

TEST(PacketCodec, PacketsAcksNacksAndInterrupts) {
  auto ev = events("+$g#67-\x03$m0,4#fd");
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].kind, Event::Ack);
  EXPECT_EQ(ev[1].kind, Event::Packet);
  EXPECT_EQ(ev[1].payload, "g");
  EXPECT_EQ(ev[2].kind, Event::Nack);
  EXPECT_EQ(ev[3].kind, Event::Interrupt);
  EXPECT_EQ(ev[4].kind, Event::Packet);
  EXPECT_EQ(ev[4].payload, "m0,4");
}

TEST(PacketCodec, ChecksumsAreVerifiedInEitherCase) {
  EXPECT_EQ(events("$g#67")[0].kind, Event::Packet);
  EXPECT_EQ(events("$qC#B4")[0].kind, Event::Packet);  // upper-case hex digits
  EXPECT_EQ(events("$g#68")[0].kind, Event::BadChecksum);
  EXPECT_EQ(events("$g#zz")[0].kind, Event::BadChecksum);
}

TEST(PacketCodec, AnEncodedPacketDecodesToItsPayload) {
  for (std::string payload : {"", "g", "qSupported:multiprocess+;xmlRegisters=i386", "m7ff000,40"}) {
    auto ev = events(encodePacket(payload));
    ASSERT_EQ(ev.size(), 1u) << payload;
    EXPECT_EQ(ev[0].kind, Event::Packet);
    EXPECT_EQ(ev[0].payload, payload);
  }
}

TEST(PacketCodec, RunLengthEncodingIsExpanded) {
  // "0* " is '0' repeated 1 + (' ' - 29) = 4 times.
  EXPECT_EQ(expandRunLength("0* "), "0000");
  EXPECT_EQ(expandRunLength("ab*\"c"), "abbbbbbc");  // '"' - 29 = 5 more
  EXPECT_FALSE(expandRunLength("*a"));               // nothing to repeat
  EXPECT_FALSE(expandRunLength("a*"));               // no count
  auto ev = events(encodePacket("X0* "));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].payload, "X0000");
}

TEST(PacketCodec, NoiseIsSkippedAndPacketsMayArriveInPieces) {
  PacketReader r;
  std::string stream = "garbage\r\n" + encodePacket("qAttached") + "xx";
  for (char c : stream) {
    r.feed(&c, 1);
    if (std::optional<Event> e = r.next()) {
      EXPECT_EQ(e->kind, Event::Packet);
      EXPECT_EQ(e->payload, "qAttached");
      return;
    }
  }
  FAIL() << "the packet was never completed";
}

TEST(PacketCodec, ADollarInsideAnUnfinishedPacketStartsANewOne) {
  auto ev = events("$m0,4$g#67");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Event::BadChecksum);  // the abandoned one
  EXPECT_EQ(ev[1].kind, Event::Packet);
  EXPECT_EQ(ev[1].payload, "g");
}

TEST(PacketCodec, OversizedPacketsCostBoundedMemory) {
  std::string huge = "$" + std::string(kMaxPacket + 100, 'a');
  auto ev = events(huge);  // never terminated
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Event::TooLong);
  auto ev2 = events(encodePacket(std::string(kMaxPacket + 1, 'b')) + encodePacket("g"));
  ASSERT_EQ(ev2.size(), 2u);
  EXPECT_EQ(ev2[0].kind, Event::TooLong);
  EXPECT_EQ(ev2[1].payload, "g");
}

TEST(PacketCodec, BinaryRepliesEscapeTheReservedBytesAndHexRoundTrips) {
  EXPECT_EQ(escapeBinary(std::string("a#b$c}d*e")), "a}\x03" "b}\x04" "c}]d}\ne");
  std::string bytes("\x00\x01\xfe\xff", 4);
  EXPECT_EQ(toHex(bytes.data(), bytes.size()), "0001feff");
  EXPECT_EQ(fromHex("0001FEff"), bytes);
  EXPECT_FALSE(fromHex("abc"));
  EXPECT_FALSE(fromHex("zz"));
}
