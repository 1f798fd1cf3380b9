#include "analysis/highlight.h"

#include "support/hex.h"

#include <llvm/ADT/StringRef.h>

#include <optional>

namespace bt {

namespace {

constexpr uint64_t kObjectReach = 64 * 1024;  // a field offset larger than this is not "inside"

std::optional<uint64_t> fact(const Classification &c, llvm::StringRef name) {
  for (const auto &[k, v] : c.evidence)
    if (k == name) {
      llvm::StringRef text = v;
      if (size_t eq = text.find("= "); eq != llvm::StringRef::npos) text = text.drop_front(eq + 2);
      return pointerInText(text);
    }
  return std::nullopt;
}

std::string registerName(const Classification &c) {
  for (const auto &[k, v] : c.evidence)
    if (k == "base_register") return llvm::StringRef(v).split(' ').first.str();
  return {};
}

bool isPointer(const Variable &v) {
  llvm::StringRef t = v.type;
  // `void *volatile p` is written "void * volatile"
  while (t.consume_back(" const") || t.consume_back(" volatile") || t.consume_back(" restrict")) {
  }
  return t.ends_with("*") || t.contains("(*)");
}

}  // namespace

std::optional<uint64_t> pointerInText(llvm::StringRef s) {
  s = s.trim();
  size_t n = s.starts_with("0x") ? 2 : 0;
  while (n && n < s.size() && llvm::isHexDigit(s[n])) ++n;
  uint64_t v = 0;
  if (!parseHexU64(s.take_front(n), v)) return std::nullopt;
  return v;
}

void highlightVariables(std::vector<ThreadBacktrace> &backtraces, const Classification &fault) {
  ThreadBacktrace *t = nullptr;
  for (ThreadBacktrace &b : backtraces)
    if (b.crashed) t = &b;
  if (!t || t->frames.empty()) return;
  std::optional<uint64_t> address = fact(fault, "fault_address");
  std::optional<uint64_t> base = fact(fault, "base_register");
  std::optional<uint64_t> pc = fact(fault, "pc");
  bool badCall = fault.kind == "call-to-null" || fault.kind == "jump-to-null" ||
                 fault.kind == "jump-to-unmapped" || fault.kind == "execute-non-executable";
  // The faulting frame and its inline chain; after a call to a bad address the pc is in no
  // function and the caller's frame holds the pointer.
  size_t first = 0;
  // After a call to a bad address, or a fault inside a function without variables (memcpy,
  // strcpy, free in the C library: the function-call rules blame an argument), the caller's
  // frame holds the pointer.
  std::string libraryFunction;
  for (const auto &[k, v] : fault.evidence)
    if (k == "in_function") libraryFunction = v;
  bool inLibrary = !libraryFunction.empty();
  if (badCall || inLibrary) {
    while (first < t->frames.size() && t->frames[first].pc == t->frames.front().pc) ++first;
    if (first == t->frames.size()) return;
  }
  uint64_t physicalPc = t->frames[first].pc;
  for (size_t i = first; i < t->frames.size() && t->frames[i].pc == physicalPc; ++i) {
    Frame &f = t->frames[i];
    for (Variable &v : f.variables) {
      if (v.optimizedOut || v.error || !isPointer(v)) continue;
      std::optional<uint64_t> value = pointerInText(v.value);
      if (!value) continue;
      std::string why;
      if (badCall && pc && *value == *pc) {
        why = "the program called through it";
      } else if (!badCall && address && *value == *address) {
        why = "its value is the fault address";
      } else if (!badCall && base && *value == *base) {
        why = inLibrary ? "it is the bad argument " + libraryFunction + " was given"
                        : "the faulting access's base register (" + registerName(fault) + ") holds it";
      } else if (!badCall && address && *address >= *value && *address - *value < kObjectReach &&
                 (*value != 0 || *address < kObjectReach)) {
        why = "the fault address is " + std::to_string(*address - *value) +
              " bytes into what it points at";
      }
      if (why.empty()) continue;
      v.highlighted = why;
    }
  }
}

std::vector<HighlightedVariable> highlightedVariables(const std::vector<ThreadBacktrace> &backtraces) {
  std::vector<HighlightedVariable> out;
  for (const ThreadBacktrace &t : backtraces)
    if (t.crashed)
      for (const Frame &f : t.frames)
        for (const Variable &v : f.variables)
          if (!v.highlighted.empty()) out.push_back({&f, &v});
  return out;
}

}  // namespace bt
