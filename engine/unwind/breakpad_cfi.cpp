#include "unwind/breakpad_cfi.h"

#include "support/error.h"

#include <vector>

namespace bt {

llvm::Expected<uint64_t> evalBreakpadPostfix(llvm::StringRef expr, const std::map<std::string, uint64_t> &vars,
                                             const MemoryReader &read) {
  std::vector<uint64_t> stack;
  constexpr size_t kMaxStack = 64;
  llvm::StringRef rest = expr.trim();
  while (!rest.empty()) {
    auto [tok, tail] = rest.split(' ');
    rest = tail.ltrim();
    if (tok.empty()) continue;
    if (tok.size() == 1 && llvm::StringRef("+-*/%@").contains(tok[0])) {
      if (stack.size() < 2) return makeError(ErrorKind::BadInput, "CFI rule '{0}': '{1}' needs two operands", expr, tok);
      uint64_t b = stack.back();
      stack.pop_back();
      uint64_t &a = stack.back();
      switch (tok[0]) {
        case '+': a += b; break;
        case '-': a -= b; break;
        case '*': a *= b; break;
        case '/':
        case '%':
          if (b == 0) return makeError(ErrorKind::BadInput, "CFI rule '{0}': division by zero", expr);
          a = tok[0] == '/' ? uint64_t(int64_t(a) / int64_t(b)) : uint64_t(int64_t(a) % int64_t(b));
          break;
        case '@':  // align down to a power of two
          if (b == 0 || (b & (b - 1))) return makeError(ErrorKind::BadInput, "CFI rule '{0}': bad alignment", expr);
          a &= ~(b - 1);
          break;
      }
      continue;
    }
    if (tok == "^") {
      if (stack.empty()) return makeError(ErrorKind::BadInput, "CFI rule '{0}': '^' needs an operand", expr);
      uint64_t v = 0;
      if (!read || read(stack.back(), &v, 8) != 8)
        return makeError(ErrorKind::BadInput, "CFI rule '{0}': memory at {1:x} is unreadable", expr, stack.back());
      stack.back() = v;
      continue;
    }
    if (stack.size() >= kMaxStack) return makeError(ErrorKind::BadInput, "CFI rule '{0}': too deep", expr);
    int64_t n;
    uint64_t u;
    if (tok.starts_with("0x") && !tok.drop_front(2).getAsInteger(16, u)) {
      stack.push_back(u);
    } else if (!tok.getAsInteger(10, n)) {
      stack.push_back(uint64_t(n));
    } else if (auto it = vars.find(tok.str()); it != vars.end()) {
      stack.push_back(it->second);
    } else {
      return makeError(ErrorKind::BadInput, "CFI rule '{0}': '{1}' is not known here", expr, tok);
    }
  }
  if (stack.size() != 1)
    return makeError(ErrorKind::BadInput, "CFI rule '{0}' leaves {1} values, not one", expr, stack.size());
  return stack.back();
}

llvm::Expected<std::map<std::string, uint64_t>> applyBreakpadCfi(
    const std::map<std::string, std::string> &rules, const std::map<std::string, uint64_t> &callee,
    const MemoryReader &read) {
  auto cfaRule = rules.find(".cfa"), raRule = rules.find(".ra");
  if (cfaRule == rules.end() || raRule == rules.end())
    return makeError(ErrorKind::BadInput, "CFI rules without .cfa or .ra");
  auto cfa = evalBreakpadPostfix(cfaRule->second, callee, read);
  if (!cfa) return cfa.takeError();
  std::map<std::string, uint64_t> vars = callee;
  vars[".cfa"] = *cfa;
  std::map<std::string, uint64_t> caller;
  for (const auto &[reg, expr] : rules) {
    if (reg == ".cfa") continue;
    auto v = evalBreakpadPostfix(expr, vars, read);
    if (!v) return v.takeError();
    caller[reg == ".ra" ? "$rip" : reg] = *v;
  }
  caller["$rsp"] = *cfa;
  return caller;
}

}  // namespace bt
