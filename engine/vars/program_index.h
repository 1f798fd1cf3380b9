// ProgramIndex: what a script asks of a program as a whole rather than of one frame (drgn's
// Program): variables with static storage by name (globals, file and function statics, the
// executable's thread-locals, in every module), types by name ("struct Job", "std::vector<int>",
// "char **"), Values at an address, the symbol holding an address and the address of a name,
// and a Value's text from the same printer bt uses. Names come from an index built per module on
// its first lookup (one bounded walk of its DIE trees, namespaces, classes and functions
// included), read from a DWARF context the module keeps for lookups, so later lookups and
// renderings parse nothing again. Every answer is an llvm::Expected: a name the debug
// information does not have is ErrorKind::NotFound.
#pragma once

#include "symbols/symbolizer.h"
#include "target/target.h"
#include "vars/frame_variables.h"
#include "vars/value.h"
#include "vars/value_printer.h"

#include <llvm/Support/Error.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bt {

class ProgramIndex {
public:
  ProgramIndex(Target &target, Symbolizer &symbols, std::shared_ptr<ValueSession> values);
  ~ProgramIndex();
  ProgramIndex(const ProgramIndex &) = delete;
  ProgramIndex &operator=(const ProgramIndex &) = delete;

  // A variable with static storage. `name` may be qualified ("ns::g_queue", "Class::s_count",
  // "function::s_calls" for a function's static); `file` keeps only definitions in a compile unit
  // whose source path ends with it (two file statics of the same name); `tid` is the thread whose
  // thread-locals are read (0: the crashed thread, else the first). Globals win over file statics,
  // which win over function statics; the executable over shared libraries.
  llvm::Expected<Variable> variable(const std::string &name, const std::string &file = "", int tid = 0);
  // A type by name as C or C++ writes it: "struct Job", "Job", "unsigned long", "const char *",
  // "std::vector<int>" (template arguments the program left at their default may be omitted).
  llvm::Expected<const TypeInfo *> type(const std::string &name);
  // The definition of the struct, class or union `declaration` only declares, by its qualified
  // name in any module (the executable first); an invalid DIE when none has it. The DIE lives
  // as long as the Symbolizer's module does.
  llvm::DWARFDie definitionOf(const llvm::DWARFDie &declaration);
  // The object of `type` at `address`, read now.
  llvm::Expected<Value> valueAt(const TypeInfo *type, uint64_t address);
  // The ELF symbol holding `address` (a function, else a data object).
  std::optional<FrameVariables::SymbolHit> symbol(uint64_t address);
  // Where a variable, function or data symbol named `name` is (NotFound if nowhere).
  llvm::Expected<uint64_t> addressOf(const std::string &name);
  // `v` rendered as bt renders variables (gdb's style); `topLevel` adds gdb's print prefix of a
  // pointer or reference ("(struct Job *) 0x..."), as `print v` shows it; `symbols`: name the
  // symbol a pointer points to ("<g_rect>").
  // `custom`: pretty-printers by type name (plugins), asked about `v` and every value inside it.
  struct CustomPrinter {
    std::function<bool(const std::string &typeName)> wants;  // asked once per distinct name
    std::function<std::optional<std::string>(const Value &)> render;  // nullopt: the built-in text
  };
  std::string format(const Value &v, const PrintLimits &limits, bool topLevel, bool symbols = true,
                     const CustomPrinter *custom = nullptr);

  const std::shared_ptr<ValueSession> &values() const { return values_; }

private:
  struct Entry {
    uint64_t die = 0;
    int rank = 0;        // 0 global, 1 file static, 2 function static
    std::string file;    // the compile unit's source path
  };
  struct ModuleIndex {
    const ModuleInfo *mod = nullptr;
    ModuleSymbols *symbols = nullptr;
    std::map<std::string, std::vector<Entry>> variables;  // by qualified and by short name
    std::map<std::string, uint64_t> types;                 // by qualified name
  };
  // A variable as read, an "<error: ...>" text included, with its type's size.
  struct StaticVariable : Variable {
    StaticVariable(Variable v, uint64_t size) : Variable(std::move(v)), size(size) {}
    uint64_t size = 0;
  };
  llvm::Expected<StaticVariable> readVariable(const std::string &name, const std::string &file, int tid);
  ModuleIndex *indexOf(const ModuleInfo &mod);
  void build(ModuleIndex &mi, llvm::DWARFContext &ctx);
  std::vector<const ModuleInfo *> modulesInOrder() const;  // the executable first
  uint64_t threadPointerOf(int tid) const;
  // Where a shared library's static TLS block starts in the thread whose thread pointer is `tp`
  // (x86-64 TLS variant II: tp - the l_tls_offset glibc's dynamic linker gave the module, read
  // from its link_map, whose layout comes from ld.so's debug information). nullopt: unknown
  // (no such debug information, or a block allocated later, in dynamic TLS).
  std::optional<uint64_t> tlsBlock(const ModuleInfo &mod, uint64_t tp);
  const TypeInfo *namedType(const std::string &name);       // no pointers or qualifiers
  const TypeInfo *namedTypeIn(const ModuleInfo &mod, const std::string &name);

  Target &target_;
  Symbolizer &symbols_;
  std::shared_ptr<ValueSession> values_;
  FrameVariables reader_;  // reads and renders a variable's DIE, symbolizes pointers
  std::map<uint64_t, std::unique_ptr<ModuleIndex>> indexes_;  // by module start
  std::map<std::string, llvm::DWARFDie> definitions_;            // definitionOf's answers
  std::optional<std::map<uint64_t, int64_t>> tlsOffsets_;      // load bias -> l_tls_offset
};

}  // namespace bt
