// What every Target promises whatever its source, checked by the fuzz targets of the readers
// (core, minidump): regions and modules sorted, a read never returns more than asked; and a
// bounded tour of the reads an unwinder makes (thread stacks and PCs, region edges, module
// headers, the fault address, auxv lookups).
#pragma once

#include "fuzz_driver.h"
#include "target/target.h"

#include <algorithm>

namespace bt::fuzz {

inline void checkRead(Target &t, uint64_t addr, size_t len) {
  static char buf[4096];
  len = std::min(len, sizeof buf);
  if (t.readMemory(addr, buf, len) > len) invariantFailed("readMemory returned more than asked");
}

inline void exerciseTarget(Target &t) {
  for (size_t i = 1; i < t.regions().size(); ++i)
    if (t.regions()[i].start < t.regions()[i - 1].start) invariantFailed("regions unsorted");
  for (size_t i = 1; i < t.modules().size(); ++i)
    if (t.modules()[i].start < t.modules()[i - 1].start) invariantFailed("modules unsorted");
  size_t budget = 64;  // bounded work per input
  for (const ThreadInfo &th : t.threads()) {
    if (budget-- == 0) break;
    checkRead(t, th.regs.rsp, 512);
    checkRead(t, th.regs.rip, 16);
    (void)t.regionFor(th.regs.rsp);
    (void)t.moduleFor(th.regs.rip);
  }
  budget = 64;
  for (const MemoryRegion &r : t.regions()) {
    if (budget-- == 0) break;
    checkRead(t, r.start, 64);
    checkRead(t, r.end - 8, 64);  // across the end
  }
  budget = 64;
  for (const ModuleInfo &m : t.modules()) {
    if (budget-- == 0) break;
    checkRead(t, m.start, 64);
  }
  if (t.signal() && t.signal()->hasAddress) checkRead(t, t.signal()->address, 64);
  for (const auto &kv : t.auxv()) (void)t.auxvValue(kv.first);
}

}  // namespace bt::fuzz
