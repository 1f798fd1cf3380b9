// Synthetic Breakpad/Crashpad-style Linux x86-64 minidumps for tests and fuzzers (what
// rust-minidump's minidump-synth does for Rust): system info, threads with an AMD64 CPU context
// and a stack, an exception stream naming the crashed thread, a memory list, and Breakpad's
// Linux text streams (/proc maps, status, cmdline). The minidump tests need no shared data.
#pragma once

#include <llvm/BinaryFormat/Minidump.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
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
  void stream(uint32_t type, std::string bytes) { extra_.push_back({type, std::move(bytes), {}}); }
  // A stream whose bytes point into themselves (RVAs): made once its file offset is known.
  void streamAt(uint32_t type, std::function<std::string(uint32_t rva)> make) {
    extra_.push_back({type, {}, std::move(make)});
  }
  // Crashpad's info stream (0x43500001): the process's simple annotations and one module's
  // simple annotations and annotation objects ((name, type, value); type 1 is a string).
  using Annotations = std::vector<std::pair<std::string, std::string>>;
  struct AnnotationObject {
    std::string name;
    uint16_t type;
    std::string value;
  };
  void crashpadInfo(Annotations simple, Annotations moduleSimple, std::vector<AnnotationObject> objects) {
    streamAt(0x43500001, [=](uint32_t base) {
      std::string b;
      auto u32 = [&](std::string &to, uint32_t v) { to.append(reinterpret_cast<const char *>(&v), 4); };
      auto u32At = [&](size_t off, uint32_t v) { memcpy(&b[off], &v, 4); };
      auto utf8 = [&](const std::string &text) {  // appended at the end; its rva
        while (b.size() % 4) b.push_back('\0');
        uint32_t rva = base + uint32_t(b.size());
        u32(b, uint32_t(text.size()));
        b += text;
        b.push_back('\0');
        return rva;
      };
      auto dictionary = [&](const Annotations &kv) {  // returns (size, rva)
        while (b.size() % 4) b.push_back('\0');
        size_t at = b.size();
        u32(b, uint32_t(kv.size()));
        b.append(kv.size() * 8, '\0');
        for (size_t i = 0; i < kv.size(); ++i) {
          uint32_t k = utf8(kv[i].first), v = utf8(kv[i].second);
          u32At(at + 4 + i * 8, k);
          u32At(at + 8 + i * 8, v);
        }
        return std::make_pair(uint32_t(4 + kv.size() * 8), base + uint32_t(at));
      };
      b.assign(52, '\0');
      u32At(0, 1);  // version
      auto [ss, sr] = dictionary(simple);
      u32At(36, ss), u32At(40, sr);
      // The module's info: version, list annotations (none), simple annotations, objects.
      auto [ms, mr] = dictionary(moduleSimple);
      while (b.size() % 4) b.push_back('\0');
      size_t objAt = b.size();
      u32(b, uint32_t(objects.size()));
      b.append(objects.size() * 12, '\0');
      for (size_t i = 0; i < objects.size(); ++i) {
        uint32_t n = utf8(objects[i].name), v = utf8(objects[i].value);
        u32At(objAt + 4 + i * 12, n);
        uint16_t t = objects[i].type;
        memcpy(&b[objAt + 8 + i * 12], &t, 2);
        u32At(objAt + 12 + i * 12, v);
      }
      size_t modAt = b.size();
      b.append(28, '\0');
      u32At(modAt, 1);
      u32At(modAt + 12, ms), u32At(modAt + 16, mr);
      u32At(modAt + 20, uint32_t(4 + objects.size() * 12)), u32At(modAt + 24, base + uint32_t(objAt));
      size_t listAt = b.size();
      u32(b, 1);
      u32(b, 0), u32(b, 28), u32(b, base + uint32_t(modAt));  // module 0, its info
      u32At(44, 16), u32At(48, base + uint32_t(listAt));
      return b;
    });
  }
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
    for (const Extra &e : extra_) {
      if (!e.make) {
        addStream(e.type, e.bytes);
        continue;
      }
      while (out.size() % 8) out.push_back('\0');  // where add() puts it
      addStream(e.type, e.make(uint32_t(out.size())));
    }

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
  struct Extra {
    uint32_t type;
    std::string bytes;
    std::function<std::string(uint32_t)> make;
  };
  std::vector<Extra> extra_;
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
