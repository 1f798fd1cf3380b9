// Fuzz target for btserve's protocol server (gdbremote/): untrusted bytes as a debugger's side
// of a session — framing, acks, run-length encoding, interrupts and every request the server
// knows — served by a RemoteServer over a synthetic core (tests/synth). Every byte the server
// sends must be an ack, a nack (of a damaged packet) or a well-formed packet with a correct
// checksum. Seeds: a gdb session
// and an lldb-style session, framed by the codec. Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "gdbremote/packet_codec.h"
#include "gdbremote/server.h"
#include "synth/core_builder.h"
#include "target/core_file.h"

#include <llvm/Support/MemoryBuffer.h>

#include <cstdlib>

namespace {

using bt::fuzz::Bytes;
using bt::fuzz::invariantFailed;

// The input in chunks whose sizes the input's own bytes pick (so packets split across reads);
// replies collected up to a bound.
class MemoryTransport : public bt::rsp::Transport {
public:
  MemoryTransport(const uint8_t *data, size_t size) : data_(data), size_(size) {}
  ssize_t read(char *buf, size_t n) override {
    if (pos_ >= size_) return 0;
    size_t chunk = 1 + (data_[pos_] % 61);
    chunk = std::min({chunk, n, size_ - pos_});
    memcpy(buf, data_ + pos_, chunk);
    pos_ += chunk;
    return ssize_t(chunk);
  }
  bool write(const std::string &data) override {
    if (out.size() < (4u << 20)) out += data;
    return true;
  }
  std::string out;

private:
  const uint8_t *data_;
  size_t size_, pos_ = 0;
};

bt::Target &core() {
  static std::unique_ptr<bt::CoreFile> c = [] {
    auto made = bt::CoreFile::openBuffer(llvm::MemoryBuffer::getMemBufferCopy(bt::synth::sampleCore()),
                                         "synthetic core");
    if (!made) {
      fprintf(stderr, "rsp_fuzz: %s\n", llvm::toString(made.takeError()).c_str());
      abort();
    }
    return std::move(*made);
  }();
  return *c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bt::rsp::RemoteServer server(core(), {});
  MemoryTransport t(data, size);
  server.serve(t);
  // What the server sent: acks and well-formed packets only.
  bt::rsp::PacketReader reader;
  reader.feed(t.out.data(), t.out.size());
  while (std::optional<bt::rsp::Event> e = reader.next())
    if (e->kind != bt::rsp::Event::Packet && e->kind != bt::rsp::Event::Ack &&
        e->kind != bt::rsp::Event::Nack) {
      fprintf(stderr, "rsp_fuzz: event %d in %s\n", int(e->kind), t.out.substr(0, 2000).c_str());
      invariantFailed("the server sent something other than an ack, a nack or a well-formed packet");
    }
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  using bt::rsp::encodePacket;
  auto session = [](std::initializer_list<const char *> packets) {
    Bytes s;
    for (const char *p : packets) s += "+" + encodePacket(p);
    return s;
  };
  bt::fuzz::TargetInfo info;
  info.name = "rsp_fuzz";
  info.seeds = {
      session({"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;"
               "exec-events+;vContSupported+;QThreadEvents+;no-resumed+;xmlRegisters=i386",
               "vMustReplyEmpty", "QStartNoAckMode", "Hgp0.0", "qXfer:features:read:target.xml:0,ffb",
               "qTStatus", "?", "qfThreadInfo", "qsThreadInfo", "qAttached:65", "Hc-1", "qC",
               "qOffsets", "g", "p10", "m7ff000,40", "x7ff000,40", "qXfer:auxv:read::0,1000",
               "qXfer:libraries-svr4:read::0,fff", "qXfer:exec-file:read::0,fff",
               "qXfer:siginfo:read::0,80", "vFile:setfs:0", "vFile:open:2f6574632f706173737764,0,0",
               "vFile:pread:0,100,0", "vFile:close:0", "Z0,401000,1", "M7ff000,4:00000000",
               "vCont?", "vCont;c", "c", "s", "D;65", "k"}),
      session({"QEnableErrorStrings", "qHostInfo", "qProcessInfo", "QThreadSuffixSupported",
               "QListThreadsInStopReply", "qRegisterInfo0", "qRegisterInfo10", "qRegisterInfo80",
               "jThreadsInfo", "qThreadStopInfo64", "qMemoryRegionInfo:7ff000",
               "qMemoryRegionInfo:0", "qShlibInfoAddr", "qfThreadInfo", "p0;thread:64;",
               "qThreadExtraInfo,65", "vKill;64"}),
      Bytes("+$m7ff000,4#fd$g#67\x03-$?#3f+$qSupported#37$m0*\"10#00$k#6b", 46),
  };
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
