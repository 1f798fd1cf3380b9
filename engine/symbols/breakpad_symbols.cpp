#include "symbols/breakpad_symbols.h"

#include "support/error.h"

#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>

namespace bt {

using llvm::StringRef;

namespace {

std::vector<StringRef> split(StringRef line, size_t maxParts) {
  std::vector<StringRef> out;
  line = line.trim();
  while (!line.empty() && out.size() + 1 < maxParts) {
    auto [head, tail] = line.split(' ');
    out.push_back(head);
    line = tail.ltrim();
  }
  if (!line.empty()) out.push_back(line);  // the rest: a name may hold spaces
  return out;
}

bool hex(StringRef s, uint64_t &out) { return !s.empty() && !s.getAsInteger(16, out); }
bool dec(StringRef s, uint32_t &out) { return !s.empty() && !s.getAsInteger(10, out); }

// "reg: expr reg: expr": a token ending in ':' names the register the next tokens compute.
void applyRules(StringRef rules, std::map<std::string, std::string> &into) {
  std::string reg, expr;
  auto flush = [&] {
    if (!reg.empty()) into[reg] = expr;
    expr.clear();
  };
  for (StringRef tok : split(rules, SIZE_MAX)) {
    if (tok.ends_with(":")) {
      flush();
      reg = tok.drop_back().str();
    } else if (!reg.empty()) {
      if (!expr.empty()) expr += ' ';
      expr += tok.str();
    }
  }
  flush();
}

}  // namespace

llvm::Expected<BreakpadSymbols> BreakpadSymbols::load(const std::string &path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf) return makeError(ErrorKind::MissingFile, "cannot read {0}: {1}", path, buf.getError().message());
  if ((*buf)->getBufferSize() > kMaxFileBytes)
    return makeError(ErrorKind::BadInput, "{0}: a symbol file larger than 2 GiB is not read", path);
  auto syms = parse((*buf)->getBuffer());
  if (!syms) return makeError(ErrorKind::BadInput, "{0}: {1}", path, llvm::toString(syms.takeError()));
  return syms;
}

llvm::Expected<BreakpadSymbols> BreakpadSymbols::parse(StringRef text) {
  BreakpadSymbols s;
  if (text.size() > kMaxFileBytes)
    return makeError(ErrorKind::BadInput, "a symbol file larger than 2 GiB is not read");
  std::vector<std::pair<uint32_t, StringRef>> originLines;  // the layout is known only later
  bool oldInlines = false;
  bool first = true;
  while (!text.empty()) {
    auto [raw, rest] = text.split('\n');
    text = rest;
    StringRef line = raw.rtrim("\r");
    if (line.empty()) continue;
    if (first) {
      first = false;
      auto f = split(line, 5);
      if (f.size() < 5 || f[0] != "MODULE")
        return makeError(ErrorKind::BadInput, "not a Breakpad symbol file (no MODULE line first)");
      s.os_ = f[1].str(), s.arch_ = f[2].str(), s.debugId_ = f[3].str(), s.name_ = f[4].str();
      continue;
    }
    uint64_t a = 0, n = 0;
    if (isxdigit((unsigned char)line[0]) && !line.starts_with("FILE") && !line.starts_with("FUNC")) {
      // A line record of the last FUNC: address size line file.
      auto f = split(line, 4);
      Line l{};
      if (s.funcs_.empty() || f.size() != 4 || !hex(f[0], l.address) || !hex(f[1], l.size) ||
          !dec(f[2], l.line) || !dec(f[3], l.file)) {
        ++s.malformed_;
        continue;
      }
      s.funcs_.back().lines.push_back(l);
      continue;
    }
    auto [kw, args] = line.split(' ');
    if (kw == "FILE") {
      auto f = split(args, 2);
      uint32_t id;
      if (f.size() == 2 && dec(f[0], id)) s.files_[id] = f[1].str();
      else ++s.malformed_;
    } else if (kw == "INFO") {
      auto f = split(args, 3);
      if (f.size() >= 2 && f[0] == "CODE_ID") s.codeId_ = f[1].lower();
    } else if (kw == "INLINE_ORIGIN") {
      auto f = split(args, 2);
      uint32_t id;
      if (f.size() == 2 && dec(f[0], id)) originLines.emplace_back(id, f[1]);
      else ++s.malformed_;
    } else if (kw == "FUNC" || kw == "PUBLIC") {
      bool func = kw == "FUNC";
      StringRef body = args.ltrim();
      if (body.starts_with("m ")) body = body.drop_front(2).ltrim();  // multiple: same code folded
      auto f = split(body, func ? 4 : 3);
      bool ok = f.size() == (func ? 4u : 3u) && hex(f[0], a) && (!func || hex(f[1], n));
      if (!ok) {
        ++s.malformed_;
        continue;
      }
      if (func) s.funcs_.push_back(Func{a, n, f[3].str(), {}, {}});
      else s.publics_.push_back(Public{a, f[2].str()});
    } else if (kw == "INLINE") {
      // depth callLine [callFile] origin (address size)+: the parity of the count tells the layout.
      auto f = split(args, SIZE_MAX);
      bool isOld = f.size() % 2 == 1;
      size_t fixed = isOld ? 3 : 4;
      Inline in{};
      bool ok = !s.funcs_.empty() && f.size() >= fixed + 2 && dec(f[0], in.depth) && dec(f[1], in.callLine) &&
                (isOld || dec(f[2], in.callFile)) && dec(f[fixed - 1], in.origin);
      for (size_t i = fixed; ok && i + 1 < f.size(); i += 2) {
        ok = hex(f[i], a) && hex(f[i + 1], n);
        in.ranges.emplace_back(a, n);
      }
      if (!ok) {
        ++s.malformed_;
        continue;
      }
      if (isOld) in.callFile = UINT32_MAX, oldInlines = true;
      s.funcs_.back().inlines.push_back(std::move(in));
    } else if (kw == "STACK") {
      auto [kind, body] = args.split(' ');
      if (kind != "CFI") continue;  // STACK WIN: Windows
      if (body.starts_with("INIT ")) {
        auto f = split(body.drop_front(5), 3);
        if (f.size() == 3 && hex(f[0], a) && hex(f[1], n)) s.cfi_.push_back(CfiInit{a, n, f[2].str(), {}});
        else ++s.malformed_;
      } else {
        auto f = split(body, 2);
        if (f.size() == 2 && hex(f[0], a) && !s.cfi_.empty()) s.cfi_.back().deltas.emplace_back(a, f[1].str());
        else ++s.malformed_;
      }
    } else {
      ++s.malformed_;
    }
  }
  if (first) return makeError(ErrorKind::BadInput, "an empty symbol file");
  // The old layout names the origin's file before its name: "INLINE_ORIGIN id file name".
  for (auto [id, rest] : originLines) {
    if (oldInlines) {
      auto [fileId, name] = rest.split(' ');
      uint32_t unused;
      if (dec(fileId, unused) && !name.empty()) rest = name.ltrim();
    }
    s.origins_[id] = rest.str();
  }
  auto byAddress = [](const auto &x, const auto &y) { return x.address < y.address; };
  std::stable_sort(s.funcs_.begin(), s.funcs_.end(), byAddress);
  for (Func &f : s.funcs_) std::stable_sort(f.lines.begin(), f.lines.end(), byAddress);
  std::stable_sort(s.publics_.begin(), s.publics_.end(), byAddress);
  std::stable_sort(s.cfi_.begin(), s.cfi_.end(), byAddress);
  for (CfiInit &c : s.cfi_)
    std::stable_sort(c.deltas.begin(), c.deltas.end(),
                     [](const auto &x, const auto &y) { return x.first < y.first; });
  return s;
}

const BreakpadSymbols::Func *BreakpadSymbols::funcAt(uint64_t address) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), address,
                             [](uint64_t a, const Func &f) { return a < f.address; });
  if (it == funcs_.begin()) return nullptr;
  const Func &f = *std::prev(it);
  return address - f.address < std::max<uint64_t>(f.size, 1) ? &f : nullptr;
}

std::string BreakpadSymbols::fileName(uint32_t id) const {
  auto it = files_.find(id);
  return it == files_.end() ? "" : it->second;
}

std::optional<uint64_t> BreakpadSymbols::functionStart(uint64_t address) const {
  const Func *f = funcAt(address);
  return f ? std::optional<uint64_t>(f->address) : std::nullopt;
}

std::vector<BreakpadSymbols::Location> BreakpadSymbols::lookup(uint64_t address) const {
  std::vector<Location> out;
  const Func *f = funcAt(address);
  if (!f) return out;
  // The inlined calls covering the address, outermost (depth 0) first.
  std::vector<const Inline *> ins;
  for (const Inline &in : f->inlines)
    for (auto [a, n] : in.ranges)
      if (address >= a && address - a < n) {
        ins.push_back(&in);
        break;
      }
  std::stable_sort(ins.begin(), ins.end(), [](const Inline *x, const Inline *y) { return x->depth < y->depth; });
  auto originName = [&](uint32_t id) {
    auto it = origins_.find(id);
    return it == origins_.end() ? std::string("<unknown inline>") : it->second;
  };
  Location inner;
  inner.function = ins.empty() ? f->name : originName(ins.back()->origin);
  inner.inlined = !ins.empty();
  auto l = std::upper_bound(f->lines.begin(), f->lines.end(), address,
                            [](uint64_t a, const Line &x) { return a < x.address; });
  if (l != f->lines.begin() && address - std::prev(l)->address < std::max<uint64_t>(std::prev(l)->size, 1)) {
    inner.file = fileName(std::prev(l)->file);
    inner.line = std::prev(l)->line;
  }
  out.push_back(inner);
  // Each inlined call's site is a location in the function it was inlined into.
  for (size_t k = ins.size(); k-- > 0;) {
    Location caller;
    caller.function = k > 0 ? originName(ins[k - 1]->origin) : f->name;
    caller.inlined = k > 0;
    caller.line = ins[k]->callLine;
    caller.file = ins[k]->callFile == UINT32_MAX ? inner.file : fileName(ins[k]->callFile);
    out.push_back(caller);
  }
  return out;
}

std::optional<std::pair<std::string, uint64_t>> BreakpadSymbols::publicSymbol(uint64_t address) const {
  auto it = std::upper_bound(publics_.begin(), publics_.end(), address,
                             [](uint64_t a, const Public &p) { return a < p.address; });
  if (it == publics_.begin()) return std::nullopt;
  --it;
  return std::make_pair(it->name, it->address);
}

std::optional<std::map<std::string, std::string>> BreakpadSymbols::cfiRules(uint64_t address) const {
  auto it = std::upper_bound(cfi_.begin(), cfi_.end(), address,
                             [](uint64_t a, const CfiInit &c) { return a < c.address; });
  if (it == cfi_.begin()) return std::nullopt;
  const CfiInit &c = *std::prev(it);
  if (address - c.address >= c.size) return std::nullopt;
  std::map<std::string, std::string> rules;
  applyRules(c.rules, rules);
  for (const auto &[at, delta] : c.deltas) {
    if (at > address) break;
    applyRules(delta, rules);
  }
  return rules;
}

}  // namespace bt
