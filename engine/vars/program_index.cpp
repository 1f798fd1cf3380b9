#include "vars/program_index.h"

#include "support/error.h"
#include "symbols/gdb_names.h"
#include "vars/dwarf_types.h"
#include "vars/type_names.h"

#include <llvm/BinaryFormat/Dwarf.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFUnit.h>

#include <algorithm>

namespace bt {

using namespace llvm;

namespace {

constexpr unsigned kMaxNesting = 64;          // DIE tree depth the index walk follows
constexpr size_t kMaxEntries = 8u << 20;      // names one module may add (hostile DWARF)

bool isInlineNamespace(const DWARFDie &ns) {
  if (ns.find(dwarf::DW_AT_export_symbols)) return true;
  const char *n = ns.getShortName();
  return n && (StringRef(n) == "__cxx11" || StringRef(n) == "__1");
}

// "ns::Class::" for the scope holding a DIE declared under `parent` (functions included, for
// their statics; lexical blocks and anonymous namespaces add nothing). `withInline`: keep
// inline namespaces (std::__cxx11), as the DWARF spells the name; without, as people write it.
std::string scopePrefix(DWARFDie parent, bool withInline) {
  std::vector<std::string> parts;
  for (unsigned i = 0; parent && i < kMaxNesting; ++i) {
    dwarf::Tag tag = parent.getTag();
    if (tag == dwarf::DW_TAG_compile_unit || tag == dwarf::DW_TAG_partial_unit ||
        tag == dwarf::DW_TAG_type_unit)
      break;
    DWARFDie decl = parent;
    if (tag == dwarf::DW_TAG_subprogram) decl = declarationOf(parent);
    bool skip = tag == dwarf::DW_TAG_lexical_block ||
                (tag == dwarf::DW_TAG_namespace && !withInline && isInlineNamespace(parent));
    if (!skip)
      if (const char *n = decl.getShortName()) parts.push_back(n);
    parent = decl.getParent();
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += *it + "::";
  return out;
}

// The DIE's location is an address (or a TLS offset): static storage, not a frame's local.
bool hasStaticLocation(const DWARFDie &d) {
  auto loc = d.find(dwarf::DW_AT_location);
  if (!loc) return false;
  auto block = loc->getAsBlock();
  if (!block || block->empty()) return false;
  uint8_t first = (*block)[0], last = block->back();
  return first == dwarf::DW_OP_addr || first == dwarf::DW_OP_addrx || first == dwarf::DW_OP_GNU_addr_index ||
         last == dwarf::DW_OP_form_tls_address || last == dwarf::DW_OP_GNU_push_tls_address;
}

bool isTypeTag(dwarf::Tag t) {
  return t == dwarf::DW_TAG_structure_type || t == dwarf::DW_TAG_class_type ||
         t == dwarf::DW_TAG_union_type || t == dwarf::DW_TAG_enumeration_type ||
         t == dwarf::DW_TAG_typedef || t == dwarf::DW_TAG_base_type;
}

std::string trim(StringRef s) { return s.trim(" \t").str(); }

bool endsWithPath(const std::string &path, const std::string &suffix) {
  if (suffix.empty()) return true;
  if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  return path.size() == suffix.size() || suffix[0] == '/' || path[path.size() - suffix.size() - 1] == '/';
}

// The spellings compilers give C's integer types (gcc: "long unsigned int", clang: "unsigned long").
std::vector<std::string> baseTypeSpellings(const std::string &name) {
  static const std::vector<std::vector<std::string>> kSame = {
      {"unsigned", "unsigned int"},
      {"signed", "int", "signed int"},
      {"long", "long int", "signed long", "long signed int"},
      {"unsigned long", "long unsigned int", "unsigned long int"},
      {"short", "short int", "signed short"},
      {"unsigned short", "short unsigned int", "unsigned short int"},
      {"long long", "long long int", "signed long long"},
      {"unsigned long long", "long long unsigned int", "unsigned long long int"},
      {"_Bool", "bool"},
  };
  for (const auto &group : kSame)
    if (std::find(group.begin(), group.end(), name) != group.end()) return group;
  return {name};
}

}  // namespace

ProgramIndex::ProgramIndex(Target &target, Symbolizer &symbols, std::shared_ptr<ValueSession> values)
    : target_(target), symbols_(symbols), values_(std::move(values)), reader_(target, symbols) {
  reader_.keepValues(values_);
  // Opaque structs (a unit that only declares them) are completed from the name index.
  values_->types().setCompleter([this](const TypeInfo &t) -> const TypeInfo * {
    Expected<const TypeInfo *> def = type(t.name);
    if (!def) {
      consumeError(def.takeError());
      return nullptr;
    }
    return *def;
  });
}

ProgramIndex::~ProgramIndex() { values_->types().setCompleter(nullptr); }

std::vector<const ModuleInfo *> ProgramIndex::modulesInOrder() const {
  return target_.modulesExecutableFirst();
}

ProgramIndex::ModuleIndex *ProgramIndex::indexOf(const ModuleInfo &mod) {
  auto &slot = indexes_[mod.start];
  if (slot) return slot.get();
  slot = std::make_unique<ModuleIndex>();
  slot->mod = &mod;
  slot->symbols = symbols_.forModule(mod);
  if (slot->symbols->hasDwarf())
    slot->symbols->withLookupDwarf([&](DWARFContext &ctx) { build(*slot, ctx); });
  return slot.get();
}

void ProgramIndex::build(ModuleIndex &mi, DWARFContext &ctx) {
  size_t entries = 0;
  for (const auto &unit : ctx.compile_units()) {
    if (!mi.symbols->unitShapeOk(unit->getOffset())) continue;  // before LLVM parses its DIEs
    DWARFDie cu = unit->getUnitDIE(false);
    if (!cu) continue;
    std::string file = cu.getShortName() ? cu.getShortName() : "";
    struct Item {
      DWARFDie die;
      unsigned depth;
      bool inFunction;  // below a subprogram: only variables with an address are static
    };
    std::vector<Item> stack;
    for (const DWARFDie &c : cu.children()) stack.push_back({c, 1, false});
    while (!stack.empty() && entries < kMaxEntries) {
      auto [d, depth, inFunction] = stack.back();
      stack.pop_back();
      dwarf::Tag tag = d.getTag();
      if (tag == dwarf::DW_TAG_variable) {
        bool isStatic = inFunction ? hasStaticLocation(d)
                                   : (d.find(dwarf::DW_AT_location) || d.find(dwarf::DW_AT_const_value));
        const char *name = d.getShortName();
        if (isStatic && name) {
          DWARFDie decl = declarationOf(d);
          int rank = inFunction ? 2 : d.findRecursively({dwarf::DW_AT_external}) ? 0 : 1;
          Entry e{d.getOffset(), rank, file};
          std::string qualified = scopePrefix(decl.getParent(), true) + name;
          std::string plain = scopePrefix(decl.getParent(), false) + name;
          mi.variables[qualified].push_back(e);
          if (plain != qualified) mi.variables[plain].push_back(e);
          if (qualified != name) mi.variables[name].push_back(e);
          entries += 3;
        }
        continue;
      }
      if (isTypeTag(tag) && d.getShortName() && !d.find(dwarf::DW_AT_declaration)) {
        std::string name = d.getShortName();
        mi.types.emplace(scopePrefix(d.getParent(), true) + name, d.getOffset());
        mi.types.emplace(scopePrefix(d.getParent(), false) + name, d.getOffset());
        entries += 2;
      }
      bool descend = tag == dwarf::DW_TAG_namespace || tag == dwarf::DW_TAG_structure_type ||
                     tag == dwarf::DW_TAG_class_type || tag == dwarf::DW_TAG_union_type ||
                     tag == dwarf::DW_TAG_subprogram || tag == dwarf::DW_TAG_lexical_block;
      if (descend && depth < kMaxNesting) {
        bool below = inFunction || tag == dwarf::DW_TAG_subprogram;
        for (const DWARFDie &c : d.children()) stack.push_back({c, depth + 1, below});
      }
    }
  }
}

uint64_t ProgramIndex::threadPointerOf(int tid) const {
  const std::vector<ThreadInfo> &threads = target_.threads();
  if (tid == 0) tid = target_.crashedTid().value_or(threads.empty() ? 0 : threads.front().tid);
  for (const ThreadInfo &t : threads)
    if (t.tid == tid) return t.regs.fs_base;
  return 0;
}

std::optional<uint64_t> ProgramIndex::tlsBlock(const ModuleInfo &mod, uint64_t tp) {
  if (!tlsOffsets_) {
    tlsOffsets_.emplace();
    const ModuleInfo *ld = nullptr;
    for (const ModuleInfo &m : target_.modules())
      if (StringRef(m.path).rsplit('/').second.starts_with("ld-linux")) ld = &m;
    const TypeInfo *linkMap = ld ? namedTypeIn(*ld, "link_map") : nullptr;
    const TypeInfo::Field *addr = linkMap ? linkMap->findField("l_addr") : nullptr;
    const TypeInfo::Field *next = linkMap ? linkMap->findField("l_next") : nullptr;
    const TypeInfo::Field *offset = linkMap ? linkMap->findField("l_tls_offset") : nullptr;
    uint64_t rDebug = ld ? symbols_.forModule(*ld)->objectAddress("_r_debug") : 0;
    auto word = [&](uint64_t at) {
      uint64_t w = 0;
      return target_.readMemory(at, &w, 8) == 8 ? w : 0;
    };
    // struct r_debug {int r_version; struct link_map *r_map; ...}: the public, stable ABI.
    uint64_t lm = addr && next && offset && rDebug ? word(rDebug + ld->loadBias + 8) : 0;
    for (int i = 0; lm && i < 4096; ++i, lm = word(lm + next->offset))
      (*tlsOffsets_)[word(lm + addr->offset)] = int64_t(word(lm + offset->offset));
  }
  auto it = tlsOffsets_->find(mod.loadBias);
  // 0: no TLS; -1 (glibc's FORCED_DYNAMIC_TLS_OFFSET) and below: in dynamic TLS, not here.
  if (it == tlsOffsets_->end() || it->second <= 0) return std::nullopt;
  return tp - uint64_t(it->second);
}

Expected<Variable> ProgramIndex::variable(const std::string &name, const std::string &file, int tid) {
  Expected<StaticVariable> v = readVariable(name, file, tid);
  if (!v) return v.takeError();
  // Memory the source does not hold is a MemoryError (where, and whether it is mapped but not
  // captured), not only an "<error: ...>" text: the reader keeps the address of a variable whose
  // bytes could not be read.
  if (v->error && v->address) return memoryError(target_, *v->address, v->size);
  return Variable(std::move(*v));
}

Expected<ProgramIndex::StaticVariable> ProgramIndex::readVariable(const std::string &rawName, const std::string &file, int tid) {
  std::string name = trim(rawName);
  if (StringRef(name).starts_with("::")) name = name.substr(2);
  if (tid && std::none_of(target_.threads().begin(), target_.threads().end(),
                          [&](const ThreadInfo &t) { return t.tid == tid; }))
    return makeError(ErrorKind::NotFound, "no thread {0}", tid);
  for (const ModuleInfo *mod : modulesInOrder()) {
    ModuleIndex *mi = indexOf(*mod);
    auto it = mi->variables.find(name);
    if (it == mi->variables.end()) continue;
    const Entry *best = nullptr;
    for (const Entry &e : it->second)
      if (endsWithPath(e.file, file) && (!best || e.rank < best->rank)) best = &e;
    if (!best) continue;
    std::optional<Variable> v;
    uint64_t tp = threadPointerOf(tid), size = 0;
    std::function<std::optional<uint64_t>(uint64_t)> tls;
    if (!mod->isMainExecutable && tp)
      if (std::optional<uint64_t> block = tlsBlock(*mod, tp))
        tls = [b = *block](uint64_t offset) -> std::optional<uint64_t> { return b + offset; };
    mi->symbols->withLookupDwarf([&](DWARFContext &ctx) {
      if (DWARFDie d = ctx.getDIEForOffset(best->die)) {
        v = reader_.readStaticVariable(d, *mod, tp, tls);
        if (auto t = d.findRecursively({dwarf::DW_AT_type})) size = typeSize(d.getAttributeValueAsReferencedDie(*t));
      }
    });
    if (!v) return makeError(ErrorKind::BadInput, "the debug information of {0} cannot be read", mod->path);
    v->name = name;
    return StaticVariable{std::move(*v), size};
  }
  return makeError(ErrorKind::NotFound, "no variable named {0}{1} in the debug information", name,
                   file.empty() ? std::string() : " in a file ending with " + file);
}

const TypeInfo *ProgramIndex::namedType(const std::string &name) {
  for (const ModuleInfo *mod : modulesInOrder())
    if (const TypeInfo *t = namedTypeIn(*mod, name)) return t;
  return nullptr;
}

const TypeInfo *ProgramIndex::namedTypeIn(const ModuleInfo &mod, const std::string &name) {
  ModuleIndex *mi = indexOf(mod);
  std::optional<uint64_t> die;
  for (const std::string &spelling : baseTypeSpellings(name))
    if (auto it = mi->types.find(spelling); it != mi->types.end()) {
      die = it->second;
      break;
    }
  // "std::vector<int>" for "std::vector<int, std::allocator<int> >": arguments left at
  // their defaults may be omitted (the first such instance wins).
  if (!die && !name.empty() && name.back() == '>') {
    std::string prefix = name.substr(0, name.size() - 1) + ", ";
    auto it = mi->types.lower_bound(prefix);
    if (it != mi->types.end() && StringRef(it->first).starts_with(prefix)) die = it->second;
  }
  if (!die) return nullptr;
  const TypeInfo *out = nullptr;
  mi->symbols->withLookupDwarf([&](DWARFContext &ctx) {
    if (DWARFDie d = ctx.getDIEForOffset(*die)) out = values_->types().fromDie(d, mod.loadBias);
  });
  return out;
}

DWARFDie ProgramIndex::definitionOf(const DWARFDie &declaration) {
  const char *name = declaration.getShortName();
  if (!name) return {};
  std::string qualified = scopePrefix(declaration.getParent(), true) + name;
  auto [it, fresh] = definitions_.try_emplace(qualified);
  if (!fresh) return it->second;
  for (const ModuleInfo *mod : modulesInOrder()) {
    ModuleIndex *mi = indexOf(*mod);
    auto found = mi->types.find(qualified);
    if (found == mi->types.end()) continue;
    uint64_t offset = found->second;
    mi->symbols->withLookupDwarf([&](DWARFContext &ctx) { it->second = ctx.getDIEForOffset(offset); });
    if (it->second) break;
  }
  return it->second;
}

Expected<const TypeInfo *> ProgramIndex::type(const std::string &rawName) {
  std::string name = trim(rawName);
  unsigned pointers = 0;
  // Trailing '*' (and qualifiers between them, which do not change the layout).
  for (;;) {
    if (!name.empty() && name.back() == '*') {
      ++pointers;
      name = trim(name.substr(0, name.size() - 1));
    } else if (StringRef(name).ends_with(" const") || StringRef(name).ends_with(" volatile")) {
      name = trim(name.substr(0, name.rfind(' ')));
    } else {
      break;
    }
  }
  for (const char *q : {"const ", "volatile "})
    while (StringRef(name).starts_with(q)) name = trim(name.substr(strlen(q)));
  for (const char *k : {"struct ", "class ", "union ", "enum "})
    if (StringRef(name).starts_with(k)) name = trim(name.substr(strlen(k)));
  if (StringRef(name).starts_with("::")) name = name.substr(2);
  if (name.empty()) return makeError(ErrorKind::Usage, "no type name in \"{0}\"", rawName);
  const TypeInfo *t = nullptr;
  if (name == "void") {
    t = values_->types().fromDie(DWARFDie(), 0);  // the table's one void type
  } else {
    t = namedType(name);
  }
  if (!t) return makeError(ErrorKind::NotFound, "no type named {0} in the debug information", name);
  for (unsigned i = 0; i < pointers; ++i) t = values_->types().pointerTo(t);
  return t;
}

Expected<Value> ProgramIndex::valueAt(const TypeInfo *type, uint64_t address) {
  return Value::at(values_, type, address);
}

std::optional<FrameVariables::SymbolHit> ProgramIndex::symbol(uint64_t address) {
  if (auto f = reader_.symbolAt(address, true); f && (f->size == 0 || address < f->address + f->size))
    if (const MemoryRegion *r = target_.regionFor(address); !r || (r->perms & PermExec)) return f;
  return reader_.symbolAt(address, false);
}

Expected<uint64_t> ProgramIndex::addressOf(const std::string &name) {
  Expected<StaticVariable> v = readVariable(name, "", 0);  // its address, readable or not
  if (v && v->address) return *v->address;
  if (!v) {
    ErrorReport r = takeErrorReport(v.takeError());
    if (r.kind != ErrorKind::NotFound) return makeError(r.kind, "{0}", r.message);
  }
  for (const ModuleInfo *mod : modulesInOrder()) {
    ModuleSymbols *ms = symbols_.forModule(*mod);
    if (uint64_t a = ms->symbolAddress(name)) return a + mod->loadBias;
    if (uint64_t a = ms->objectAddress(name)) return a + mod->loadBias;
  }
  return makeError(ErrorKind::NotFound, "no variable, function or symbol named {0}", name);
}

std::string ProgramIndex::format(const Value &v, const PrintLimits &limits, bool topLevel, bool symbols,
                                 const CustomPrinter *custom) {
  PrintContext pc = reader_.printContext();
  pc.limits = limits;
  if (!symbols) pc.symbolize = nullptr;
  const TypeInfo &t = v.type();
  const TypeInfo *r = resolveType(&t);
  uint64_t moduleKey = 0;  // of the DIEs being printed, for the values handed to `custom`
  std::map<std::string, bool> wanted;
  if (custom)
    pc.custom = [&](const DWARFDie &type, StringRef bytes,
                    std::optional<uint64_t> addr) -> std::optional<std::string> {
      auto wants = [&](const std::string &name) {
        auto [it, fresh] = wanted.try_emplace(name, false);
        if (fresh) it->second = custom->wants(name);
        return it->second;
      };
      // The name as declared (a typedef such as std::chrono::milliseconds), then the type it
      // stands for, qualifiers dropped (gdb's basic type).
      if (!wants(typeName(type)) && !wants(typeName(stripTypedefs(type)))) return std::nullopt;
      const TypeInfo *ti = values_->types().fromDie(type, moduleKey);
      if (!ti || ti->size > bytes.size()) return std::nullopt;
      return custom->render(Value(values_, ti, bytes.take_front(ti->size ? ti->size : bytes.size()).str(), addr));
    };
  // A DIE of the module the type came from (TypeTable keys modules by load bias).
  auto withDie = [&](const TypeInfo *ti, auto fn) {
    if (!ti || !ti->fromDwarf()) return false;
    for (const ModuleInfo &mod : target_.modules())
      if (mod.loadBias == ti->moduleKey) {
        bool done = false;
        moduleKey = ti->moduleKey;
        symbols_.forModule(mod)->withLookupDwarf([&](DWARFContext &ctx) {
          if (DWARFDie d = ctx.getDIEForOffset(ti->dieOffset)) {
            fn(d);
            done = true;
          }
        });
        return done;
      }
    return false;
  };
  std::string out;
  bool done = withDie(&t, [&](const DWARFDie &d) { out = formatValue(d, v.bytes(), v.address(), pc); });
  if (!done && r->kind == TypeInfo::Kind::Pointer) {
    uint64_t p = 0;
    memcpy(&p, v.bytes().data(), std::min<size_t>(8, v.bytes().size()));
    if (!withDie(r->target, [&](const DWARFDie &d) { out = formatPointerTo(d, p, pc); }))
      out = formatPointerTo(DWARFDie(), p, pc);
  } else if (!done && r->kind == TypeInfo::Kind::Array) {
    // An inner dimension of a multi-dimensional array (a type made here, no DIE of its own).
    std::vector<std::string> items;
    uint64_t n = v.elementCount();
    for (uint64_t i = 0; i < n && i < limits.elements; ++i) {
      Expected<Value> e = v.element(i);
      items.push_back(e ? format(*e, limits, false, symbols, custom) : "<error: " + toString(e.takeError()) + ">");
    }
    out = "{" + formatElements(items, n > limits.elements, limits) + "}";
  } else if (!done) {
    out = "<no debug information for " + t.name + ">";
  }
  if (topLevel) {
    // gdb's `print` names the type of a pointer or reference first, except for strings.
    bool isRef = r->kind == TypeInfo::Kind::Reference || r->kind == TypeInfo::Kind::RValueReference;
    const TypeInfo *pointee = r->target ? resolveType(r->target) : nullptr;
    bool charPointer = r->kind == TypeInfo::Kind::Pointer && pointee && pointee->kind == TypeInfo::Kind::Base &&
                       pointee->size == 1 && pointee->encoding != TypeInfo::Encoding::Bool;
    if ((r->kind == TypeInfo::Kind::Pointer && !charPointer) || isRef) out = "(" + t.name + ") " + out;
  }
  return out;
}

}  // namespace bt
