// Synthetic ELF core files for tests (rust-minidump's minidump-synth is the model): notes
// (NT_PRSTATUS, NT_SIGINFO, NT_PRPSINFO, NT_AUXV, any other) and PT_LOAD segments, assembled into
// a well-formed x86-64 core that tests then damage or read. Shared by the unit tests and fuzzers.
#pragma once

#include <elf.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace bt::synth {

struct CoreBuilder {
  std::string notes;
  std::vector<std::pair<Elf64_Phdr, std::string>> loads;

  void note(uint32_t type, const char *name, const std::string &desc) {
    uint32_t namesz = strlen(name) + 1, descsz = desc.size();
    notes.append(reinterpret_cast<char *>(&namesz), 4);
    notes.append(reinterpret_cast<char *>(&descsz), 4);
    notes.append(reinterpret_cast<char *>(&type), 4);
    notes.append(name, namesz);
    notes.resize((notes.size() + 3) & ~3ul, '\0');
    notes += desc;
    notes.resize((notes.size() + 3) & ~3ul, '\0');
  }
  void thread(int tid, int sig, uint64_t rip, uint64_t rsp, uint64_t rbp = 0xbbbb) {
    std::string d(336, '\0');
    int16_t cursig = sig;
    memcpy(&d[12], &cursig, 2);
    int32_t pid = tid;
    memcpy(&d[32], &pid, 4);
    uint64_t regs[27] = {};
    regs[16] = rip;
    regs[19] = rsp;
    regs[4] = rbp;
    memcpy(&d[112], regs, sizeof regs);
    note(NT_PRSTATUS, "CORE", d);
  }
  void load(uint64_t vaddr, const std::string &data, uint64_t memsz = 0,
            uint32_t flags = PF_R | PF_W) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = flags;
    ph.p_vaddr = vaddr;
    ph.p_filesz = data.size();
    ph.p_memsz = memsz ? memsz : data.size();
    loads.push_back({ph, data});
  }
  std::string build() {
    Elf64_Ehdr eh{};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1 + loads.size();
    uint64_t off = sizeof eh + eh.e_phnum * sizeof(Elf64_Phdr);
    std::vector<Elf64_Phdr> ph;
    Elf64_Phdr n{};
    n.p_type = PT_NOTE;
    n.p_offset = off;
    n.p_filesz = notes.size();
    ph.push_back(n);
    off += notes.size();
    for (auto &[p, d] : loads) {
      p.p_offset = off;
      off += d.size();
      ph.push_back(p);
    }
    std::string out(reinterpret_cast<char *>(&eh), sizeof eh);
    out.append(reinterpret_cast<char *>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
    out += notes;
    for (auto &[p, d] : loads) out += d;
    return out;
  }
};

// A one-process core: thread 100 crashed with SIGSEGV at 0x10 (rip 0x401000, a stack at 0x7ff000
// filled with 0x1000 + i), thread 101 asleep, "crashy --fast" in NT_PRPSINFO, an auxv, and a
// mapping that was not dumped.
inline std::string sampleCore() {
  CoreBuilder b;
  b.thread(100, SIGSEGV, 0x401000, 0x7ff000);
  std::string si(128, '\0');
  int32_t v[3] = {SIGSEGV, 0, 1 /* SEGV_MAPERR */};
  memcpy(&si[0], v, 12);
  uint64_t addr = 0x10;
  memcpy(&si[16], &addr, 8);
  b.note(NT_SIGINFO, "CORE", si);
  std::string ps(136, '\0');
  int32_t pid = 100;
  memcpy(&ps[24], &pid, 4);
  memcpy(&ps[40], "crashy", 6);
  memcpy(&ps[56], "./crashy --fast", 15);
  b.note(NT_PRPSINFO, "CORE", ps);
  uint64_t aux[] = {AT_PAGESZ, 4096, AT_NULL, 0};
  b.note(NT_AUXV, "CORE", std::string(reinterpret_cast<char *>(aux), sizeof aux));
  b.thread(101, 0, 0x401100, 0x7fe000);
  std::string stack(4096, '\0');
  for (int i = 0; i < 512; ++i) {
    uint64_t w = 0x1000 + i;
    memcpy(&stack[i * 8], &w, 8);
  }
  b.load(0x7ff000, stack);
  b.load(0x900000, "", 0x1000);  // not dumped, no file behind it
  return b.build();
}

}  // namespace bt::synth
