// Synthetic Breakpad/Crashpad-style Linux x86-64 minidumps for tests and fuzzers (what
// rust-minidump's minidump-synth does for Rust): system info, threads with an AMD64 CPU context
// and a stack, an exception stream naming the crashed thread, a memory list, and Breakpad's
// Linux text streams (/proc maps, status, cmdline). The minidump tests need no shared data.
#pragma once

#include <llvm/BinaryFormat/Minidump.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace bt::synth {

namespace mdf = llvm::minidump;

class MinidumpBuilder {
public:
  static constexpr uint32_t kLinuxProcStatus = 0x47670004, kLinuxCmdLine = 0x47670006,
                            kLinuxMaps = 0x47670009;
  static constexpr size_t kContextSize = 1232;  // MINIDUMP_CONTEXT_AMD64

  struct ThreadSpec {
    uint32_t tid = 0;
    uint64_t rip = 0, rsp = 0, rbp = 0;
    uint64_t stackAddress = 0;
    std::string stack;
  };

  void thread(ThreadSpec t) { threads_.push_back(std::move(t)); }
  // code: si_code, which Breakpad stores as the exception flags (1: SEGV_MAPERR).
  void exception(uint32_t tid, uint32_t signo, uint64_t address, uint32_t code = 1) {
    exTid_ = tid;
    exSigno_ = signo;
    exAddress_ = address;
    exCode_ = code;
    haveException_ = true;
  }
  void memory(uint64_t address, std::string bytes) { memory_.push_back({address, std::move(bytes)}); }
  void stream(uint32_t type, std::string bytes) { extra_.push_back({type, std::move(bytes)}); }
  void architecture(mdf::ProcessorArchitecture a) { arch_ = a; }

  std::string build() const {
    size_t streams = 3 + (haveException_ ? 1 : 0) + extra_.size();
    std::string out(sizeof(mdf::Header) + streams * sizeof(mdf::Directory), '\0');
    std::vector<mdf::Directory> dir;
    auto add = [&](const std::string &blob) {
      while (out.size() % 8) out.push_back('\0');
      mdf::LocationDescriptor l;
      l.RVA = uint32_t(out.size());
      l.DataSize = uint32_t(blob.size());
      out += blob;
      return l;
    };
    auto addStream = [&](uint32_t type, const std::string &blob) {
      mdf::Directory d;
      d.Type = mdf::StreamType(type);
      d.Location = add(blob);
      dir.push_back(d);
    };

    mdf::SystemInfo si{};
    si.ProcessorArch = arch_;
    si.PlatformId = mdf::OSPlatform::Linux;
    si.NumberOfProcessors = 2;
    addStream(uint32_t(mdf::StreamType::SystemInfo), bytesOf(si));

    std::string list = u32(uint32_t(threads_.size()));
    std::vector<mdf::Thread> ts;
    for (const ThreadSpec &t : threads_) {
      mdf::Thread th{};
      th.ThreadId = t.tid;
      th.Stack.StartOfMemoryRange = t.stackAddress;
      th.Stack.Memory = add(t.stack);
      th.Context = add(context(t));
      ts.push_back(th);
    }
    for (const mdf::Thread &th : ts) list += bytesOf(th);
    addStream(uint32_t(mdf::StreamType::ThreadList), list);

    std::string mem = u32(uint32_t(memory_.size()));
    std::vector<mdf::MemoryDescriptor> ds;
    for (const auto &[address, bytes] : memory_) {
      mdf::MemoryDescriptor d{};
      d.StartOfMemoryRange = address;
      d.Memory = add(bytes);
      ds.push_back(d);
    }
    for (const mdf::MemoryDescriptor &d : ds) mem += bytesOf(d);
    addStream(uint32_t(mdf::StreamType::MemoryList), mem);

    if (haveException_) {
      mdf::ExceptionStream ex{};
      ex.ThreadId = exTid_;
      ex.ExceptionRecord.ExceptionCode = exSigno_;
      ex.ExceptionRecord.ExceptionAddress = exAddress_;
      ex.ExceptionRecord.ExceptionFlags = exCode_;
      for (const ThreadSpec &t : threads_)
        if (t.tid == exTid_) ex.ThreadContext = add(context(t));
      addStream(uint32_t(mdf::StreamType::Exception), bytesOf(ex));
    }
    for (const auto &[type, bytes] : extra_) addStream(type, bytes);

    mdf::Header h{};
    h.Signature = mdf::Header::MagicSignature;
    h.Version = mdf::Header::MagicVersion;
    h.NumberOfStreams = uint32_t(dir.size());
    h.StreamDirectoryRVA = sizeof(mdf::Header);
    memcpy(out.data(), &h, sizeof h);
    memcpy(out.data() + sizeof h, dir.data(), dir.size() * sizeof(mdf::Directory));
    return out;
  }

private:
  template <typename T> static std::string bytesOf(const T &v) {
    return std::string(reinterpret_cast<const char *>(&v), sizeof v);
  }
  static std::string u32(uint32_t v) { return bytesOf(v); }
  static std::string context(const ThreadSpec &t) {
    std::string c(kContextSize, '\0');
    uint32_t flags = 0x10000b;  // CONTEXT_AMD64 | CONTROL | INTEGER | FLOATING_POINT
    memcpy(&c[48], &flags, 4);
    memcpy(&c[152], &t.rsp, 8);
    memcpy(&c[160], &t.rbp, 8);
    memcpy(&c[248], &t.rip, 8);
    return c;
  }

  std::vector<ThreadSpec> threads_;
  std::vector<std::pair<uint64_t, std::string>> memory_;
  std::vector<std::pair<uint32_t, std::string>> extra_;
  mdf::ProcessorArchitecture arch_ = mdf::ProcessorArchitecture::AMD64;
  bool haveException_ = false;
  uint32_t exCode_ = 1;
  uint32_t exTid_ = 0, exSigno_ = 0;
  uint64_t exAddress_ = 0;
};

// A two-thread process: thread 4242 crashed with SIGSEGV at 0x10 (rip 0x401000, a stack at
// 0x7ffd0000 filled with 0x2000 + i), thread 4243 in a poll; maps, status and cmdline streams.
inline std::string sampleMinidump() {
  MinidumpBuilder b;
  std::string stack(4096, '\0');
  for (int i = 0; i < 512; ++i) {
    uint64_t w = 0x2000 + i;
    memcpy(&stack[i * 8], &w, 8);
  }
  b.thread({4242, 0x401000, 0x7ffd0100, 0x7ffd0200, 0x7ffd0000, stack});
  b.thread({4243, 0x401100, 0x7ffe0000, 0, 0x7ffe0000, std::string(256, '\x11')});
  b.exception(4242, SIGSEGV, 0x10);
  b.memory(0x600000, std::string(64, '\x22'));
  b.stream(MinidumpBuilder::kLinuxMaps,
           "00400000-00401000 r--p 00000000 08:01 1 /usr/bin/crashy\n"
           "00401000-00402000 r-xp 00001000 08:01 1 /usr/bin/crashy\n"
           "00600000-00601000 rw-p 00000000 00:00 0\n"
           "7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n"
           "7ffe0000-7ffe1000 rw-p 00000000 00:00 0\n");
  b.stream(MinidumpBuilder::kLinuxProcStatus, "Name:\tcrashy\nState:\tR\nPid:\t4242\nUid:\t1000\t1000\n");
  b.stream(MinidumpBuilder::kLinuxCmdLine, std::string("./crashy\0--fast\0", 16));
  return b.build();
}

}  // namespace bt::synth
