// GDB remote serial protocol framing (gdbremote/packet_codec.h) as btserve uses it: replies
// encoded (hex or escaped binary, then "$...#cs"), and a debugger's packets decoded from the
// byte stream. The payloads are the ones a session carries: the `g` block of a thread
// (gdbremote/amd64_registers.h), 4 KiB of memory (this binary's own machine code: every byte
// value, including the ones binary replies must escape), and the packets gdb sends when it
// attaches and prints a backtrace.
#include "bench_inputs.h"

#include "gdbremote/amd64_registers.h"
#include "gdbremote/packet_codec.h"
#include "symbols/elf_file.h"

#include <cstdio>

namespace {

using namespace btbench;
namespace rsp = bt::rsp;

// 4 KiB of this binary's .text.
std::string codeBytes(std::string &why) {
  auto elf = bt::ElfFile::open(selfExe());
  if (!elf) {
    why = llvm::toString(elf.takeError());
    return "";
  }
  const bt::ElfSection *text = (*elf)->section(".text");
  if (!text || !text->present || text->data.size() < 8192) {
    why = "no .text in " + selfExe();
    return "";
  }
  return text->data.substr(4096, 4096).str();
}

// A thread as a capture holds it: general registers and an FXSAVE area.
bt::ThreadInfo sampleThread() {
  bt::ThreadInfo t;
  t.tid = 4242;
  uint64_t *w = bt::userRegWords(t.regs);
  for (int i = 0; i < bt::kNumUserRegs; ++i) w[i] = 0x7ffd5c2a0000ull + uint64_t(i) * 0x1118;
  bt::FpRegisters fp{};
  for (size_t i = 0; i < sizeof fp.bytes; ++i) fp.bytes[i] = uint8_t(i * 37);
  t.fpregs = fp;
  return t;
}

// What gdb sends to `target remote | btserve PID` up to a printed backtrace (acks included).
std::string gdbSession(size_t &packets) {
  std::vector<std::string> p = {
      "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;"
      "vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386",
      "vMustReplyEmpty", "Hgp0.0", "qXfer:features:read:target.xml:0,ffb",
      "qXfer:features:read:64bit-core.xml:0,ffb", "qXfer:features:read:64bit-sse.xml:0,ffb", "qTStatus", "?",
      "qXfer:threads:read::0,ffb", "qAttached:1092", "Hc-1", "qC", "qOffsets", "g",
      "qXfer:auxv:read::0,ffb", "qXfer:exec-file:read:1092:0,ffb", "qXfer:libraries-svr4:read::0,ffb",
      "qXfer:siginfo:read::0,ffb", "p10", "qSymbol::", "vFile:setfs:0",
      "vFile:open:2f7573722f6c69622f7838365f36342d6c696e75782d676e752f6c6962632e736f2e36,0,1c0",
      "vFile:pread:7,3fff,0", "vFile:pread:7,3fff,3fff", "vFile:close:7"};
  char m[64];
  for (int i = 0; i < 100; ++i) {  // the unwinder's and printer's reads of the stack
    snprintf(m, sizeof m, "m7ffd5c2a%04x,%x", 0x1f30 + i * 0x38, i % 4 ? 8 : 0x40);
    p.push_back(m);
  }
  packets = p.size();
  std::string stream;
  for (const std::string &s : p) stream += rsp::encodePacket(s) + "+";
  return stream;
}

void BM_RspEncodeRegisters(benchmark::State &state) {
  bt::ThreadInfo t = sampleThread();
  std::string payload = rsp::encodeAllRegisters(t);
  std::string framed = rsp::encodePacket(payload);
  if (!require(state, payload.size() == 1120 && framed.size() == payload.size() + 4,
               "unexpected g block of " + std::to_string(payload.size()) + " hex digits"))
    return;
  for (auto _ : state) {
    std::string s = rsp::encodePacket(rsp::encodeAllRegisters(t));
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * framed.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RspEncodeRegisters);

// An `m` reply: hex of the memory read.
void BM_RspEncodeMemoryHex(benchmark::State &state) {
  std::string why;
  std::string mem = codeBytes(why);
  if (!require(state, !mem.empty(), why)) return;
  std::string once = rsp::encodePacket(rsp::toHex(mem.data(), mem.size()));
  if (!require(state, rsp::fromHex(once.substr(1, once.size() - 4)) == mem, "the m reply does not round-trip"))
    return;
  for (auto _ : state) {
    std::string s = rsp::encodePacket(rsp::toHex(mem.data(), mem.size()));
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * mem.size()));
}
BENCHMARK(BM_RspEncodeMemoryHex);

// A binary reply (qXfer, vFile:pread): reserved bytes escaped.
void BM_RspEncodeBinary(benchmark::State &state) {
  std::string why;
  std::string mem = codeBytes(why);
  if (!require(state, !mem.empty(), why)) return;
  std::string framed = rsp::encodePacket("l" + rsp::escapeBinary(mem));
  rsp::PacketReader r;
  r.feed(framed.data(), framed.size());
  std::optional<rsp::Event> ev = r.next();
  bool good = ev && ev->kind == rsp::Event::Packet && ev->payload.size() == 1 + rsp::escapeBinary(mem).size();
  if (!require(state, good, "the escaped reply does not decode to its payload")) return;
  for (auto _ : state) {
    std::string s = rsp::encodePacket("l" + rsp::escapeBinary(mem));
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * mem.size()));
}
BENCHMARK(BM_RspEncodeBinary);

// The debugger's side of a session, read as btserve reads it (4 KiB at a time) and decoded
// into events. Items are packets.
void BM_RspDecodeSession(benchmark::State &state) {
  size_t packets = 0;
  std::string stream = gdbSession(packets);
  auto decode = [&stream]() {
    rsp::PacketReader r;
    size_t n = 0;
    for (size_t off = 0; off < stream.size(); off += 4096) {
      r.feed(stream.data() + off, std::min<size_t>(4096, stream.size() - off));
      while (std::optional<rsp::Event> e = r.next()) {
        benchmark::DoNotOptimize(e->payload.data());
        n += e->kind == rsp::Event::Packet;
      }
    }
    return n;
  };
  if (!require(state, decode() == packets, "not every packet of the session decoded")) return;
  for (auto _ : state) benchmark::DoNotOptimize(decode());
  state.SetBytesProcessed(int64_t(state.iterations() * stream.size()));
  state.SetItemsProcessed(int64_t(state.iterations() * packets));
  state.SetLabel(std::to_string(packets) + " packets, " + std::to_string(stream.size()) + " B");
}
BENCHMARK(BM_RspDecodeSession);

// Hex payloads from the debugger (M, vFile names, qXfer annexes), decoded.
void BM_RspHexDecode(benchmark::State &state) {
  std::string why;
  std::string mem = codeBytes(why);
  if (!require(state, !mem.empty(), why)) return;
  std::string hex = rsp::toHex(mem.data(), mem.size());
  if (!require(state, rsp::fromHex(hex) == mem, "hex does not round-trip")) return;
  for (auto _ : state) {
    std::optional<std::string> s = rsp::fromHex(hex);
    benchmark::DoNotOptimize(s->data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * mem.size()));
}
BENCHMARK(BM_RspHexDecode);

}  // namespace
