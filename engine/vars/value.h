// Value: a variable's value as the engine read it, walkable after the DWARF it came from is gone
// (the Python API and classifiers walk fields, elements and pointers). Its type is a TypeInfo
// copied out of DWARF into a TypeTable (typedefs and cv-qualifiers kept as names, structure
// resolved), its bytes are the object representation read at capture, and deref() / reads
// past the captured bytes go back to the Target through a ValueSession, which the owner closes
// when the target goes away (later reads then fail with a clear error instead of touching
// freed state). Everything is bounded: type graphs, element counts, read sizes.
#pragma once

#include "target/target.h"

#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/Support/Error.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bt {

struct TypeInfo {
  enum class Kind { Void, Base, Pointer, Reference, RValueReference, Struct, Class, Union, Enum,
                    Array, Function, PointerToMember, Unknown };
  enum class Encoding { None, Signed, Unsigned, Float, Bool, SignedChar, UnsignedChar, Utf };
  struct Field {
    std::string name;        // "" for an anonymous member
    uint64_t offset = 0;     // bytes from the start of the object
    uint32_t bitOffset = 0;  // bit-fields: bits from `offset`, little-endian numbering
    uint32_t bitSize = 0;    // 0: not a bit-field
    const TypeInfo *type = nullptr;
    bool isBase = false;     // a base class subobject
  };
  Kind kind = Kind::Unknown;
  bool alias = false;  // typedef / const / volatile: the structure is in `target`
  std::string name;  // as written in C/C++, typedef names kept ("u32", "const char *")
  uint64_t size = 0;
  Encoding encoding = Encoding::None;
  const TypeInfo *target = nullptr;  // pointee, referent, element, enum's underlying type
  std::optional<uint64_t> count;     // arrays: elements (nullopt: unknown bound)
  std::vector<Field> fields;
  std::vector<std::pair<std::string, int64_t>> enumerators;
  // A class template instance's type arguments, in order (std::map<K, V>: K, V, ...), for
  // walking containers whose element type no member names.
  std::vector<const TypeInfo *> templateArgs;
  // The DIE it was built from (module key, .debug_info offset), so the printer can render a
  // Value with the same code as bt; 0 for types made here (pointerTo, inner array dimensions).
  uint64_t moduleKey = 0, dieOffset = 0;
  bool fromDwarf() const { return dieOffset != 0; }
  // Only declared here ("struct _frame;" in a unit that uses pointers to it): the definition is
  // elsewhere, found by name (TypeTable::complete).
  bool declaration = false;
  // From a Rust compile unit (DW_LANG_Rust).
  bool rust = false;
  // The DWARF name when it differs from `name`: rustc names its pointer types
  // ("alloc::boxed::Box<i32, alloc::alloc::Global>", "&i32"), which `name` spells as C does.
  std::string dwarfName;
  // A Rust enum: a struct holding a DW_TAG_variant_part. `discriminant` is the member whose value
  // picks the variant (DW_AT_discr; none for a one-variant enum); each variant is one
  // DW_TAG_variant, whose member (of the variant's struct: "Some" with field __0) lies at
  // `offset`. `discrValue` is the DW_AT_discr_value in the discriminant's representation (its
  // size, read as its type's signedness says); none for the default variant (the dataful one of
  // a niche layout: every value no other variant names).
  struct Variant {
    std::string name;
    std::optional<std::string> discrValue;
    uint64_t offset = 0;
    const TypeInfo *type = nullptr;  // nullptr: the DW_TAG_variant describes no member
  };
  bool hasVariants = false;  // a variant part was found (its variants may still be empty)
  std::optional<Field> discriminant;
  std::vector<Variant> variants;
  // Why the variants cannot be told apart (hostile or unsupported DWARF: several default
  // variants, a DW_AT_discr_list, too many variants); "" when they can.
  std::string variantProblem;
  // A field by name, base classes as "<Base>" (nullptr if none).
  const Field *findField(const std::string &name) const;
};

// Owns the TypeInfos built from one module's DWARF; memoized by DIE offset, so shared and
// recursive types (a list node pointing to itself) are built once.
class TypeTable {
public:
  const TypeInfo *fromDie(const llvm::DWARFDie &type, uint64_t moduleKey);
  // "T *" for any T (memoized): what address-of and a cast to a pointer type make.
  const TypeInfo *pointerTo(const TypeInfo *target);
  // The definition of a type only declared where it was used (an opaque struct), as gdb finds
  // it: by name, through `completer` (the program's name index); `t` itself when none is known.
  const TypeInfo *complete(const TypeInfo *t);
  void setCompleter(std::function<const TypeInfo *(const TypeInfo &)> completer) {
    completer_ = std::move(completer);
    completed_.clear();
  }

private:
  const TypeInfo *build(const llvm::DWARFDie &type, uint64_t moduleKey, unsigned depth);
  void buildVariants(TypeInfo *ti, const llvm::DWARFDie &part, uint64_t moduleKey, unsigned depth);
  TypeInfo *make();

  std::deque<TypeInfo> storage_;
  std::map<std::pair<uint64_t, uint64_t>, TypeInfo *> byDie_;
  std::map<const TypeInfo *, TypeInfo *> pointers_;
  std::function<const TypeInfo *(const TypeInfo &)> completer_;
  std::map<const TypeInfo *, const TypeInfo *> completed_;
};

// The error for unreadable target memory (a MemoryError saying whether `addr` is mapped).
llvm::Error memoryError(const Target &t, uint64_t addr, uint64_t size);

// What Values need from the capture: the target for reads beyond the captured bytes, and the
// types. Closed by its owner when the target goes away.
class ValueSession {
public:
  explicit ValueSession(Target *target) : target_(target) {}
  TypeTable &types() { return types_; }
  void close();
  bool open() const;
  // Reads target memory; an error if the session is closed or the memory unreadable.
  llvm::Expected<std::string> read(uint64_t addr, uint64_t len);

private:
  mutable std::mutex mu_;
  Target *target_;
  TypeTable types_;
};

class Value {
public:
  Value(std::shared_ptr<ValueSession> s, const TypeInfo *type, std::string bytes,
        std::optional<uint64_t> address)
      : session_(std::move(s)), type_(type), bytes_(std::move(bytes)), address_(address) {}

  const TypeInfo &type() const { return *type_; }
  const std::string &bytes() const { return bytes_; }
  std::optional<uint64_t> address() const { return address_; }

  // Scalars. Errors say why (not a number, a float read as an integer, ...).
  llvm::Expected<int64_t> asSigned() const;
  llvm::Expected<uint64_t> asUnsigned() const;
  llvm::Expected<double> asDouble() const;
  // Enumerator name of an enum value ("" if none matches).
  std::string enumeratorName() const;
  // A Rust enum's active variant (TypeInfo::variants): its name and its payload, the variant's
  // struct; nullopt for a value of any other type. A discriminant that names no variant of an
  // enum without a default one (corrupt memory, or the wrong type laid over it) is an error,
  // never a guess.
  llvm::Expected<std::optional<std::pair<std::string, Value>>> variant() const;

  // Aggregates: members in declaration order (base classes first, named like gdb "<Base>").
  std::vector<std::string> fieldNames() const;
  llvm::Expected<Value> field(const std::string &name) const;
  // Arrays: the element count (0 for an unknown bound), elements one by one.
  uint64_t elementCount() const;
  llvm::Expected<Value> element(uint64_t index) const;
  // Pointers and references: the object pointed to, read from the target now.
  llvm::Expected<Value> deref() const;
  // A C string at a char pointer or in a char array (bounded; stops at NUL).
  llvm::Expected<std::string> cString(size_t maxLen = 4096) const;

  // The object of type `type` at `address`, read from the target now.
  static llvm::Expected<Value> at(std::shared_ptr<ValueSession> s, const TypeInfo *type, uint64_t address);
  // C's conversion to a scalar type (integer, enum, bool, floating point, pointer), as gdb's
  // (T)v: integers are truncated or extended, floats converted. Aggregates: an error (use
  // reinterpret).
  llvm::Expected<Value> cast(const TypeInfo *to) const;
  // The same memory read as another type (needs an address), as gdb's *(T *)&v.
  llvm::Expected<Value> reinterpret(const TypeInfo *to) const;
  // Pointer arithmetic: p + n elements (void * counts bytes, as gdb does).
  llvm::Expected<Value> pointerAdd(int64_t n) const;
  // p[i] on pointers (p + i, dereferenced) as well as arrays.
  llvm::Expected<Value> index(int64_t i) const;
  // &v: a pointer to this value (needs an address).
  llvm::Expected<Value> addressOf() const;
  std::shared_ptr<ValueSession> session() const { return session_; }

private:
  llvm::Expected<Value> member(const TypeInfo::Field &f) const;
  llvm::Expected<Value> fieldAt(const std::string &name, unsigned depth) const;  // bounded
  const TypeInfo *resolved() const;

  std::shared_ptr<ValueSession> session_;
  const TypeInfo *type_;
  std::string bytes_;
  std::optional<uint64_t> address_;
};

// Strips typedef/const/volatile names down to the type that has the structure.
const TypeInfo *resolveType(const TypeInfo *t);

}  // namespace bt
