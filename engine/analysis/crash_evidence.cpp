#include "analysis/crash_evidence.h"

#include <llvm/Demangle/Demangle.h>

#include <cstring>

namespace bt {

namespace {

constexpr int kSigabrt = 6, kSigill = 4, kSigtrap = 5;
constexpr size_t kMaxText = 4096;  // an abort message or what() longer than this is cut

// A NUL-terminated string of at most `max` bytes, read in chunks (a string may end just before
// an unmapped page).
std::string readCString(Target &t, uint64_t addr, size_t max = kMaxText) {
  std::string out;
  char buf[256];
  while (out.size() < max) {
    size_t n = t.readMemory(addr + out.size(), buf, std::min(sizeof buf, max - out.size()));
    if (n == 0) break;
    const char *nul = static_cast<const char *>(std::memchr(buf, 0, n));
    out.append(buf, nul ? size_t(nul - buf) : n);
    if (nul) break;
  }
  return out;
}

// glibc keeps the message of its last fatal error (assert, malloc_printerr, __fortify_fail) in
// `struct abort_msg_s { unsigned size; char msg[]; } *__abort_msg` before it calls abort().
std::string readAbortMessage(Target &t, Symbolizer &symbols) {
  for (const ModuleInfo &m : t.modules()) {
    llvm::StringRef base = llvm::StringRef(m.path).rsplit('/').second;
    if (base.empty()) base = m.path;
    bool libc = base.starts_with("libc.so") || base.starts_with("libc-");
    if (!libc && !m.isMainExecutable) continue;  // the main executable: a static glibc
    if (!Target::fileUsable(m)) continue;
    ModuleSymbols *ms = symbols.forModule(m);
    uint64_t at = ms ? ms->objectAddress("__abort_msg") : 0;
    if (!at) continue;
    uint64_t msg = 0;
    if (!t.readU64(at + m.loadBias, msg) || msg == 0) return {};
    std::string text = readCString(t, msg + 4);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }
  return {};
}

constexpr uint64_t kGnuCxxClass = 0x474e5543432b2b00;  // "GNUCC++\0", libstdc++
constexpr uint64_t kClangCxxClass = 0x434c4e47432b2b00;  // "CLNGC++\0", libc++abi
constexpr uint64_t kUnwindHeaderSize = 32;             // struct _Unwind_Exception on x86-64

std::string demangleType(const std::string &mangled) {
  std::string name = mangled;
  if (!name.empty() && name[0] == '*') name.erase(0, 1);  // GCC marks function-local types
  if (char *d = llvm::itaniumDemangle(name)) {
    std::string s = d;
    std::free(d);
    return s;
  }
  return name;
}

}  // namespace

std::optional<ThrownException> readThrownException(Target &t, uint64_t header) {
  uint64_t cls = 0;
  if (!t.readU64(header, cls)) return std::nullopt;
  // __cxa_exception ends in the unwind header; the type_info pointer sits 80 bytes before it in
  // both libstdc++ (after its reference-count wrapper) and libc++abi (reserve, referenceCount,
  // then the same fields).
  if (cls != kGnuCxxClass && cls != kClangCxxClass) return std::nullopt;
  uint64_t typeAt = header - 80;
  uint64_t type = 0, namePtr = 0;
  if (!t.readU64(typeAt, type) || !t.readU64(type + 8, namePtr)) return std::nullopt;
  std::string mangled = readCString(t, namePtr, 512);
  if (mangled.empty()) return std::nullopt;
  ThrownException e;
  e.object = header + kUnwindHeaderSize;
  e.type = demangleType(mangled);
  // Single inheritance: a __si_class_type_info holds its base's type_info at +16 and shares its
  // vtable with every other __si_class_type_info, so the chain is walked while the vtables agree.
  uint64_t vtable = 0;
  t.readU64(type, vtable);
  bool stdMessage = false;
  uint64_t cur = type;
  std::string curName = mangled;
  for (int depth = 0; depth < 16 && !stdMessage; ++depth) {
    if (curName == "St13runtime_error" || curName == "St11logic_error") stdMessage = true;
    uint64_t base = 0, baseVtable = 0, baseName = 0;
    if (!t.readU64(cur + 16, base) || !t.readU64(base, baseVtable) ||
        !t.readU64(base + 8, baseName))
      break;
    curName = readCString(t, baseName, 512);
    if (curName.empty()) break;
    if (baseVtable != vtable) {  // the last base (std::exception: a plain __class_type_info)
      if (curName == "St13runtime_error" || curName == "St11logic_error") stdMessage = true;
      break;
    }
    cur = base;
  }
  // std::runtime_error and std::logic_error keep the message as a pointer to its characters
  // right after the vtable pointer (libstdc++'s __cow_string, libc++'s __libcpp_refstring).
  uint64_t msg = 0;
  if (stdMessage && t.readU64(e.object + 8, msg)) e.what = readCString(t, msg);
  return e;
}

std::optional<CrashEvidence> readCrashEvidence(Target &target, Symbolizer *symbols) {
  if (!target.crashedTid()) return std::nullopt;
  const ThreadInfo *thread = nullptr;
  for (const ThreadInfo &t : target.threads())
    if (t.tid == *target.crashedTid()) thread = &t;
  if (!thread) return std::nullopt;
  CrashEvidence e;
  e.regs = thread->regs;
  e.code.resize(15);
  e.code.resize(target.readMemory(e.regs.rip, e.code.data(), e.code.size()));
  uint64_t w = 0;
  if (target.readU64(e.regs.rsp - 8, w)) e.wordBelowSp = w;
  if (target.readU64(e.regs.rsp, w)) {
    e.wordAtSp = w;
    const MemoryRegion *r = target.regionFor(w);
    if (r && (r->perms & PermExec) && w >= 7) {
      e.beforeWordAtSp.resize(7);
      if (target.readMemory(w - 7, e.beforeWordAtSp.data(), 7) != 7) e.beforeWordAtSp.clear();
    }
  }
  const std::optional<SignalInfo> &sig = target.signal();
  if (symbols && sig && (sig->signo == 11 || sig->signo == 7 || sig->signo == kSigabrt)) {
    std::vector<uint64_t> pointers(userRegWords(e.regs), userRegWords(e.regs) + kNumUserRegs);
    if (sig->hasAddress) pointers.push_back(sig->address);
    e.heap = GlibcHeap::read(target, *symbols, pointers, &e.heapUnavailable);
  }
  if (sig && (sig->signo == kSigabrt || sig->signo == kSigill || sig->signo == kSigtrap))
    e.rustPanic = findRustPanic(target, e.regs.rsp);
  if (!sig || sig->signo != kSigabrt) return e;
  if (symbols) e.abortMessage = readAbortMessage(target, *symbols);
  // The exception being thrown: __cxa_throw and its callees keep a pointer to it on the stack
  // near the stack pointer — to its unwind header (libstdc++), the thrown object just after
  // it, or the start of the 128-byte exception header before it (libc++abi). The first 16 KiB
  // are read in one go; only words that point into writable memory are followed (at most 256).
  std::vector<uint64_t> words(2048);
  size_t got = target.readMemory(e.regs.rsp, words.data(), words.size() * 8) / 8;
  int followed = 0;
  for (size_t i = 0; i < got && followed < 256; ++i) {
    const MemoryRegion *r = target.regionFor(words[i]);
    if (!r || !(r->perms & PermWrite) || words[i] % 8) continue;
    ++followed;
    for (uint64_t header : {words[i], words[i] - kUnwindHeaderSize, words[i] + 96})
      if (auto ex = readThrownException(target, header)) {
        e.exception = std::move(ex);
        break;
      }
    if (e.exception) break;
  }
  return e;
}

}  // namespace bt
