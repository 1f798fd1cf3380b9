// Fuzz target for the Breakpad symbol file parser (engine/symbols/breakpad_symbols): parse on
// untrusted text and, when it is accepted, lookups, PUBLIC symbols and CFI rules at addresses
// around every function and CFI range it holds. Seeds: a built-in file with every record kind
// plus any .sym files given (CI gives the shared Breakpad test symbols). Driver: fuzz_driver.h.
#include "fuzz_driver.h"
#include "symbols/breakpad_symbols.h"

namespace {

const char kSeed[] =
    "MODULE Linux x86_64 BBA6FA10B8AAB33D00000000000000000 linux_inline\n"
    "INFO CODE_ID 10FAA6BBAAB83DB3\n"
    "FILE 0 linux_inline.cpp\nFILE 1 a.cpp\n"
    "INLINE_ORIGIN 0 bar()\nINLINE_ORIGIN 1 foo()\n"
    "FUNC 15b30 6cf 0 main\n"
    "INLINE 0 42 1 1 15b45 6b1\nINLINE 1 39 0 0 15b72 684 15d00 10\n"
    "15b30 15 41 0\n15b45 11 36 1\n"
    "FUNC m 16200 20 0 folded\n"
    "PUBLIC 15b00 0 _start\nPUBLIC m 16300 0 other\n"
    "STACK CFI INIT 15b30 6cf .cfa: $rsp 8 + .ra: .cfa -8 + ^\n"
    "STACK CFI 15b31 .cfa: $rsp 16 + $rbp: .cfa -16 + ^\n"
    "STACK WIN 4 15b30 6cf 0 0 0 0 0 0 1 $eip\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto s = bt::BreakpadSymbols::parse(llvm::StringRef(reinterpret_cast<const char *>(data), size));
  if (!s) {
    if (llvm::toString(s.takeError()).empty()) bt::fuzz::invariantFailed("empty error message");
    return 0;
  }
  // Probe addresses from the text's own hex-looking words: every function and range it names.
  uint64_t probes = 0, word = 0;
  bool inWord = false;
  for (size_t i = 0; i <= size && probes < 512; ++i) {
    int c = i < size ? data[i] : ' ';
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v >= 0) {
      word = word * 16 + uint64_t(v);
      inWord = true;
      continue;
    }
    if (!inWord) continue;
    for (uint64_t a : {word - 1, word, word + 1}) {
      auto chain = s->lookup(a);
      if (!chain.empty() && chain.back().inlined) bt::fuzz::invariantFailed("outermost frame is inlined");
      if (!chain.empty() != bool(s->functionStart(a))) bt::fuzz::invariantFailed("lookup and functionStart disagree");
      (void)s->publicSymbol(a);
      (void)s->cfiRules(a);
    }
    ++probes;
    word = 0;
    inWord = false;
  }
  return 0;
}

#ifndef BT_LIBFUZZER
int main(int argc, char **argv) {
  bt::fuzz::TargetInfo info;
  info.name = "breakpad_sym_fuzz";
  info.seeds = {bt::fuzz::Bytes(kSeed, sizeof kSeed - 1)};
  info.accepts = [](const bt::fuzz::Bytes &in) {
    auto s = bt::BreakpadSymbols::parse(in);
    if (s) return true;
    llvm::consumeError(s.takeError());
    return false;
  };
  return bt::fuzz::runDriver(argc, argv, info);
}
#endif
