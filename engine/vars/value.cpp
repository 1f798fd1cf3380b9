#include "vars/value.h"

#include "support/error.h"
#include "support/hex.h"
#include "symbols/gdb_names.h"
#include "vars/dwarf_types.h"
#include "vars/value_printer.h"

#include <llvm/BinaryFormat/Dwarf.h>

#include <cstring>

namespace bt {

using namespace llvm;

namespace {
Error nullPointer(uint64_t size) {
  return make_error<MemoryError>(0, size, false, "Cannot access memory at address 0x0 (a null pointer)");
}
constexpr size_t kMaxTypes = 200000;       // per table: a hostile type graph ends here
constexpr unsigned kMaxDepth = 48;         // nesting while building
constexpr uint64_t kMaxRead = 16u << 20;   // one deref reads at most this much
constexpr uint64_t kMaxElements = 1u << 24;

}  // namespace

TypeInfo *TypeTable::make() {
  storage_.emplace_back();
  return &storage_.back();
}

const TypeInfo *TypeTable::fromDie(const DWARFDie &type, uint64_t moduleKey) {
  return build(type, moduleKey, 0);
}

const TypeInfo *TypeTable::build(const DWARFDie &t, uint64_t moduleKey, unsigned depth) {
  static const TypeInfo kVoid = [] {
    TypeInfo t;
    t.kind = TypeInfo::Kind::Void;
    t.name = "void";
    return t;
  }();
  static const TypeInfo kUnknown = [] {
    TypeInfo t;
    t.name = "?";
    return t;
  }();
  if (!t) return &kVoid;
  auto key = std::make_pair(moduleKey, t.getOffset());
  if (auto it = byDie_.find(key); it != byDie_.end()) return it->second;
  if (depth > kMaxDepth || storage_.size() >= kMaxTypes) return &kUnknown;
  TypeInfo *ti = make();
  byDie_[key] = ti;  // before the children: a type may refer to itself
  ti->moduleKey = moduleKey;
  ti->dieOffset = t.getOffset();
  ti->name = typeName(t);
  ti->size = typeSize(t);
  ti->rust = isRustUnit(t);
  switch (t.getTag()) {
    case dwarf::DW_TAG_base_type: {
      ti->kind = TypeInfo::Kind::Base;
      switch (attrU(t, dwarf::DW_AT_encoding, 0)) {
        case dwarf::DW_ATE_signed: ti->encoding = TypeInfo::Encoding::Signed; break;
        case dwarf::DW_ATE_unsigned: ti->encoding = TypeInfo::Encoding::Unsigned; break;
        case dwarf::DW_ATE_float: ti->encoding = TypeInfo::Encoding::Float; break;
        case dwarf::DW_ATE_boolean: ti->encoding = TypeInfo::Encoding::Bool; break;
        case dwarf::DW_ATE_signed_char: ti->encoding = TypeInfo::Encoding::SignedChar; break;
        case dwarf::DW_ATE_unsigned_char: ti->encoding = TypeInfo::Encoding::UnsignedChar; break;
        case dwarf::DW_ATE_UTF: ti->encoding = TypeInfo::Encoding::Utf; break;
        default: break;
      }
      break;
    }
    case dwarf::DW_TAG_typedef: case dwarf::DW_TAG_const_type: case dwarf::DW_TAG_volatile_type:
    case dwarf::DW_TAG_restrict_type: case dwarf::DW_TAG_atomic_type: {
      // A named alias: same structure as its target (resolveType follows `target`).
      const TypeInfo *target = build(typeOf(t), moduleKey, depth + 1);
      ti->kind = target->kind;
      ti->encoding = target->encoding;
      ti->target = target;
      ti->count = target->count;
      ti->size = ti->size ? ti->size : target->size;
      ti->name = typeName(t);
      ti->alias = true;  // fields and enumerators live in the resolved type
      break;
    }
    case dwarf::DW_TAG_pointer_type:
      ti->kind = TypeInfo::Kind::Pointer;
      ti->target = build(typeOf(t), moduleKey, depth + 1);
      if (const char *n = t.getShortName(); n && ti->name != n) ti->dwarfName = n;
      break;
    case dwarf::DW_TAG_reference_type:
      ti->kind = TypeInfo::Kind::Reference;
      ti->target = build(typeOf(t), moduleKey, depth + 1);
      if (const char *n = t.getShortName(); n && ti->name != n) ti->dwarfName = n;
      break;
    case dwarf::DW_TAG_rvalue_reference_type:
      ti->kind = TypeInfo::Kind::RValueReference;
      ti->target = build(typeOf(t), moduleKey, depth + 1);
      break;
    case dwarf::DW_TAG_ptr_to_member_type:
      ti->kind = TypeInfo::Kind::PointerToMember;
      break;
    case dwarf::DW_TAG_subroutine_type:
      ti->kind = TypeInfo::Kind::Function;
      break;
    case dwarf::DW_TAG_enumeration_type: {
      ti->kind = TypeInfo::Kind::Enum;
      ti->target = build(typeOf(t), moduleKey, depth + 1);
      bool isSigned = ti->target && ti->target->encoding == TypeInfo::Encoding::Signed;
      for (const DWARFDie &e : t.children()) {
        if (e.getTag() != dwarf::DW_TAG_enumerator || ti->enumerators.size() > 4096) continue;
        auto cv = e.find(dwarf::DW_AT_const_value);
        if (!cv) continue;
        int64_t v = isSigned ? cv->getAsSignedConstant().value_or(0)
                             : int64_t(cv->getAsUnsignedConstant().value_or(0));
        ti->enumerators.emplace_back(e.getShortName() ? e.getShortName() : "", v);
      }
      break;
    }
    case dwarf::DW_TAG_array_type: {
      // int a[2][3]: an array of 2 "int [3]" (one synthetic type per inner dimension).
      std::vector<std::optional<uint64_t>> dims;
      for (const DWARFDie &sr : t.children()) {
        if (sr.getTag() != dwarf::DW_TAG_subrange_type) continue;
        if (auto c = dwarf::toUnsigned(sr.find(dwarf::DW_AT_count))) dims.push_back(*c);
        else if (auto ub = dwarf::toUnsigned(sr.find(dwarf::DW_AT_upper_bound)))
          dims.push_back(*ub + 1 - attrU(sr, dwarf::DW_AT_lower_bound, 0));
        else dims.push_back(std::nullopt);
        if (dims.size() > 16) break;
      }
      if (dims.empty()) dims.push_back(std::nullopt);
      const TypeInfo *elem = build(typeOf(t), moduleKey, depth + 1);
      for (size_t i = dims.size(); i-- > 1;) {
        TypeInfo *inner = make();
        inner->kind = TypeInfo::Kind::Array;
        inner->target = elem;
        inner->count = dims[i];
        inner->size = dims[i] && elem->size ? *dims[i] * elem->size : 0;
        inner->name = elem->name + " [" + (dims[i] ? std::to_string(*dims[i]) : "") + "]";
        elem = inner;
      }
      ti->kind = TypeInfo::Kind::Array;
      ti->target = elem;
      ti->count = dims[0];
      break;
    }
    case dwarf::DW_TAG_structure_type: case dwarf::DW_TAG_class_type: case dwarf::DW_TAG_union_type: {
      ti->kind = t.getTag() == dwarf::DW_TAG_union_type ? TypeInfo::Kind::Union
                 : t.getTag() == dwarf::DW_TAG_class_type ? TypeInfo::Kind::Class
                                                          : TypeInfo::Kind::Struct;
      ti->declaration = bool(t.find(dwarf::DW_AT_declaration));
      for (const DWARFDie &a : templateArgs(t)) ti->templateArgs.push_back(build(a, moduleKey, depth + 1));
      for (const DWARFDie &m : t.children()) {
        if (m.getTag() == dwarf::DW_TAG_variant_part) {
          // A Rust enum (rustc writes one variant part, directly in the enum's struct).
          if (ti->hasVariants) ti->variantProblem = "more than one DW_TAG_variant_part";
          else buildVariants(ti, m, moduleKey, depth);
          continue;
        }
        bool base = m.getTag() == dwarf::DW_TAG_inheritance;
        if ((m.getTag() != dwarf::DW_TAG_member && !base) || m.find(dwarf::DW_AT_external) ||
            m.find(dwarf::DW_AT_declaration) || ti->fields.size() > 4096)
          continue;  // static members have no storage in the object
        TypeInfo::Field f;
        f.isBase = base;
        f.type = build(typeOf(m), moduleKey, depth + 1);
        f.name = base ? f.type->name : (m.getShortName() ? m.getShortName() : "");
        f.offset = attrU(m, dwarf::DW_AT_data_member_location, 0);
        if (auto bs = dwarf::toUnsigned(m.find(dwarf::DW_AT_bit_size))) {
          f.bitSize = uint32_t(*bs);
          if (auto dbo = dwarf::toUnsigned(m.find(dwarf::DW_AT_data_bit_offset))) {
            f.offset = *dbo / 8;
            f.bitOffset = uint32_t(*dbo % 8);
          } else if (auto bo = dwarf::toUnsigned(m.find(dwarf::DW_AT_bit_offset))) {
            // DWARF 2/3: bits from the most significant end of the storage unit.
            uint64_t unit = attrU(m, dwarf::DW_AT_byte_size, f.type->size) * 8;
            uint64_t lsb = unit - *bo - *bs;
            f.offset += lsb / 8;
            f.bitOffset = uint32_t(lsb % 8);
          }
        }
        ti->fields.push_back(std::move(f));
      }
      break;
    }
    default:
      ti->kind = TypeInfo::Kind::Unknown;
      break;
  }
  return ti;
}

const TypeInfo *TypeTable::complete(const TypeInfo *t) {
  if (!t || !t->declaration || !completer_) return t;
  auto [it, fresh] = completed_.try_emplace(t, t);
  if (fresh) {
    const TypeInfo *def = completer_(*t);
    if (def && !def->declaration) it->second = def;
  }
  return it->second;
}


void TypeTable::buildVariants(TypeInfo *ti, const DWARFDie &part, uint64_t moduleKey, unsigned depth) {
  ti->hasVariants = true;
  VariantPartLayout layout = readVariantPart(part, ti->size);
  ti->variantProblem = layout.problem;
  if (const DWARFDie &d = layout.discriminant) {
    TypeInfo::Field f;
    f.type = build(typeOf(d), moduleKey, depth + 1);
    f.name = d.getShortName() ? d.getShortName() : "";
    f.offset = layout.discrOffset;
    ti->discriminant = f;
  }
  for (VariantPartLayout::Variant &v : layout.variants) {
    TypeInfo::Variant var;
    var.discrValue = std::move(v.discrValue);
    if (const DWARFDie &m = v.member) {
      var.name = m.getShortName() ? m.getShortName() : "";
      var.offset = attrU(m, dwarf::DW_AT_data_member_location, 0);
      var.type = build(typeOf(m), moduleKey, depth + 1);
    }
    ti->variants.push_back(std::move(var));
  }
}

const TypeInfo *TypeTable::pointerTo(const TypeInfo *target) {
  if (auto it = pointers_.find(target); it != pointers_.end()) return it->second;
  TypeInfo *p = make();
  p->kind = TypeInfo::Kind::Pointer;
  p->size = 8;
  p->target = target;
  const std::string &n = target->name;
  if (size_t dims = n.find(" ["); resolveType(target)->kind == TypeInfo::Kind::Array && dims != std::string::npos)
    p->name = n.substr(0, dims) + " (*)" + n.substr(dims + 1);  // "int (*)[3]", as C and gdb write it
  else
    p->name = n + (!n.empty() && n.back() == '*' ? "*" : " *");
  pointers_[target] = p;
  return p;
}

const TypeInfo::Field *TypeInfo::findField(const std::string &n) const {
  for (const Field &f : fields)
    if (f.name == n || (f.isBase && "<" + f.name + ">" == n)) return &f;
  return nullptr;
}

const TypeInfo *resolveType(const TypeInfo *t) {
  // Deeper than any alias chain TypeTable builds (kMaxDepth).
  for (unsigned i = 0; t && t->alias && t->target && i <= kMaxDepth + 1; ++i) t = t->target;
  return t;
}

Error memoryError(const Target &t, uint64_t addr, uint64_t size) {
  // Mapped memory that cannot be read is memory the source did not keep (gdb says the same
  // "Cannot access memory" for both; a script wants to know which it is).
  std::string kind = t.kind();
  bool mapped = t.regionFor(addr) != nullptr;
  std::string msg = "Cannot access memory at address " + hexU64(addr);
  if (!mapped) msg += " (not mapped)";
  else if (kind == "live") msg += " (mapped, but unreadable)";
  else msg += " (mapped, but not captured in the " + (kind == "snapshot" ? kind : kind + " file") + ")";
  return make_error<MemoryError>(addr, size, mapped, std::move(msg));
}

void ValueSession::close() {
  std::lock_guard<std::mutex> lock(mu_);
  target_ = nullptr;
}

bool ValueSession::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return target_ != nullptr;
}

Expected<std::string> ValueSession::read(uint64_t addr, uint64_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!target_) return makeError(ErrorKind::Closed, "the target of this value is closed");
  if (len > kMaxRead) return makeError(ErrorKind::BadInput, "refusing to read {0} bytes at once", len);
  std::string buf(len, '\0');
  size_t n = len ? target_->readMemory(addr, buf.data(), len) : 0;
  if (n != len) return memoryError(*target_, addr + n, len - n);
  return buf;
}

const TypeInfo *Value::resolved() const { return resolveType(type_); }

Expected<uint64_t> Value::asUnsigned() const {
  const TypeInfo *t = resolved();
  bool scalar = t->kind == TypeInfo::Kind::Base || t->kind == TypeInfo::Kind::Enum ||
                t->kind == TypeInfo::Kind::Pointer || t->kind == TypeInfo::Kind::Reference ||
                t->kind == TypeInfo::Kind::RValueReference;
  if (!scalar || (t->kind == TypeInfo::Kind::Base && t->encoding == TypeInfo::Encoding::Float))
    return makeError(ErrorKind::Usage, "a {0} is not an integer", type_->name);
  if (bytes_.empty() || bytes_.size() > 8)
    return makeError(ErrorKind::Usage, "a {0} of {1} bytes is not an integer", type_->name, bytes_.size());
  uint64_t v = 0;
  memcpy(&v, bytes_.data(), bytes_.size());
  return v;
}

Expected<int64_t> Value::asSigned() const {
  Expected<uint64_t> u = asUnsigned();
  if (!u) return u.takeError();
  size_t n = bytes_.size();
  uint64_t v = *u;
  if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
  return int64_t(v);
}

Expected<double> Value::asDouble() const {
  const TypeInfo *t = resolved();
  if (t->kind == TypeInfo::Kind::Base && t->encoding == TypeInfo::Encoding::Float) {
    if (bytes_.size() == 4) {
      float f;
      memcpy(&f, bytes_.data(), 4);
      return double(f);
    }
    if (bytes_.size() == 8) {
      double d;
      memcpy(&d, bytes_.data(), 8);
      return d;
    }
    if (bytes_.size() >= 10) {
      long double ld = 0;
      memcpy(&ld, bytes_.data(), std::min(bytes_.size(), sizeof ld));
      return double(ld);
    }
  }
  if (t->kind == TypeInfo::Kind::Base || t->kind == TypeInfo::Kind::Enum) {
    bool isSigned = t->encoding == TypeInfo::Encoding::Signed || t->encoding == TypeInfo::Encoding::SignedChar;
    if (isSigned) {
      Expected<int64_t> s = asSigned();
      if (!s) return s.takeError();
      return double(*s);
    }
    Expected<uint64_t> u = asUnsigned();
    if (!u) return u.takeError();
    return double(*u);
  }
  return makeError(ErrorKind::Usage, "a {0} is not a number", type_->name);
}

std::string Value::enumeratorName() const {
  const TypeInfo *t = resolved();
  if (t->kind != TypeInfo::Kind::Enum) return {};
  Expected<int64_t> v = asSigned();
  if (!v) {
    consumeError(v.takeError());
    return {};
  }
  for (const auto &[name, ev] : t->enumerators)
    if (ev == *v || (bytes_.size() < 8 && uint64_t(ev) == (uint64_t(*v) & ((uint64_t(1) << (8 * bytes_.size())) - 1))))
      return name;
  return {};
}

Expected<std::optional<std::pair<std::string, Value>>> Value::variant() const {
  const TypeInfo *t = resolved();
  if (!t->hasVariants) return std::nullopt;
  if (!t->variantProblem.empty())
    return makeError(ErrorKind::BadInput, "cannot tell the variant of a {0}: {1}", type_->name, t->variantProblem);
  if (t->variants.empty())
    return makeError(ErrorKind::BadInput, "a {0} has no variants: no value can have this type", type_->name);
  const TypeInfo::Variant *active = nullptr;
  if (t->discriminant) {
    Expected<Value> d = member(*t->discriminant);
    if (!d) return d.takeError();
    const std::string &have = d->bytes();
    const TypeInfo::Variant *fallback = nullptr;
    for (const TypeInfo::Variant &v : t->variants) {
      if (!v.discrValue) fallback = &v;
      else if (*v.discrValue == have) {
        active = &v;
        break;
      }
    }
    if (!active) active = fallback;
    if (!active) {
      std::string shown;  // the discriminant as a number, most significant byte first
      for (size_t i = have.size(); i-- > 0;) {
        static const char kDigits[] = "0123456789abcdef";
        shown += kDigits[uint8_t(have[i]) >> 4];
        shown += kDigits[uint8_t(have[i]) & 15];
      }
      shown.erase(0, std::min(shown.find_first_not_of('0'), shown.size() - 1));
      return makeError(ErrorKind::BadInput, "corrupt {0}: its discriminant 0x{1} names none of its {2} variants",
                       type_->name, shown, t->variants.size());
    }
  } else if (t->variants.size() == 1) {
    active = &t->variants[0];
  } else {
    return makeError(ErrorKind::BadInput, "cannot tell the variant of a {0}: {1} variants and no discriminant",
                     type_->name, t->variants.size());
  }
  if (!active->type)
    return makeError(ErrorKind::BadInput, "the active variant of a {0} describes no member", type_->name);
  TypeInfo::Field f;
  f.name = active->name;
  f.offset = active->offset;
  f.type = active->type;
  Expected<Value> payload = member(f);
  if (!payload) return payload.takeError();
  return std::optional<std::pair<std::string, Value>>(std::in_place, active->name, std::move(*payload));
}

std::vector<std::string> Value::fieldNames() const {
  std::vector<std::string> out;
  for (const TypeInfo::Field &f : resolved()->fields) out.push_back(f.isBase ? "<" + f.name + ">" : f.name);
  return out;
}

Expected<Value> Value::member(const TypeInfo::Field &f) const {
  uint64_t size = f.type->size;
  if (f.bitSize) {
    // Extract the bits into a value of the field's type.
    uint64_t raw = 0;
    size_t have = f.offset < bytes_.size() ? std::min<size_t>(8, bytes_.size() - f.offset) : 0;
    memcpy(&raw, bytes_.data() + f.offset, have);
    uint64_t v = (raw >> f.bitOffset) & (f.bitSize >= 64 ? ~uint64_t(0) : ((uint64_t(1) << f.bitSize) - 1));
    const TypeInfo *rt = resolveType(f.type);
    if ((rt->encoding == TypeInfo::Encoding::Signed || rt->encoding == TypeInfo::Encoding::SignedChar) &&
        f.bitSize < 64 && ((v >> (f.bitSize - 1)) & 1))
      v |= ~uint64_t(0) << f.bitSize;
    std::string b(std::max<uint64_t>(size, 1), '\0');
    memcpy(b.data(), &v, std::min<size_t>(b.size(), 8));
    return Value(session_, f.type, std::move(b), std::nullopt);
  }
  if (f.offset > bytes_.size() || size > bytes_.size() - f.offset)  // no wrap-around
    return makeError(ErrorKind::BadInput, "member {0} lies outside the {1} bytes read", f.name, bytes_.size());
  return Value(session_, f.type, bytes_.substr(f.offset, size),
               address_ ? std::optional<uint64_t>(*address_ + f.offset) : std::nullopt);
}

Expected<Value> Value::field(const std::string &name) const { return fieldAt(name, 0); }

Expected<Value> Value::fieldAt(const std::string &name, unsigned depth) const {
  const TypeInfo *t = resolved();
  if (depth > kMaxDepth) return makeError(ErrorKind::BadInput, "{0}: members nested too deeply", type_->name);
  if (t->kind != TypeInfo::Kind::Struct && t->kind != TypeInfo::Kind::Class && t->kind != TypeInfo::Kind::Union)
    return makeError(ErrorKind::Usage, "a {0} has no fields", type_->name);
  if (const TypeInfo::Field *f = t->findField(name)) return member(*f);
  // Members of anonymous structs/unions are reachable by name, as in C, and those of base
  // classes, as in C++.
  for (const TypeInfo::Field &f : t->fields)
    if (f.name.empty() || f.isBase) {
      Expected<Value> anon = member(f);
      if (!anon) {
        consumeError(anon.takeError());
        continue;
      }
      Expected<Value> inner = anon->fieldAt(name, depth + 1);
      if (inner) return inner;
      consumeError(inner.takeError());
    }
  return makeError(ErrorKind::Usage, "{0} has no field named {1}", type_->name, name);
}

uint64_t Value::elementCount() const {
  const TypeInfo *t = resolved();
  if (t->kind != TypeInfo::Kind::Array || !t->count) return 0;
  return std::min<uint64_t>(*t->count, kMaxElements);
}

Expected<Value> Value::element(uint64_t index) const {
  const TypeInfo *t = resolved();
  if (t->kind != TypeInfo::Kind::Array) return makeError(ErrorKind::Usage, "a {0} is not an array", type_->name);
  if (t->count && index >= *t->count)
    return makeError(ErrorKind::Usage, "index {0} is out of bounds (the array has {1} elements)", index, *t->count);
  uint64_t es = t->target->size;
  if (!es) return makeError(ErrorKind::BadInput, "the elements of {0} have no size", type_->name);
  if (index > (UINT64_MAX - es) / es)
    return makeError(ErrorKind::BadInput, "element {0} lies beyond the address space", index);
  uint64_t off = index * es;
  if (off + es <= bytes_.size())
    return Value(session_, t->target, bytes_.substr(off, es),
                 address_ ? std::optional<uint64_t>(*address_ + off) : std::nullopt);
  if (!address_) return makeError(ErrorKind::BadInput, "element {0} was not read", index);
  Expected<std::string> b = session_->read(*address_ + off, es);
  if (!b) return b.takeError();
  return Value(session_, t->target, std::move(*b), *address_ + off);
}

Expected<Value> Value::deref() const {
  const TypeInfo *t = resolved();
  if (t->kind != TypeInfo::Kind::Pointer && t->kind != TypeInfo::Kind::Reference &&
      t->kind != TypeInfo::Kind::RValueReference)
    return makeError(ErrorKind::Usage, "a {0} is not a pointer", type_->name);
  Expected<uint64_t> p = asUnsigned();
  if (!p) return p.takeError();
  const TypeInfo *target = t->target;
  if (target && resolveType(target)->declaration) target = session_->types().complete(resolveType(target));
  if (*p == 0) return nullPointer(target ? target->size : 0);
  if (!target || resolveType(target)->kind == TypeInfo::Kind::Void || !target->size)
    return makeError(ErrorKind::Usage, "cannot dereference a {0}", type_->name);
  Expected<std::string> b = session_->read(*p, target->size);
  if (!b) return b.takeError();
  return Value(session_, target, std::move(*b), *p);
}

Expected<std::string> Value::cString(size_t maxLen) const {
  const TypeInfo *t = resolved();
  auto isChar = [](const TypeInfo *c) {
    c = resolveType(c);
    return c && c->kind == TypeInfo::Kind::Base && c->size == 1;
  };
  if (t->kind == TypeInfo::Kind::Array && isChar(t->target)) {
    std::string s = bytes_.substr(0, std::min(bytes_.size(), maxLen));
    return s.substr(0, s.find('\0'));
  }
  if (t->kind == TypeInfo::Kind::Pointer && isChar(t->target)) {
    Expected<uint64_t> p = asUnsigned();
    if (!p) return p.takeError();
    if (!*p) return nullPointer(1);
    std::string out;
    for (uint64_t at = *p; out.size() < maxLen;) {
      uint64_t chunk = std::min<uint64_t>(256 - (at % 256), maxLen - out.size());
      Expected<std::string> b = session_->read(at, chunk);
      if (!b) {
        if (out.empty()) return b.takeError();
        consumeError(b.takeError());
        break;
      }
      size_t z = b->find('\0');
      out += b->substr(0, z);
      if (z != std::string::npos) break;
      at += chunk;
    }
    return out;
  }
  return makeError(ErrorKind::Usage, "a {0} is not a string", type_->name);
}

Expected<Value> Value::at(std::shared_ptr<ValueSession> s, const TypeInfo *type, uint64_t address) {
  const TypeInfo *r = resolveType(type);
  if (r->kind == TypeInfo::Kind::Void || r->kind == TypeInfo::Kind::Function)
    return makeError(ErrorKind::Usage, "a {0} has no value to read", type->name);
  if (!type->size) return makeError(ErrorKind::Usage, "{0} has no size (an incomplete type?)", type->name);
  Expected<std::string> b = s->read(address, type->size);
  if (!b) return b.takeError();
  return Value(std::move(s), type, std::move(*b), address);
}

namespace {
bool isScalar(TypeInfo::Kind k) {
  return k == TypeInfo::Kind::Base || k == TypeInfo::Kind::Enum || k == TypeInfo::Kind::Pointer;
}
bool isFloat(const TypeInfo *t) { return t->kind == TypeInfo::Kind::Base && t->encoding == TypeInfo::Encoding::Float; }
}  // namespace

Expected<Value> Value::cast(const TypeInfo *to) const {
  const TypeInfo *from = resolved(), *dest = resolveType(to);
  if (!isScalar(dest->kind) || !dest->size || dest->size > 16)
    return makeError(ErrorKind::Usage, "cannot cast to {0}: only to integer, floating-point, enum and "
                     "pointer types (reinterpret() reads memory as another type)", to->name);
  // An array decays to a pointer to its first element, as in C.
  if (from->kind == TypeInfo::Kind::Array && dest->kind == TypeInfo::Kind::Pointer) {
    if (!address_) return makeError(ErrorKind::Usage, "this {0} has no address", type_->name);
    std::string b(8, '\0');
    memcpy(b.data(), &*address_, 8);
    return Value(session_, to, std::move(b), std::nullopt);
  }
  if (!isScalar(from->kind)) return makeError(ErrorKind::Usage, "cannot cast a {0} to {1}", type_->name, to->name);
  std::string out(dest->size, '\0');
  if (isFloat(dest)) {
    Expected<double> d = asDouble();
    if (!d) return d.takeError();
    if (dest->size == 4) {
      float f = float(*d);
      memcpy(out.data(), &f, 4);
    } else if (dest->size == 8) {
      memcpy(out.data(), &*d, 8);
    } else {
      long double ld = *d;
      memcpy(out.data(), &ld, std::min<size_t>(out.size(), sizeof ld));
    }
    return Value(session_, to, std::move(out), std::nullopt);
  }
  uint64_t bits;
  if (isFloat(from)) {
    Expected<double> d = asDouble();
    if (!d) return d.takeError();
    bits = *d < 0 ? uint64_t(int64_t(*d)) : uint64_t(*d);
  } else {
    bool isSigned = from->encoding == TypeInfo::Encoding::Signed || from->encoding == TypeInfo::Encoding::SignedChar ||
                    (from->kind == TypeInfo::Kind::Enum && from->target &&
                     resolveType(from->target)->encoding == TypeInfo::Encoding::Signed);
    if (isSigned) {
      Expected<int64_t> v = asSigned();
      if (!v) return v.takeError();
      bits = uint64_t(*v);
    } else {
      Expected<uint64_t> v = asUnsigned();
      if (!v) return v.takeError();
      bits = *v;
    }
  }
  if (dest->kind == TypeInfo::Kind::Base && dest->encoding == TypeInfo::Encoding::Bool) bits = bits != 0;
  memcpy(out.data(), &bits, std::min<size_t>(out.size(), 8));
  if (out.size() > 8 && int64_t(bits) < 0) memset(out.data() + 8, 0xff, out.size() - 8);
  return Value(session_, to, std::move(out), std::nullopt);
}

Expected<Value> Value::reinterpret(const TypeInfo *to) const {
  if (to->size && to->size <= bytes_.size())
    return Value(session_, to, bytes_.substr(0, to->size), address_);
  if (!address_) return makeError(ErrorKind::Usage, "this {0} has no address to read as {1}", type_->name, to->name);
  return at(session_, to, *address_);
}

Expected<Value> Value::pointerAdd(int64_t n) const {
  const TypeInfo *t = resolved();
  if (t->kind != TypeInfo::Kind::Pointer) return makeError(ErrorKind::Usage, "a {0} is not a pointer", type_->name);
  const TypeInfo *target = t->target ? resolveType(t->target) : nullptr;
  uint64_t step = !target || target->kind == TypeInfo::Kind::Void ? 1 : target->size;
  if (!step) return makeError(ErrorKind::Usage, "arithmetic on a pointer to an incomplete type ({0})", type_->name);
  Expected<uint64_t> p = asUnsigned();
  if (!p) return p.takeError();
  uint64_t v = *p + uint64_t(n) * step;  // wraps like the machine does
  std::string b(8, '\0');
  memcpy(b.data(), &v, 8);
  return Value(session_, type_, std::move(b), std::nullopt);
}

Expected<Value> Value::index(int64_t i) const {
  const TypeInfo *t = resolved();
  if (t->kind == TypeInfo::Kind::Array) {
    if (i < 0) return makeError(ErrorKind::Usage, "index {0} is out of bounds (negative)", i);
    return element(uint64_t(i));
  }
  if (t->kind != TypeInfo::Kind::Pointer)
    return makeError(ErrorKind::Usage, "a {0} is neither an array nor a pointer", type_->name);
  Expected<Value> p = pointerAdd(i);
  if (!p) return p.takeError();
  return p->deref();
}

Expected<Value> Value::addressOf() const {
  if (!address_) return makeError(ErrorKind::Usage, "this {0} is not in memory (a register or a computed value)", type_->name);
  std::string b(8, '\0');
  memcpy(b.data(), &*address_, 8);
  return Value(session_, session_->types().pointerTo(type_), std::move(b), std::nullopt);
}

}  // namespace bt
