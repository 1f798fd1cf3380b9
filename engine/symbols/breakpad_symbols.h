// BreakpadSymbols: one Breakpad text symbol file (`.sym`: what dump_syms writes and Breakpad and
// Crashpad symbol stores hold, NAME/DEBUGID/NAME.sym), parsed once into sorted tables so each
// lookup is a binary search: MODULE (os, arch, debug id, name), INFO CODE_ID, FILE, FUNC with its
// line records, INLINE and INLINE_ORIGIN (both the old and the new layout: with and without the
// origin's file / the call site's file), PUBLIC, and STACK CFI INIT / STACK CFI rules (postfix
// expressions per register, accumulated up to an address, for the unwinder). STACK WIN records
// (Windows) are skipped. Malformed lines are counted and skipped, never trusted; the file's size
// is bounded.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bt {

class BreakpadSymbols {
public:
  static constexpr uint64_t kMaxFileBytes = 1ull << 31;

  static llvm::Expected<BreakpadSymbols> parse(llvm::StringRef text);
  static llvm::Expected<BreakpadSymbols> load(const std::string &path);

  const std::string &os() const { return os_; }
  const std::string &arch() const { return arch_; }
  const std::string &debugId() const { return debugId_; }
  const std::string &name() const { return name_; }
  const std::string &codeId() const { return codeId_; }
  size_t malformedLines() const { return malformed_; }
  size_t functionCount() const { return funcs_.size(); }

  // One frame of what covers an address, innermost first: a function inlined there, then the
  // one it was inlined into, ..., then the FUNC itself (inlined == false).
  struct Location {
    std::string function;
    std::string file;  // "" when unknown
    uint32_t line = 0;
    bool inlined = false;
  };
  // The chain at a module-relative address; empty when no FUNC covers it (see publicSymbol).
  std::vector<Location> lookup(uint64_t address) const;
  // The FUNC covering `address`: its start, or nullopt.
  std::optional<uint64_t> functionStart(uint64_t address) const;
  // The PUBLIC symbol at or below `address` (name, its address), for addresses no FUNC covers.
  std::optional<std::pair<std::string, uint64_t>> publicSymbol(uint64_t address) const;

  // The CFI rules in force at `address`: the INIT record's, then each STACK CFI delta up to
  // `address`, as register name (".cfa", ".ra", "$rbx", ...) → postfix expression text.
  // nullopt when no STACK CFI INIT covers it.
  std::optional<std::map<std::string, std::string>> cfiRules(uint64_t address) const;

private:
  struct Line {
    uint64_t address, size;
    uint32_t line, file;
  };
  struct Inline {
    uint32_t depth, callLine, callFile, origin;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (address, size)
  };
  struct Func {
    uint64_t address, size;
    std::string name;
    std::vector<Line> lines;      // sorted by address
    std::vector<Inline> inlines;  // as listed
  };
  struct Public {
    uint64_t address;
    std::string name;
  };
  struct CfiInit {
    uint64_t address, size;
    std::string rules;
    std::vector<std::pair<uint64_t, std::string>> deltas;  // sorted by address
  };

  const Func *funcAt(uint64_t address) const;
  std::string fileName(uint32_t id) const;

  std::string os_, arch_, debugId_, name_, codeId_;
  std::map<uint32_t, std::string> files_;
  std::map<uint32_t, std::string> origins_;
  std::vector<Func> funcs_;     // sorted by address
  std::vector<Public> publics_; // sorted by address
  std::vector<CfiInit> cfi_;    // sorted by address
  size_t malformed_ = 0;
};

}  // namespace bt
