#include "unwind/dwarf_expr.h"

#include "support/byte_cursor.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <algorithm>

namespace bt {

using namespace llvm;

std::optional<uint64_t> ExprResult::scalar() const {
  if (!ok || pieces.size() != 1) return std::nullopt;
  const ExprPiece &p = pieces.front();
  if (p.kind == ExprPiece::Memory) return p.address;
  if (p.kind == ExprPiece::Value) return p.value;
  return std::nullopt;
}

namespace {

constexpr unsigned kMaxSteps = 10000;
constexpr size_t kMaxStack = 1024;
constexpr size_t kMaxPieces = 256;

ExprResult failure(std::string why) {
  ExprResult r;
  r.ok = false;
  r.error = std::move(why);
  return r;
}

std::string hexByte(uint8_t op) {
  char b[8];
  snprintf(b, sizeof b, "0x%02x", op);
  return b;
}

// The binary arithmetic and comparison operations on the two top entries (a below b); nullopt
// with a reason for a division by zero.
std::optional<uint64_t> binaryOp(uint8_t op, uint64_t a, uint64_t b, std::string &why) {
  switch (op) {
    case dwarf::DW_OP_and: return a & b;
    case dwarf::DW_OP_div:
      if (b == 0) break;
      // INT64_MIN / -1 overflows (the CPU traps): it is -a in two's complement.
      return int64_t(b) == -1 ? uint64_t(0) - a : uint64_t(int64_t(a) / int64_t(b));
    case dwarf::DW_OP_minus: return a - b;
    case dwarf::DW_OP_mod:
      if (b == 0) break;
      return a % b;
    case dwarf::DW_OP_mul: return a * b;
    case dwarf::DW_OP_or: return a | b;
    case dwarf::DW_OP_plus: return a + b;
    case dwarf::DW_OP_shl: return b >= 64 ? 0 : a << b;
    case dwarf::DW_OP_shr: return b >= 64 ? 0 : a >> b;
    case dwarf::DW_OP_shra: return b >= 64 ? uint64_t(int64_t(a) >> 63) : uint64_t(int64_t(a) >> b);
    case dwarf::DW_OP_xor: return a ^ b;
    case dwarf::DW_OP_eq: return a == b;
    case dwarf::DW_OP_ge: return int64_t(a) >= int64_t(b);
    case dwarf::DW_OP_gt: return int64_t(a) > int64_t(b);
    case dwarf::DW_OP_le: return int64_t(a) <= int64_t(b);
    case dwarf::DW_OP_lt: return int64_t(a) < int64_t(b);
    case dwarf::DW_OP_ne: return a != b;
  }
  why = "division by zero";
  return std::nullopt;
}

// The operations that rearrange or transform stack entries in place (dup, drop, over, pick,
// swap, rot, abs, neg, not); false on a stack underflow. `index` is DW_OP_pick's operand.
bool stackOp(uint8_t op, uint8_t index, std::vector<uint64_t> &st) {
  size_t n = st.size();
  switch (op) {
    case dwarf::DW_OP_dup: if (n < 1) return false; st.push_back(st.back()); return true;
    case dwarf::DW_OP_drop: if (n < 1) return false; st.pop_back(); return true;
    case dwarf::DW_OP_over: if (n < 2) return false; st.push_back(st[n - 2]); return true;
    case dwarf::DW_OP_pick: if (index >= n) return false; st.push_back(st[n - 1 - index]); return true;
    case dwarf::DW_OP_swap: if (n < 2) return false; std::swap(st[n - 1], st[n - 2]); return true;
    case dwarf::DW_OP_rot: if (n < 3) return false; std::rotate(st.end() - 3, st.end() - 1, st.end()); return true;
    case dwarf::DW_OP_abs: if (n < 1) return false; st.back() = int64_t(st.back()) < 0 ? -st.back() : st.back(); return true;
    case dwarf::DW_OP_neg: if (n < 1) return false; st.back() = -st.back(); return true;
    case dwarf::DW_OP_not: if (n < 1) return false; st.back() = ~st.back(); return true;
  }
  return false;
}

}  // namespace

ExprResult evaluateDwarfExpr(StringRef expr, const ExprEnv &env, std::optional<uint64_t> initial) {
  std::vector<uint64_t> st;
  if (initial) st.push_back(*initial);
  ExprResult res;
  // The location described by the operations since the last piece: by default the top of the
  // stack is an address; DW_OP_regN, stack_value, implicit_value change that.
  ExprPiece cur;
  bool curSet = false;
  Cursor c(expr);
  unsigned steps = 0;
  auto pop = [&](uint64_t &v) {
    if (st.empty()) return false;
    v = st.back();
    st.pop_back();
    return true;
  };
  auto reg = [&](int r) -> std::optional<uint64_t> { return env.reg ? env.reg(r) : std::nullopt; };
  auto regError = [&](int r) { return failure("register " + std::to_string(r) + " is not available"); };

  while (c.pos < c.size) {
    if (++steps > kMaxSteps) return failure("expression too long (loop?)");
    if (st.size() > kMaxStack) return failure("expression stack overflow");
    uint8_t op = c.get<uint8_t>();
    if (!c.ok) return failure("truncated expression");
    uint64_t a, b;
    if (op >= dwarf::DW_OP_lit0 && op <= dwarf::DW_OP_lit31) {
      st.push_back(op - dwarf::DW_OP_lit0);
      continue;
    }
    if (op >= dwarf::DW_OP_breg0 && op <= dwarf::DW_OP_breg31) {
      int64_t off = c.sleb();
      auto v = reg(op - dwarf::DW_OP_breg0);
      if (!v) return regError(op - dwarf::DW_OP_breg0);
      st.push_back(*v + off);
      continue;
    }
    if (op >= dwarf::DW_OP_reg0 && op <= dwarf::DW_OP_reg31) {
      cur = ExprPiece{};
      cur.kind = ExprPiece::Register;
      cur.reg = op - dwarf::DW_OP_reg0;
      curSet = true;
      continue;
    }
    switch (op) {
      case dwarf::DW_OP_addr: st.push_back(c.get<uint64_t>() + env.loadBias); break;
      case dwarf::DW_OP_addrx: case dwarf::DW_OP_GNU_addr_index:
      case dwarf::DW_OP_constx: case dwarf::DW_OP_GNU_const_index: {
        uint64_t idx = c.uleb();
        auto v = env.addrx ? env.addrx(idx) : std::nullopt;
        if (!v) return failure("no .debug_addr entry " + std::to_string(idx));
        bool isAddr = op == dwarf::DW_OP_addrx || op == dwarf::DW_OP_GNU_addr_index;
        st.push_back(*v + (isAddr ? env.loadBias : 0));
        break;
      }
      case dwarf::DW_OP_const8u: case dwarf::DW_OP_const8s: st.push_back(c.get<uint64_t>()); break;
      case dwarf::DW_OP_const1u: st.push_back(c.get<uint8_t>()); break;
      case dwarf::DW_OP_const1s: st.push_back(uint64_t(int64_t(c.get<int8_t>()))); break;
      case dwarf::DW_OP_const2u: st.push_back(c.get<uint16_t>()); break;
      case dwarf::DW_OP_const2s: st.push_back(uint64_t(int64_t(c.get<int16_t>()))); break;
      case dwarf::DW_OP_const4u: st.push_back(c.get<uint32_t>()); break;
      case dwarf::DW_OP_const4s: st.push_back(uint64_t(int64_t(c.get<int32_t>()))); break;
      case dwarf::DW_OP_constu: st.push_back(c.uleb()); break;
      case dwarf::DW_OP_consts: st.push_back(uint64_t(c.sleb())); break;
      case dwarf::DW_OP_dup: case dwarf::DW_OP_drop: case dwarf::DW_OP_over: case dwarf::DW_OP_pick:
      case dwarf::DW_OP_swap: case dwarf::DW_OP_rot: case dwarf::DW_OP_abs: case dwarf::DW_OP_neg:
      case dwarf::DW_OP_not:
        if (!stackOp(op, op == dwarf::DW_OP_pick ? c.get<uint8_t>() : 0, st))
          return failure("stack underflow");
        break;
      case dwarf::DW_OP_deref: case dwarf::DW_OP_deref_size: {
        unsigned n = op == dwarf::DW_OP_deref ? 8 : c.get<uint8_t>();
        if (!pop(a)) return failure("stack underflow");
        if (n == 0 || n > 8) return failure("bad DW_OP_deref_size");
        auto v = env.mem ? env.mem(a, n) : std::nullopt;
        if (!v) {
          char buf[64];
          snprintf(buf, sizeof buf, "Cannot access memory at address 0x%llx", (unsigned long long)a);
          return failure(buf);
        }
        st.push_back(*v);
        break;
      }
      case dwarf::DW_OP_plus_uconst: if (!pop(a)) return failure("stack underflow"); st.push_back(a + c.uleb()); break;
      case dwarf::DW_OP_and: case dwarf::DW_OP_div: case dwarf::DW_OP_minus: case dwarf::DW_OP_mod:
      case dwarf::DW_OP_mul: case dwarf::DW_OP_or: case dwarf::DW_OP_plus: case dwarf::DW_OP_shl:
      case dwarf::DW_OP_shr: case dwarf::DW_OP_shra: case dwarf::DW_OP_xor: case dwarf::DW_OP_eq:
      case dwarf::DW_OP_ge: case dwarf::DW_OP_gt: case dwarf::DW_OP_le: case dwarf::DW_OP_lt:
      case dwarf::DW_OP_ne: {
        if (!pop(b) || !pop(a)) return failure("stack underflow");
        std::string why;
        std::optional<uint64_t> r = binaryOp(op, a, b, why);
        if (!r) return failure(why);
        st.push_back(*r);
        break;
      }
      case dwarf::DW_OP_skip: case dwarf::DW_OP_bra: {
        int16_t off = c.get<int16_t>();
        bool jump = true;
        if (op == dwarf::DW_OP_bra) {
          if (!pop(a)) return failure("stack underflow");
          jump = a != 0;
        }
        if (jump) {
          int64_t target = int64_t(c.pos) + off;
          if (target < 0 || uint64_t(target) > c.size) return failure("branch out of the expression");
          c.pos = uint64_t(target);
        }
        break;
      }
      case dwarf::DW_OP_regx: {
        cur = ExprPiece{};
        cur.kind = ExprPiece::Register;
        cur.reg = int(c.uleb());
        curSet = true;
        break;
      }
      case dwarf::DW_OP_bregx: {
        int r = int(c.uleb());
        int64_t off = c.sleb();
        auto v = reg(r);
        if (!v) return regError(r);
        st.push_back(*v + off);
        break;
      }
      case dwarf::DW_OP_fbreg: {
        int64_t off = c.sleb();
        if (!env.frameBase) return failure("frame base not available");
        st.push_back(*env.frameBase + off);
        break;
      }
      case dwarf::DW_OP_call_frame_cfa:
        if (!env.cfa) return failure("CFA not available");
        st.push_back(*env.cfa);
        break;
      case dwarf::DW_OP_stack_value:
        if (st.empty()) return failure("stack underflow");
        cur = ExprPiece{};
        cur.kind = ExprPiece::Value;
        cur.value = st.back();
        curSet = true;
        break;
      case dwarf::DW_OP_implicit_value: {
        uint64_t n = c.uleb();
        StringRef bytes = c.bytes(n);
        if (!c.ok) return failure("truncated DW_OP_implicit_value");
        cur = ExprPiece{};
        cur.kind = ExprPiece::ImplicitValue;
        cur.bytes = bytes.str();
        curSet = true;
        break;
      }
      case dwarf::DW_OP_implicit_pointer: case 0xf2 /* DW_OP_GNU_implicit_pointer */: {
        uint32_t die = c.get<uint32_t>();  // 32-bit DWARF: a .debug_info offset
        int64_t off = c.sleb();
        cur = ExprPiece{};
        cur.kind = ExprPiece::ImplicitPointer;
        cur.dieOffset = die;
        cur.pointerOffset = off;
        curSet = true;
        break;
      }
      case dwarf::DW_OP_entry_value: case dwarf::DW_OP_GNU_entry_value: {
        uint64_t n = c.uleb();
        StringRef sub = c.bytes(n);
        if (!c.ok) return failure("truncated DW_OP_entry_value");
        auto v = env.entryValue ? env.entryValue(sub) : std::nullopt;
        if (!v) return failure("entry value not available");
        st.push_back(*v);
        break;
      }
      case dwarf::DW_OP_form_tls_address: case dwarf::DW_OP_GNU_push_tls_address: {
        if (!pop(a)) return failure("stack underflow");
        auto v = env.tls ? env.tls(a) : std::nullopt;
        if (!v) return failure("thread-local storage address not available");
        st.push_back(*v);
        break;
      }
      case dwarf::DW_OP_piece: case dwarf::DW_OP_bit_piece: {
        uint64_t size = c.uleb();
        uint64_t bits = op == dwarf::DW_OP_piece ? size * 8 : size;
        uint64_t bitOff = op == dwarf::DW_OP_bit_piece ? c.uleb() : 0;
        ExprPiece p;
        if (curSet) p = cur;
        else if (!st.empty()) { p.kind = ExprPiece::Memory; p.address = st.back(); }
        else p.kind = ExprPiece::Undefined;  // an empty piece: optimized out
        p.sizeBits = bits;
        p.bitOffset = bitOff;
        if (res.pieces.size() >= kMaxPieces) return failure("too many pieces");
        res.pieces.push_back(p);
        st.clear();
        curSet = false;
        break;
      }
      case dwarf::DW_OP_nop: break;
      case 0xfa:  // DW_OP_GNU_parameter_ref: a caller-supplied parameter value (entry value)
        return failure("entry value not available (DW_OP_GNU_parameter_ref)");
      default:
        return failure("unsupported DWARF operation " + hexByte(op));
    }
    if (!c.ok) return failure("truncated expression");
  }
  if (res.pieces.empty()) {
    if (curSet) res.pieces.push_back(cur);
    else if (!st.empty()) {
      ExprPiece p;
      p.kind = ExprPiece::Memory;
      p.address = st.back();
      res.pieces.push_back(p);
    }
  }
  res.ok = true;
  return res;
}

}  // namespace bt
