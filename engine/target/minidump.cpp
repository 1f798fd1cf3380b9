#include "target/minidump.h"

#include "support/address_ranges.h"
#include "support/error.h"
#include "target/crashpad_annotations.h"
#include "target/minidump_format.h"
#include "target/module_discovery.h"
#include "target/siginfo.h"

#include <llvm/ADT/StringExtras.h>

#include <csignal>
#include <elf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bt {

using namespace llvm;
namespace md = llvm::minidump;

namespace {

using namespace minidump_format;

template <typename T> T le(ArrayRef<uint8_t> b, size_t off) {
  T v{};
  if (off + sizeof(T) <= b.size()) memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

// MINIDUMP_CONTEXT_AMD64 -> user_regs_struct (+ the FXSAVE area).
bool readContext(ArrayRef<uint8_t> c, Registers &r, std::optional<FpRegisters> &fp) {
  if (c.size() < 256) return false;
  r = Registers{};
  r.cs = le<uint16_t>(c, 56);
  r.ds = le<uint16_t>(c, 58);
  r.es = le<uint16_t>(c, 60);
  r.fs = le<uint16_t>(c, 62);
  r.gs = le<uint16_t>(c, 64);
  r.ss = le<uint16_t>(c, 66);
  r.eflags = le<uint32_t>(c, 68);
  r.rax = le<uint64_t>(c, 120);
  r.rcx = le<uint64_t>(c, 128);
  r.rdx = le<uint64_t>(c, 136);
  r.rbx = le<uint64_t>(c, 144);
  r.rsp = le<uint64_t>(c, 152);
  r.rbp = le<uint64_t>(c, 160);
  r.rsi = le<uint64_t>(c, 168);
  r.rdi = le<uint64_t>(c, 176);
  r.r8 = le<uint64_t>(c, 184);
  r.r9 = le<uint64_t>(c, 192);
  r.r10 = le<uint64_t>(c, 200);
  r.r11 = le<uint64_t>(c, 208);
  r.r12 = le<uint64_t>(c, 216);
  r.r13 = le<uint64_t>(c, 224);
  r.r14 = le<uint64_t>(c, 232);
  r.r15 = le<uint64_t>(c, 240);
  r.rip = le<uint64_t>(c, 248);
  r.orig_rax = ~uint64_t(0);
  if (c.size() >= 256 + 512) {
    FpRegisters f;
    memcpy(f.bytes, c.data() + 256, 512);
    fp = f;
  }
  return true;
}

std::string text(ArrayRef<uint8_t> b) { return std::string(reinterpret_cast<const char *>(b.data()), b.size()); }

std::vector<std::string> splitNul(const std::string &s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t z = s.find('\0', i);
    if (z == std::string::npos) z = s.size();
    if (z > i) out.push_back(s.substr(i, z - i));
    i = z + 1;
  }
  return out;
}

// Breakpad's CodeView record for ELF: 'BpEL' followed by the build-id; 'RSDS' (older Breakpad,
// Crashpad): a GUID whose 16 raw bytes are the build-id's first 16 bytes, then age and name.
std::string buildIdFromCv(ArrayRef<uint8_t> cv) {
  if (cv.size() < 4) return {};
  uint32_t sig = le<uint32_t>(cv, 0);
  if (sig == kCvElfSignature) return toHex(cv.drop_front(4), /*LowerCase=*/true);  // "LEpB" little-endian
  if (sig == 0x53445352 && cv.size() >= 20)                                    // "RSDS"
    return toHex(cv.slice(4, 16), /*LowerCase=*/true);  // a prefix of the ELF build-id
  return {};
}

}  // namespace

Expected<std::unique_ptr<Minidump>> Minidump::open(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return makeError(ErrorKind::MissingFile, "{0}: {1}", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return makeError(ErrorKind::BadInput, "{0}: not a regular file", path);
  auto mb = MemoryBuffer::getFile(path, false, false);
  if (!mb) return makeError(ErrorKind::BadInput, "{0}: {1}", path, mb.getError().message());
  return openBuffer(std::move(*mb), path);
}

Expected<std::unique_ptr<Minidump>> Minidump::openBuffer(std::unique_ptr<MemoryBuffer> buffer,
                                                         const std::string &name) {
  std::unique_ptr<Minidump> m(new Minidump);
  m->path_ = name;
  m->buf_ = std::move(buffer);
  auto file = object::MinidumpFile::create(m->buf_->getMemBufferRef());
  if (!file)
    return makeError(ErrorKind::BadInput, "{0}: not a valid minidump: {1}", name, toString(file.takeError()));
  m->md_ = std::move(*file);
  if (Error e = m->parse()) return std::move(e);
  return std::move(m);
}

Error Minidump::parse() {
  auto bad = [&](const std::string &what) { return makeError(ErrorKind::BadInput, "{0}: {1}", path_, what); };
  if (auto si = md_->getSystemInfo()) {
    if (si->ProcessorArch != md::ProcessorArchitecture::AMD64)
      return bad("only x86-64 minidumps are supported");
  } else {
    consumeError(si.takeError());
  }

  // Memory: the memory list, then thread stacks not in it.
  if (auto list = md_->getMemoryList()) {
    for (const md::MemoryDescriptor &d : *list) {
      auto data = md_->getRawData(d.Memory);
      if (!data) {
        consumeError(data.takeError());
        continue;
      }
      if (!data->empty()) memory_[d.StartOfMemoryRange] = *data;
    }
  } else {
    consumeError(list.takeError());
  }

  auto threads = md_->getThreadList();
  if (!threads) return bad("no thread list: " + toString(threads.takeError()));
  for (const md::Thread &t : *threads) {
    ThreadInfo ti;
    ti.tid = int(t.ThreadId);
    auto ctx = md_->getRawData(t.Context);
    if (!ctx || !readContext(*ctx, ti.regs, ti.fpregs)) {
      if (!ctx) consumeError(ctx.takeError());
      return bad("thread " + std::to_string(ti.tid) + " has no readable CPU context");
    }
    auto stack = md_->getRawData(t.Stack.Memory);
    if (stack && !stack->empty() && !memory_.count(t.Stack.StartOfMemoryRange))
      memory_[t.Stack.StartOfMemoryRange] = *stack;
    else if (!stack)
      consumeError(stack.takeError());
    threads_.push_back(std::move(ti));
  }
  if (threads_.empty()) return bad("no threads");

  // The exception: the crashing thread, its signal and the context at the fault.
  if (auto ex = md_->getExceptionStream()) {
    SignalInfo s;
    s.signo = int(ex->ExceptionRecord.ExceptionCode);
    s.code = int(ex->ExceptionRecord.ExceptionFlags);
    s.address = ex->ExceptionRecord.ExceptionAddress;
    // Breakpad and Crashpad store si_code as the exception flags, but many writers leave them 0
    // (SI_USER's value too), so 0 keeps the address: rust-minidump and Breakpad's processor
    // report it. SI_KERNEL (a general-protection fault) and the negative codes of signals a
    // process sent carry none.
    s.hasAddress = signalHasFaultAddress(s.signo, s.code == 0 ? 1 : s.code);
    bool known = false;
    for (const ThreadInfo &t : threads_) known |= t.tid == int(ex->ThreadId);
    if (!known)
      warnings_.push_back("the exception names thread " + std::to_string(uint32_t(ex->ThreadId)) +
                          ", which is none of the dump's threads: no thread is marked as crashed");
    if (!isLinuxSignal(s.signo))
      warnings_.push_back("the exception's code " + std::to_string(uint32_t(ex->ExceptionRecord.ExceptionCode)) +
                          " is no Linux signal: the dump's signal is unknown");
    if (isLinuxSignal(s.signo)) {
      signal_ = s;
      if (known) crashedTid_ = int(ex->ThreadId);
      for (ThreadInfo &t : threads_)
        if (t.tid == int(ex->ThreadId)) {
          t.signal = s;
          auto ctx = md_->getRawData(ex->ThreadContext);
          if (ctx) readContext(*ctx, t.regs, t.fpregs);
          else consumeError(ctx.takeError());
        }
    }
  } else {
    consumeError(ex.takeError());
  }

  // Linux streams.
  if (auto maps = md_->getRawStream(md::StreamType(kLinuxMaps))) {
    std::istringstream in(text(*maps));
    std::string line;
    while (std::getline(in, line) && regions_.size() < 1000000) {
      MemoryRegion r;
      if (parseMapsLine(line, r)) regions_.push_back(std::move(r));
    }
    std::sort(regions_.begin(), regions_.end(),
              [](const MemoryRegion &a, const MemoryRegion &b) { return a.start < b.start; });
  }
  if (regions_.empty())
    for (const auto &[start, bytes] : memory_)
      regions_.push_back({start, start + bytes.size(), PermRead | PermWrite, 0, {}});
  if (auto info = md_->getRawStream(md::StreamType(kCrashpadInfoStream)))
    annotations_ = readCrashpadAnnotations(
        ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(buf_->getBufferStart()), buf_->getBufferSize()),
        *info, warnings_);
  if (auto aux = md_->getRawStream(md::StreamType(kLinuxAuxv)))
    for (size_t off = 0; off + 16 <= aux->size(); off += 16) {
      uint64_t k = le<uint64_t>(*aux, off), v = le<uint64_t>(*aux, off + 8);
      if (k == AT_NULL) break;
      auxv_.emplace_back(k, v);
    }
  if (auto cmd = md_->getRawStream(md::StreamType(kLinuxCmdLine))) facts_.commandLine = splitNul(text(*cmd));
  if (auto env = md_->getRawStream(md::StreamType(kLinuxEnviron))) facts_.environment = splitNul(text(*env));
  if (auto status = md_->getRawStream(md::StreamType(kLinuxProcStatus))) {
    std::string s = text(*status);
    if (size_t p = s.find("\nPid:"); p != std::string::npos) facts_.pid = atoi(s.c_str() + p + 5);
    if (size_t u = s.find("\nUid:"); u != std::string::npos) facts_.uid = atoi(s.c_str() + u + 5);
  }
  if (!facts_.pid)
    if (auto misc = md_->getRawStream(md::StreamType(kMiscInfo)); misc && misc->size() >= 12)
      if (le<uint32_t>(*misc, 4) & 1) facts_.pid = int(le<uint32_t>(*misc, 8));  // MINIDUMP_MISC1_PROCESS_ID
  if (!facts_.pid) facts_.pid = threads_.front().tid;
  for (const ThreadInfo &t : threads_)
    if (t.tid <= 0)
      warnings_.push_back("thread id " + std::to_string(uint32_t(t.tid)) + " is not a Linux thread id");
  if (facts_.pid <= 0)
    warnings_.push_back("the process id is unknown (" + std::to_string(facts_.pid) + ")");

  // Modules. The first is the executable (Breakpad and Crashpad write it first).
  if (auto mods = md_->getModuleList()) {
    for (const md::Module &mod : *mods) {
      ModuleInfo mi;
      auto name = md_->getString(mod.ModuleNameRVA);
      if (name) mi.path = *name;
      else consumeError(name.takeError());
      mi.start = mod.BaseOfImage;
      mi.end = mod.BaseOfImage + mod.SizeOfImage;
      auto cv = md_->getRawData(mod.CvRecord);
      if (cv) mi.buildId = buildIdFromCv(*cv);
      else consumeError(cv.takeError());
      mi.hostPath = mi.path;
      // Link-time base from the module's own ELF header: in memory if the dump has it, else in
      // the file here (a PIE or shared object is linked at 0; a non-PIE executable at its base).
      mi.loadBias = mi.start;
      MemoryReader mem = [this](uint64_t a, void *b, size_t n) { return readMemory(a, b, n); };
      uint8_t ehdr[64];
      bool haveHeader = mem(mi.start, ehdr, sizeof ehdr) == sizeof ehdr ||
                        readRegularFile(mi.path, 0, ehdr, sizeof ehdr) == sizeof ehdr;
      if (haveHeader && !memcmp(ehdr, ELFMAG, SELFMAG)) {
        uint16_t type;
        memcpy(&type, ehdr + 16, 2);
        if (type == ET_EXEC) mi.loadBias = 0;
      }
      if (modules_.empty()) {
        mi.isMainExecutable = true;
        facts_.executable = mi.path;
      }
      modules_.push_back(std::move(mi));
    }
  } else {
    consumeError(mods.takeError());
  }
  std::sort(modules_.begin(), modules_.end(),
            [](const ModuleInfo &a, const ModuleInfo &b) { return a.start < b.start; });
  checkModuleFiles();
  return Error::success();
}

size_t Minidump::readFromModuleFile(uint64_t addr, void *buf, size_t len) {
  // Read-only file-backed mappings (code) from this machine's copy of the module, when its
  // build-id matches the one the dump recorded.
  const MemoryRegion *r = regionFor(addr);
  if (!r || r->path.empty() || r->path[0] != '/' || (r->perms & PermWrite)) return 0;
  // Decided at each read, not remembered with the file: while the modules are still being read
  // (their ELF headers, for the load bias) checkModuleFiles has not yet filled fileBuildId.
  const ModuleInfo *mod = nullptr;
  for (const ModuleInfo &m : modules_)
    if (m.path == r->path) mod = &m;
  if (!mod || !buildIdsMatch(mod->buildId, mod->fileBuildId)) return 0;
  auto it = files_.find(r->path);
  if (it == files_.end()) {
    std::unique_ptr<MemoryBuffer> mb;
    auto f = MemoryBuffer::getFile(r->path, false, false);
    if (f) mb = std::move(*f);
    it = files_.emplace(r->path, std::move(mb)).first;
  }
  if (!it->second) return 0;
  uint64_t off = r->fileOffset + (addr - r->start);
  if (off >= it->second->getBufferSize()) return 0;
  uint64_t limit = r->end;
  // Captured bytes win: stop where the next captured range begins.
  if (auto next = memory_.upper_bound(addr); next != memory_.end()) limit = std::min(limit, next->first);
  size_t n = std::min<uint64_t>({len, it->second->getBufferSize() - off, limit - addr});
  memcpy(buf, it->second->getBufferStart() + off, n);
  return n;
}

std::vector<std::pair<uint64_t, uint64_t>> Minidump::heldMemory() const {
  std::vector<std::pair<uint64_t, uint64_t>> held;
  for (const auto &[start, bytes] : memory_)
    if (!bytes.empty()) held.emplace_back(start, start + bytes.size());
  return mergeRanges(std::move(held));
}

size_t Minidump::readMemory(uint64_t addr, void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    uint64_t at = addr + done;
    auto it = memory_.upper_bound(at);
    size_t n = 0;
    if (it != memory_.begin()) {
      --it;
      uint64_t end = it->first + it->second.size();
      if (at < end) {
        n = std::min<uint64_t>(len - done, end - at);
        memcpy(static_cast<char *>(buf) + done, it->second.data() + (at - it->first), n);
      }
    }
    if (!n) n = readFromModuleFile(at, static_cast<char *>(buf) + done, len - done);
    if (!n) break;
    done += n;
  }
  return done;
}

}  // namespace bt
