// Symbolizer: PC -> function (demangled, gdb-style without parameter list), inline chain and
// file:line. One ModuleSymbols per module, created on first use: it opens the binary, finds its
// debug file (build-id, debuglink, or the binary itself), and reads DWARF with LLVM over lazily
// inflated sections. Only the compile units that contain the PCs asked about are parsed, and
// they are parsed in batches: PCs are grouped by compile unit and each batch gets a short-lived
// llvm::DWARFContext whose parsed DIEs and line tables are freed before the next batch, so peak
// memory stays flat however many units a backtrace touches. Without DWARF it answers from the
// module's Breakpad symbol file when a store the user named has it (functions, inline chains,
// lines), then from the ELF symbol tables.
#pragma once

#include "symbols/gdb_names.h"
#include "symbols/sparse_debug_info.h"
#include "target/target.h"

#include <llvm/DebugInfo/DWARF/DWARFContext.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bt {

class ElfFile;
class BreakpadSymbols;
class BreakpadSymbolStore;
class DebuginfodClient;
struct DwarfSectionStats;

// Where symbols are looked for beyond the binaries themselves: the fronts' --debug-dir (separate
// debug files) and --symbols (Breakpad symbol stores and .sym files).
struct SymbolPaths {
  std::vector<std::string> debugDirs;
  std::vector<std::string> symbolStores;
  bool offline = false;  // --offline: never fetch from the debuginfod servers in DEBUGINFOD_URLS
};

struct SymbolizerOptions {
  std::vector<std::string> debugDirs;
  // Breakpad symbol stores (NAME/DEBUGID/NAME.sym) and .sym files, for modules without DWARF.
  std::vector<std::string> symbolStores;
  // Fetch missing executables and debug files by build-id from DEBUGINFOD_URLS (unless offline).
  bool offline = false;
  std::string cacheDir;  // inflation cache; "" disables
  bool variables = false;  // also load what variable locations need (location lists)
  // Polled between batches of compile units: true stops the work (a Python caller's Ctrl-C);
  // what is left unanswered is empty. It must stay true once it has said so.
  std::function<bool()> interrupted;
};

class AnswerCache;  // symbols/answer_cache.h
class Value;  // engine/vars/value.h: the walkable value (only when the caller asked for it)

// A variable of a frame as presented: the vars layer fills these (see ScopeVisitor).
struct Variable {
  std::string name;
  std::string kind;   // "param" or "local"
  std::string type;   // type name as written in C/C++
  std::string value;  // rendered like gdb ("{a = 1, b = 0x0}", "<optimized out>", ...)
  bool optimizedOut = false;
  bool error = false;          // value is "<error: ...>"
  std::string entryValue;      // value at function entry when known separately (gdb's x@entry)
  std::optional<uint64_t> address;  // where it lives in memory, if it does
  // Part of the value came from a live process's writable memory after it was let go (not the
  // frozen state: heap objects behind pointers, say; see PipelineOptions::releaseEarly).
  bool readAfterRelease = false;
  // Why the crash analysis points at it (engine/analysis/highlight.h); "" if it does not.
  std::string highlighted;
  std::shared_ptr<const Value> handle;  // typed bytes to walk (FrameVariables::keepValues)
};

struct SourceLocation {
  std::string function;  // "" if unknown
  std::string file;      // absolute path when known, "" if unknown
  uint32_t line = 0;
  uint32_t column = 0;
  bool inlined = false;  // this entry is an inlined call inside the next entry's function
  std::vector<Variable> variables;  // filled only when a ScopeVisitor asked for them
};

// Called while a batch's DWARF is parsed, with the scope DIEs of one pc (innermost first,
// parallel to the SourceLocation chain), to extract what else the caller needs (variables).
using ScopeVisitor = std::function<void(llvm::DWARFContext &ctx,
                                        llvm::ArrayRef<llvm::DWARFDie> scopes,
                                        std::vector<SourceLocation> &chain)>;


// What a call site tells about the call returning to a given address: the function it calls
// and, per DW_TAG_call_site_parameter, where the argument was passed (a location expression,
// usually DW_OP_regN) and how to recompute it in the caller's frame (DW_AT_call_value), plus the
// caller's frame base expression there.
struct CallSiteInfo {
  uint64_t target = 0;  // entry of the called function (link-time), 0 if unknown
  std::string targetName;  // a function only declared here (called through the PLT): its symbol name
  std::string targetExpr;  // an indirect call: DW_AT_call_target, where the caller had the callee's address
  std::vector<std::pair<std::string, std::string>> parameters;  // (location, call value)
  std::string callerFrameBase;
};

// One lookup: `vaddr` is the address to describe (pc, or pc - 1 for a return address);
// `returnAddress` (0 if none) asks which function the call returning there called.
struct PcQuery {
  uint64_t vaddr = 0;
  uint64_t returnAddress = 0;
  const ScopeVisitor *visit = nullptr;
};

struct PcInfo {
  std::vector<SourceLocation> chain;  // innermost first; the last entry is the physical function
  uint64_t functionEntry = 0;         // entry of the physical function (0 if unknown)
  uint64_t callTarget = 0;            // entry of the function the call at returnAddress calls
  std::string callTargetName;         // its symbol name, when it is not in this module (callSiteTargetName)
  bool inCompileUnit = false;         // some compile unit's ranges cover the address
  // Where the chain's DIEs are (.debug_info offsets of its unit and of each subprogram or inlined
  // subroutine, innermost first; empty without DWARF): a later run with variables visits them
  // from a cached answer without LLVM's per-unit address map and line table.
  uint64_t scopeUnit = UINT64_MAX;
  std::vector<uint64_t> scopeDies;
};

class ModuleSymbols {
public:
  ModuleSymbols(const ModuleInfo &mod, const SymbolizerOptions &opts,
                BreakpadSymbolStore *store = nullptr, DebuginfodClient *debuginfod = nullptr);
  ~ModuleSymbols();

  // Answers many queries at once, one compile-unit batch at a time (same order as `queries`).
  std::vector<PcInfo> symbolizeBatch(const std::vector<PcQuery> &queries);
  // Inline chain for one link-time address (a batch of one).
  std::vector<SourceLocation> symbolize(uint64_t vaddr);

  // Tail calls between a caller and its callee, reconstructed like gdb from DW_TAG_call_site:
  // the caller called `firstTarget`, which tail-called (maybe through more tail calls) the
  // function holding `calleePc`. Returns the return addresses of those tail-call sites,
  // innermost first; empty when there is none or the chain is ambiguous. Link-time addresses
  // of this module.
  std::vector<uint64_t> tailCallChain(uint64_t firstTarget, uint64_t calleePc);
  // The same when the callee is in another module: the chain ends at a tail call to a function
  // this module only declares (through its PLT), whose name `isCallee` accepts.
  std::vector<uint64_t> tailCallChainOut(uint64_t firstTarget,
                                         llvm::function_ref<bool(llvm::StringRef)> isCallee);
  // The call site whose call returns to `returnAddress` (link-time), if the DWARF has it.
  std::optional<CallSiteInfo> callSite(uint64_t returnAddress);
  // The same for a tail call (a jump) whose next instruction is at `returnAddress`: the site a
  // reconstructed tail-call frame stands at.
  std::optional<CallSiteInfo> tailCallSite(uint64_t returnAddress);
  // Runs fn under the fault guard (false if the module has no usable DWARF or the parser
  // faulted) on one long-lived context (the index) whose parsed DIEs stay until this
  // ModuleSymbols goes:
  // for many lookups outside symbolization (globals, types, rendering Values, the names of
  // printed function pointers), where a fresh context per call would re-parse the unit and
  // rebuild the module's address ranges each time; the symbolizer's batches never use it.
  bool withLookupDwarf(llvm::function_ref<void(llvm::DWARFContext &)> fn);
  // The same for a lookup inside the unit that covers `vaddr` (link-time): false, without
  // calling fn, when no unit does or that unit fails the shape check.
  bool withDwarfAt(uint64_t vaddr, llvm::function_ref<void(llvm::DWARFContext &)> fn);
  // The name `compute` gives the function whose entry is `vaddr` (link-time): the variable
  // printer's name of a function pointer's target. The answer cache remembers it (an empty one
  // too), so a warm capture needs no lookup context for it; compute runs only when it does not.
  std::string functionNameAt(uint64_t vaddr, llvm::function_ref<std::string()> compute);
  // The unit at `unitOffset` of .debug_info passed the bounded shape check (symbols/
  // dwarf_unit_check.h), which must come before LLVM parses its DIEs; cached, warns once.
  bool unitShapeOk(uint64_t unitOffset, llvm::StringRef info = {});  // info: a stand-in (sparse)
  // Looks many call sites up at once (one compile-unit batch at a time) into the cache.
  void prefillCallSites(const std::vector<uint64_t> &returnAddresses);
  // Link-time address of a function symbol by name (0 if none).
  uint64_t symbolAddress(llvm::StringRef name) const;
  // Link-time address of a data object symbol by name (0 if none).
  uint64_t objectAddress(llvm::StringRef name) const;

  const ElfFile *binary() const { return binary_.get(); }
  const ElfFile *debugFile() const { return debug_ ? debug_.get() : binary_.get(); }
  const std::string &debugFilePath() const;
  const std::vector<std::string> &warnings() const { return warnings_; }
  bool hasDwarf() const;
  // The module's Breakpad symbols (only when it has no DWARF and a store had them), and the
  // link-time address their module-relative addresses count from.
  const BreakpadSymbols *breakpad() const { return breakpad_; }
  uint64_t breakpadBase() const { return breakpadBase_; }

private:
  void openFiles(const ModuleInfo &mod, DebuginfodClient *debuginfod);
  // `known[i]`, when not null, is a cached answer for queries[i] (which has a visitor): with its
  // scope DIEs, a hint for answering it; without, a pc no compile unit covered or one answered
  // again from the DWARF.
  std::vector<PcInfo> computeBatch(const std::vector<PcQuery> &queries,
                                   const std::vector<const PcInfo *> &known = {});
  bool answerFromBreakpad(uint64_t vaddr, PcInfo &out) const;
  AnswerCache *answers();  // null: not kept for this module (no cache, no build-id)
  bool loadSections();
  llvm::DWARFContext *index();                           // long-lived: address -> compile unit
  // Per batch: DIEs, line tables. Its recoverable errors go to `errors` when given (a context
  // whose units another thread extracts), else to warnings().
  // `info`, when given, stands in for .debug_info (a SparseDebugInfo's bytes).
  std::unique_ptr<llvm::DWARFContext> scratchContext(std::vector<std::string> *errors = nullptr,
                                                     llvm::StringRef info = {});
  // A .debug_info holding only `units` (the batch's), or null when one of them may refer to a
  // DIE outside itself or the section's units are not known: then the whole section.
  std::unique_ptr<SparseDebugInfo> sparseInfoFor(const std::vector<uint64_t> &units);
  bool unitLayoutKnown();  // unitSpans_ set, from the answer cache if not parsed yet
  void releaseMappedPages();
  // `cu`: the unit the index found for q.vaddr, in ctx.
  PcInfo answer(llvm::DWARFContext &ctx, llvm::DWARFCompileUnit *cu, const PcQuery &q);
  // `known` (a cached answer for q's pc) with q's visitor run on its scope DIEs, found by their
  // offsets; `answer` when they are not in `cu` as they were.
  PcInfo answerFromScopes(llvm::DWARFContext &ctx, llvm::DWARFCompileUnit *cu, const PcQuery &q,
                          const PcInfo &known);
  struct BatchContext {
    // A unit the worker prepares, and the verdicts of the checks it ran (recorded by
    // finishBatch on the main thread).
    struct Unit {
      uint64_t offset = 0;
      bool checkShape = false, checkTree = false;
      uint64_t warmPc = 0;      // build the unit's address map for this pc
      bool lineTable = false;   // and read the unit's line table
      std::optional<std::optional<std::string>> shape, tree;  // checked: the problem, if any
    };
    std::unique_ptr<SparseDebugInfo> info;  // ctx's .debug_info when not the whole section
    std::unique_ptr<llvm::DWARFContext> ctx;
    std::vector<Unit> units;
    std::vector<std::string> errors;  // the context's recoverable errors
    // Preparing `units` is a task whichever thread claims first runs (tryRun): a thread of its
    // own, a BatchHelper, or the thread that reads the batch.
    bool hasTask = false;
    llvm::StringRef taskInfo, taskAbbrev;  // the bytes the shape walk reads
    std::thread worker;                    // a thread of its own running the task
    bool extracted = true;                 // false when the task faulted
    ~BatchContext();
    bool tryRun();    // runs the task here unless another thread claimed it (then false)
    bool taskDone();  // no task, or it has ended
    void waitDone();
    bool finish();  // runs the task here or waits for it; false (context abandoned) when it faulted
    void abandon();

  private:
    std::atomic<bool> claimed_{false};
    std::mutex doneMutex_;
    std::condition_variable doneCv_;
    bool done_ = false;
  };
  // One thread that runs the tasks of the batches offered to it, in order, skipping those the
  // reading thread has claimed meanwhile. It stops (after the task it runs) when destroyed.
  class BatchHelper {
  public:
    BatchHelper();
    ~BatchHelper();
    void offer(std::shared_ptr<BatchContext> b);

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<BatchContext>> queue_;
    bool stopping_ = false;
    std::thread thread_;
  };
  static constexpr size_t kMaxDwarfErrors = 20;  // LLVM's recoverable errors kept as warnings
  // A unit of a batch: what preparing it includes beyond the checks and LLVM's extraction.
  struct BatchUnit {
    uint64_t offset = 0;
    uint64_t warmPc = 0;     // 0: no address map
    bool lineTable = false;  // with warmPc: the unit's line table too
  };
  // Here: the units are extracted by their first use on this thread. Thread: a thread of its
  // own prepares them now. Shared: the task waits for whichever thread claims it (tryRun).
  enum class Preparation { Here, Thread, Shared };
  std::unique_ptr<BatchContext> prepareBatch(const std::vector<BatchUnit> &units, Preparation how);
  bool finishBatch(BatchContext &b);  // false: the worker faulted (context abandoned)
  // After a batch was read on this thread (`ok`: no fault, else `fault` says which): its LLVM
  // errors become warnings; false when it faulted (context abandoned, module marked broken).
  bool endBatch(BatchContext &b, bool ok, const std::string &fault);
  bool unitIsSane(llvm::DWARFContext &ctx, uint64_t unitOffset);
  std::map<uint64_t, bool> unitTrees_;  // the tree walk's answers (unitIsSane)
  bool recordShape(uint64_t unitOffset, const std::optional<std::string> &why);
  bool recordTree(uint64_t unitOffset, const std::optional<std::string> &why);
  bool shapeInputs(llvm::StringRef &info, llvm::StringRef &abbrev) const;
  std::map<uint64_t, bool> unitShapes_;  // unitShapeOk's answers
  void noteCorruptUnit(uint64_t unitOffset, const char *why);
  void markDwarfBroken(const std::string &fault);
  std::optional<CallSiteInfo> findCallSite(llvm::DWARFContext &ctx, uint64_t returnAddress,
                                           bool tail = false, llvm::DWARFUnit *unit = nullptr);
  std::vector<uint64_t> searchTailCalls(llvm::DWARFContext &ctx, uint64_t firstTarget,
                                        std::optional<uint64_t> calleePc,
                                        llvm::function_ref<bool(llvm::StringRef)> isExternalCallee);
  std::vector<uint64_t> guardedTailCallSearch(uint64_t firstTarget, std::optional<uint64_t> calleePc,
                                              llvm::function_ref<bool(llvm::StringRef)> isExternalCallee);

  std::unique_ptr<ElfFile> binary_, debug_;
  SymbolizerOptions opts_;
  bool sectionsTried_ = false;
  bool dwarfBroken_ = false;  // LLVM faulted on this module's DWARF: symbol table only
  llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> sections_;
  std::unique_ptr<llvm::DWARFContext> index_;  // also withLookupDwarf's
  // The units of .debug_info as the index parsed them (sparseInfoFor) or the answer cache
  // remembers them, read once.
  std::optional<std::vector<UnitSpan>> unitSpans_;
  bool typeUnitsInInfo_ = false;
  uint16_t placeholderVersion_ = 4;
  std::map<uint64_t, bool> selfContained_;  // unitIsSelfContained's answers
  std::unique_ptr<MappedFile> infoFile_;    // the file .debug_info maps, when it is one
  bool infoFileTried_ = false;
  std::vector<std::string> warnings_;
  std::map<uint64_t, std::optional<CallSiteInfo>> callSites_;
  std::map<uint64_t, std::optional<CallSiteInfo>> tailSites_;
  std::unique_ptr<AnswerCache> answers_;
  bool answersTried_ = false;
  const BreakpadSymbols *breakpad_ = nullptr;  // owned by the Symbolizer's store
  uint64_t breakpadBase_ = 0;
};

class Symbolizer {
public:
  explicit Symbolizer(SymbolizerOptions opts);
  ~Symbolizer();
  Symbolizer(Symbolizer &&);
  ModuleSymbols *forModule(const ModuleInfo &mod);
  // Runtime pc -> inline chain; `exact` is false for return addresses (looked up at pc - 1).
  std::vector<SourceLocation> symbolize(const Target &t, uint64_t pc, bool exact);

  struct RuntimeQuery {
    uint64_t pc = 0;
    bool exact = true;  // false: pc is a return address (described at pc - 1)
    const ScopeVisitor *visit = nullptr;
  };
  // Batched form over runtime pcs of any modules; results in query order.
  std::vector<PcInfo> symbolizeAll(const Target &t, const std::vector<RuntimeQuery> &queries);
  // Runtime pcs of tail-call frames between a callee frame and its caller (see ModuleSymbols).
  std::vector<uint64_t> tailCallChain(const Target &t, uint64_t calleePc, bool calleeExact,
                                      const PcInfo &callee, const PcInfo &caller);
  std::vector<std::string> warnings() const;

private:
  SymbolizerOptions opts_;
  std::unique_ptr<BreakpadSymbolStore> store_;
  std::unique_ptr<DebuginfodClient> debuginfod_;
  std::map<std::string, std::unique_ptr<ModuleSymbols>> cache_;
};

}  // namespace bt
