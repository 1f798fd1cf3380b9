#include "target/core_file.h"

#include "support/address_ranges.h"
#include "target/elf_notes.h"
#include "target/siginfo.h"

#include "support/error.h"
#include "target/initial_stack.h"
#include "target/module_discovery.h"

#include <csignal>
#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace bt {

namespace {

// Offsets inside the x86-64 struct elf_prstatus.
constexpr size_t kPrstatusSize = 336;
constexpr size_t kPrCursig = 12;
constexpr size_t kPrPid = 32;
constexpr size_t kPrReg = 112;
// Offsets inside struct elf_prpsinfo.
constexpr size_t kPrpsinfoSize = 136;
constexpr size_t kPsUid = 16;
constexpr size_t kPsPid = 24;
constexpr size_t kPsFname = 40;
constexpr size_t kPsArgs = 56;

bool fileExists(const std::string &p) {
  struct stat st;
  return !p.empty() && stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

llvm::Expected<std::unique_ptr<CoreFile>> CoreFile::open(const std::string &path,
                                                         const std::string &exeOverride) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    return makeError(ErrorKind::MissingFile, "{0}: {1}", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return makeError(ErrorKind::BadInput, "{0}: not a regular file", path);
  if (!exeOverride.empty() && !fileExists(exeOverride))
    return makeError(ErrorKind::MissingFile, "executable not found: {0}", exeOverride);
  auto mb = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!mb) {
    if (mb.getError() == std::errc::permission_denied)
      return makeError(ErrorKind::PermissionDenied, "{0}: permission denied", path);
    return makeError(ErrorKind::BadInput, "{0}: {1}", path, mb.getError().message());
  }
  return openBuffer(std::move(*mb), path, exeOverride);
}

llvm::Expected<std::unique_ptr<CoreFile>>
CoreFile::openBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, const std::string &name,
                     const std::string &exeOverride) {
  if (!exeOverride.empty() && !fileExists(exeOverride))
    return makeError(ErrorKind::MissingFile, "executable not found: {0}", exeOverride);
  std::unique_ptr<CoreFile> core(new CoreFile);
  core->path_ = name;
  core->exeOverride_ = exeOverride;
  core->buf_ = std::move(buffer);
  if (auto err = core->parse()) return std::move(err);
  return std::move(core);
}

llvm::Error CoreFile::parse() {
  const uint8_t *base = reinterpret_cast<const uint8_t *>(buf_->getBufferStart());
  size_t size = buf_->getBufferSize();
  Elf64_Ehdr eh;
  if (size < sizeof eh || memcmp(base, ELFMAG, SELFMAG) != 0)
    return makeError(ErrorKind::BadInput, "{0}: not a core file (no ELF header)", path_);
  memcpy(&eh, base, sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return makeError(ErrorKind::BadInput, "{0}: not a 64-bit little-endian ELF file", path_);
  if (eh.e_type != ET_CORE)
    return makeError(ErrorKind::BadInput, "{0}: not a core file (ELF type {1}, expected ET_CORE)",
                     path_, eh.e_type);
  if (eh.e_machine != EM_X86_64)
    return makeError(ErrorKind::BadInput, "{0}: core is for machine {1}, only x86-64 is supported",
                     path_, eh.e_machine);
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
    return makeError(ErrorKind::BadInput, "{0}: core file has no program headers", path_);
  uint64_t phEnd = eh.e_phoff + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr);
  if (eh.e_phoff > size || phEnd > size)
    return makeError(ErrorKind::Truncated,
                     "{0}: truncated core file: program headers end at {1} but the file has {2} "
                     "bytes",
                     path_, phEnd, size);
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  memcpy(phdrs.data(), base + eh.e_phoff, phdrs.size() * sizeof(Elf64_Phdr));
  uint64_t needed = 0;
  for (auto &ph : phdrs) {
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (ph.p_offset + ph.p_filesz < ph.p_offset)
      return makeError(ErrorKind::BadInput, "{0}: corrupt program header", path_);
    needed = std::max<uint64_t>(needed, ph.p_offset + ph.p_filesz);
  }
  // A truncated core (a full disk, a size limit, a copy cut short) still holds what comes first:
  // the notes with every thread's registers, then memory in address order. Show what is there.
  if (needed > size) {
    partial_ = true;
    warnings_.push_back(llvm::formatv("truncated core file: {0} of the {1} bytes its program "
                                      "headers describe; the memory stored past byte {0} is "
                                      "missing (unreadable, never guessed)",
                                      size, needed)
                            .str());
  }
  bool sawNotes = false;
  for (auto &ph : phdrs) {
    uint64_t present = ph.p_offset >= size ? 0 : std::min<uint64_t>(ph.p_filesz, size - ph.p_offset);
    if (ph.p_type == PT_NOTE) {
      sawNotes = true;
      // (No pointer past the buffer is formed: a segment wholly cut off has nothing present.)
      const uint8_t *notes = present ? base + ph.p_offset : base;
      if (auto err = parseNotes(notes, present, present < ph.p_filesz)) return err;
    } else if (ph.p_type == PT_LOAD) {
      segments_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, present, ph.p_flags, ph.p_filesz});
      MemoryRegion r;
      r.start = ph.p_vaddr;
      r.end = ph.p_vaddr + ph.p_memsz;
      r.perms = (ph.p_flags & PF_R ? PermRead : 0) | (ph.p_flags & PF_W ? PermWrite : 0) |
                (ph.p_flags & PF_X ? PermExec : 0);
      regions_.push_back(r);
    }
  }
  if (sawNotes && threads_.empty() && partial_)
    return makeError(ErrorKind::Truncated,
                     "{0}: truncated core file: {1} bytes, cut before its first thread's "
                     "registers (NT_PRSTATUS); the program headers describe {2}",
                     path_, size, needed);
  if (!sawNotes || threads_.empty())
    return makeError(ErrorKind::BadInput, "{0}: core file has no thread (NT_PRSTATUS) notes",
                     path_);
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment &a, const Segment &b) { return a.vaddr < b.vaddr; });
  std::sort(regions_.begin(), regions_.end(),
            [](const MemoryRegion &a, const MemoryRegion &b) { return a.start < b.start; });
  // Attach file names and offsets from NT_FILE to the regions.
  for (auto &r : regions_)
    for (auto &f : files_)
      if (f.start == r.start) {
        r.path = f.path;
        r.fileOffset = f.offset;
      }

  // The executable: the NT_FILE mapping that holds AT_ENTRY.
  uint64_t entry = auxvValue(AT_ENTRY).value_or(0);
  std::string coreExe;
  for (auto &f : files_)
    if (entry >= f.start && entry < f.end) coreExe = f.path;
  if (!coreExe.empty()) facts_.executable = coreExe;
  std::string exeOnDisk = hostPath(facts_.executable);
  if (exeOverride_.empty() && !coreExe.empty() && !fileExists(exeOnDisk)) {
    // Registers, memory and the libraries are still here: frames in the executable get
    // module+offset only, as gdb shows them without the file.
    partial_ = true;
    warnings_.push_back("the core's executable " + facts_.executable +
                        " is missing: frames in it show module+offset only and unwinding "
                        "through them is by heuristics (--exe PATH, or exe= in Python, names "
                        "where it is)");
  }

  MemoryReader rd = [this](uint64_t a, void *b, size_t n) { return readMemory(a, b, n); };
  modules_ = discoverModules(regions_, rd, entry, facts_.executable);
  applyLinkMap(modules_, rd);
  for (auto &m : modules_) m.hostPath = hostPath(m.path);
  readInitialEnvironment(rd, regions_, auxv_, facts_);
  checkModuleFiles();
  // The executable's text is not in the core: another build of it leaves the core incomplete,
  // as a missing one does.
  for (const ModuleInfo &m : modules_)
    if (m.isMainExecutable && m.mismatch) partial_ = true;
  return llvm::Error::success();
}

llvm::Error CoreFile::parseNotes(const uint8_t *p, size_t n, bool cutShort) {
  ThreadInfo *current = nullptr;
  std::string processName;  // NT_PRPSINFO's pr_fname: the main thread's name
  // The kernel writes NT_SIGINFO right after the crashing thread's NT_PRSTATUS (pr_cursig is the
  // signal in every thread's note, so it does not tell which one took it).
  bool siginfoSeen = false;
  int siginfoTid = 0;
  ElfNoteReader notes(p, n);
  while (std::optional<ElfNote> note = notes.next()) {
    uint32_t type = note->type;
    uint32_t descsz = uint32_t(note->desc.size());
    const uint8_t *d = note->desc.data();
    switch (type) {
      case NT_PRSTATUS: {
        if (descsz < kPrstatusSize)
          return makeError(ErrorKind::BadInput, "{0}: corrupt NT_PRSTATUS note ({1} bytes)", path_,
                           descsz);
        ThreadInfo t;
        int32_t tid;
        int16_t cursig;
        memcpy(&tid, d + kPrPid, 4);
        memcpy(&cursig, d + kPrCursig, 2);
        memcpy(&t.regs, d + kPrReg, sizeof t.regs);
        t.tid = tid;
        if (cursig > 0) {
          SignalInfo si;
          si.signo = cursig;
          t.signal = si;
        }
        threads_.push_back(std::move(t));
        current = &threads_.back();
        break;
      }
      case NT_X86_XSTATE:
        // XSAVE area: the software-reserved bytes at 464 hold XCR0.
        if (descsz >= 472 && !xcr0_) {
          uint64_t x;
          memcpy(&x, d + 464, 8);
          xcr0_ = x;
        }
        break;
      case NT_FPREGSET:
        if (current && descsz >= sizeof(FpRegisters)) {
          FpRegisters fp;
          memcpy(&fp, d, sizeof fp);
          current->fpregs = fp;
        }
        break;
      case NT_PRPSINFO:
        if (descsz >= kPrpsinfoSize) {
          int32_t pid;
          memcpy(&pid, d + kPsPid, 4);
          facts_.pid = pid;
          uint32_t uid;
          memcpy(&uid, d + kPsUid, 4);
          facts_.uid = int(uid);
          char fname[17] = {};
          memcpy(fname, d + kPsFname, 16);
          char args[81] = {};
          memcpy(args, d + kPsArgs, 80);
          facts_.commandLine.clear();
          std::string a(args);
          size_t i = 0;
          while (i < a.size()) {
            size_t sp = a.find(' ', i);
            if (sp == std::string::npos) sp = a.size();
            if (sp > i) facts_.commandLine.push_back(a.substr(i, sp - i));
            i = sp + 1;
          }
          if (facts_.executable.empty()) facts_.executable = fname;
          processName = fname;
        }
        break;
      case NT_SIGINFO:
        if (descsz >= 32) {
          SignalInfo si = decodeSiginfo(d);
          siginfoSeen = true;
          if (current && !siginfoTid) siginfoTid = current->tid;  // gdb writes one per thread
          // A damaged one (no such signal) does not replace the thread's own pr_cursig.
          if (current && isLinuxSignal(si.signo)) current->signal = si;
          if (!signal_) signal_ = si;
        }
        break;
      case NT_AUXV:
        for (size_t i = 0; i + 16 <= descsz; i += 16) {
          uint64_t kv[2];
          memcpy(kv, d + i, 16);
          if (kv[0] == AT_NULL) break;
          auxv_.emplace_back(kv[0], kv[1]);
        }
        break;
      case NT_FILE: {
        if (descsz < 16) break;
        uint64_t count, pageSize;
        memcpy(&count, d, 8);
        memcpy(&pageSize, d + 8, 8);
        if (count > (descsz - 16) / 24)
          return makeError(ErrorKind::BadInput, "{0}: corrupt NT_FILE note (count {1})", path_,
                           count);
        const char *names = reinterpret_cast<const char *>(d + 16 + count * 24);
        const char *namesEnd = reinterpret_cast<const char *>(d + descsz);
        for (uint64_t i = 0; i < count && names < namesEnd; ++i) {
          uint64_t e[3];
          memcpy(e, d + 16 + i * 24, 24);
          size_t len = strnlen(names, namesEnd - names);
          files_.push_back({e[0], e[1], e[2] * pageSize, std::string(names, len)});
          names += len + 1;
        }
        break;
      }
      default:
        break;
    }
  }
  // A note cut off by the end of a truncated core is the truncation (already reported).
  if (notes.overran() && !cutShort)
    return makeError(ErrorKind::BadInput,
                     "{0}: corrupt core file: note at offset {1} overruns its segment", path_,
                     notes.offset());
  // After all notes: the main thread's NT_PRSTATUS follows NT_PRPSINFO when another thread
  // crashed (the kernel writes the crashing thread first).
  if (!processName.empty())
    for (ThreadInfo &t : threads_)
      if (t.tid == facts_.pid) t.name = processName;
  // Cross-checks: facts the notes give twice must agree; what does not is reported, not guessed.
  if (signal_ && !isLinuxSignal(signal_->signo)) {
    warnings_.push_back("NT_SIGINFO names signal " + std::to_string(signal_->signo) +
                        ", which does not exist: the core's signal is unknown");
    signal_.reset();
  }
  for (ThreadInfo &t : threads_)
    if (t.signal && !isLinuxSignal(t.signal->signo)) {
      warnings_.push_back("thread " + std::to_string(t.tid) + ": NT_PRSTATUS names signal " +
                          std::to_string(t.signal->signo) + ", which does not exist");
      t.signal.reset();
    }
  bool pidIsAThread = false;
  for (const ThreadInfo &t : threads_) pidIsAThread |= t.tid == facts_.pid;
  if (!threads_.empty() && !pidIsAThread)
    warnings_.push_back("NT_PRPSINFO names process " + std::to_string(facts_.pid) +
                        ", which is none of the core's threads (a damaged note?)");
  // The kernel writes the thread that took the signal first, its NT_SIGINFO right after.
  if (!threads_.empty()) {
    if (siginfoSeen && !siginfoTid && signal_) {
      // NT_SIGINFO follows no thread: the crashing thread's NT_PRSTATUS is missing or damaged.
      // Marking the first thread that is left as crashed would be an invented fact.
      warnings_.push_back("the core's signal (" + std::to_string(signal_->signo) +
                          ") follows none of its threads: the crashing thread's NT_PRSTATUS "
                          "note is missing or damaged, no thread is marked as crashed");
    } else if (siginfoTid) {
      crashedTid_ = siginfoTid;
    } else {
      if (signal_ && !threads_.front().signal) threads_.front().signal = signal_;
      if (threads_.front().signal) {
        crashedTid_ = threads_.front().tid;
        if (!signal_) signal_ = threads_.front().signal;
      }
    }
  }
  return llvm::Error::success();
}

std::string CoreFile::hostPath(const std::string &corePath) const {
  if (!exeOverride_.empty() && corePath == facts_.executable) return exeOverride_;
  return corePath;
}

size_t CoreFile::readFromMappedFile(uint64_t addr, void *buf, size_t len) {
  for (auto &f : files_) {
    if (addr < f.start || addr >= f.end) continue;
    // Text the kernel left out comes from the file only when it is the build the process ran.
    for (const ModuleInfo &m : modules_)
      if (m.path == f.path && !fileUsable(m)) return 0;
    std::string p = hostPath(f.path);
    auto it = openFiles_.find(p);
    if (it == openFiles_.end()) {
      // NT_FILE paths come from the core: only regular files (a FIFO there would block).
      std::unique_ptr<llvm::MemoryBuffer> mb;
      struct stat st;
      if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        auto f = llvm::MemoryBuffer::getFile(p, false, false);
        if (f) mb = std::move(*f);
      }
      it = openFiles_.emplace(p, std::move(mb)).first;
    }
    if (!it->second) return 0;
    uint64_t off = f.offset + (addr - f.start);
    uint64_t fsize = it->second->getBufferSize();
    if (off >= fsize) return 0;
    size_t n = std::min<uint64_t>({len, fsize - off, f.end - addr});
    memcpy(buf, it->second->getBufferStart() + off, n);
    return n;
  }
  return 0;
}

std::vector<std::pair<uint64_t, uint64_t>> CoreFile::heldMemory() const {
  std::vector<std::pair<uint64_t, uint64_t>> held;
  for (const Segment &s : segments_)
    if (s.filesz) held.emplace_back(s.vaddr, s.vaddr + s.filesz);
  return mergeRanges(std::move(held));
}

size_t CoreFile::readMemory(uint64_t addr, void *buf, size_t len) {
  const uint8_t *base = reinterpret_cast<const uint8_t *>(buf_->getBufferStart());
  size_t done = 0;
  while (done < len) {
    uint64_t a = addr + done;
    auto it = std::upper_bound(segments_.begin(), segments_.end(), a,
                               [](uint64_t x, const Segment &s) { return x < s.vaddr; });
    const Segment *seg = it == segments_.begin() ? nullptr : &*std::prev(it);
    if (!seg || a >= seg->vaddr + seg->memsz) {
      // Some core writers (gdb's gcore) leave file-backed text out entirely; NT_FILE still
      // says which file is mapped there.
      size_t want = len - done;
      if (it != segments_.end()) want = std::min<uint64_t>(want, it->vaddr - a);
      size_t n = readFromMappedFile(a, (uint8_t *)buf + done, want);
      if (n == 0) break;
      done += n;
      continue;
    }
    const Segment &s = *seg;
    uint64_t inSeg = a - s.vaddr;
    size_t n;
    if (inSeg < s.filesz) {
      n = std::min<uint64_t>(len - done, s.filesz - inSeg);
      memcpy((uint8_t *)buf + done, base + s.offset + inSeg, n);
    } else if (inSeg < s.dumped) {
      break;  // stored in the core, but cut off with its end: lost, not the file's bytes
    } else {
      // Not dumped (typically unmodified file-backed pages): read the file on disk.
      size_t want = std::min<uint64_t>(len - done, s.vaddr + s.memsz - a);
      n = readFromMappedFile(a, (uint8_t *)buf + done, want);
      if (n == 0) break;
    }
    done += n;
  }
  return done;
}

}  // namespace bt
