// Unwinder: walks one thread's stack from its registers. Per step it tries, in order: the Linux
// rt_sigreturn trampoline (registers from the saved ucontext), DWARF CFI (.eh_frame via
// .eh_frame_hdr, then .debug_frame), the STACK CFI records of the module's Breakpad symbol file
// (when the symbolizer found one), the frame-pointer chain, and finally a stack scan for a
// return address after a call instruction (or, where the code is not at hand, as in most
// minidumps, one inside a module's executable mapping, taken last). Frames found by fp or scan are marked suspect. It stops
// where CFI marks the return address undefined (_start, clone, clone3), at pc 0, when the stack
// pointer stops growing (a loop) or at the depth limit.
#pragma once

#include "target/target.h"

#include <llvm/Support/MemoryBuffer.h>

#include <functional>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bt {

class Symbolizer;
class CfiTable;

enum class FrameHow { Context, Cfi, FramePointer, Scan, TailCall };
const char *frameHowName(FrameHow h);

struct PhysicalFrame {
  uint64_t pc = 0;
  uint64_t cfa = 0;  // canonical frame address (caller's sp at the call), 0 if unknown
  FrameRegs regs;
  FrameHow how = FrameHow::Context;
  bool suspect = false;
  bool pcExact = true;           // frame 0 and frames interrupted by a signal
  bool signalTrampoline = false; // this frame is __restore_rt (gdb: "<signal handler called>")
};

struct UnwindOptions {
  size_t maxFrames = 4096;
  size_t scanWords = 1024;  // how far a stack scan may look, in 8-byte words
  bool pastMain = false;     // keep the C runtime's frames below main (gdb: backtrace past-main)
  // Polled between threads: true stops the work (a Python caller's Ctrl-C); the threads left
  // get no frames. It must stay true once it has said so.
  std::function<bool()> interrupted;
};

struct UnwindResult {
  std::vector<PhysicalFrame> frames;
  uint64_t threadPointer = 0;  // fs_base: where the thread's static TLS blocks end
  std::string stopReason;  // why the walk ended ("outermost", "pc 0", "depth limit", ...)
};

class Unwinder {
public:
  Unwinder(Target &target, Symbolizer &symbols, UnwindOptions opts = {});
  ~Unwinder();

  UnwindResult unwind(const Registers &regs);

private:
  bool step(PhysicalFrame &cur, PhysicalFrame &next, std::string &stop, size_t index);
  bool stepSignalFrame(const PhysicalFrame &cur, PhysicalFrame &next);
  enum class CfiStep {
    Stepped,    // `next` is the caller's frame
    NoCfi,      // no usable CFI row here: try the other strategies
    Outermost,  // the CFI says the return address is undefined: the outermost frame
  };
  // cfaOut is this frame's CFA when the result is not NoCfi.
  CfiStep stepCfi(const PhysicalFrame &cur, PhysicalFrame &next, uint64_t &cfaOut);
  bool stepBreakpadCfi(const PhysicalFrame &cur, PhysicalFrame &next, uint64_t &cfaOut);
  bool stepFramePointer(PhysicalFrame &cur, PhysicalFrame &next);
  bool stepScan(const PhysicalFrame &cur, PhysicalFrame &next);
  bool isCodeAddress(uint64_t addr) const;
  enum class ReturnAddress {
    AfterCall,   // the bytes before it are a call instruction
    Unverified,  // in a module's executable mapping, but its code is not at hand
    No,
  };
  ReturnAddress classifyReturnAddress(uint64_t addr);
  bool looksLikeReturnAddress(uint64_t addr);  // AfterCall
  CfiTable *cfiFor(const ModuleInfo &mod);

  Target &target_;
  Symbolizer &symbols_;
  UnwindOptions opts_;
  std::map<std::string, std::unique_ptr<CfiTable>> cfi_;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> owned_;  // inflated .debug_frame sections
};

}  // namespace bt
