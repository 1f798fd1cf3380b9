// BreakpadSymbolStore: finds the Breakpad symbol file (`.sym`) of a module by its name and debug
// id, in the places the user named (`--symbols`, repeatable): a symbol store directory laid out
// as Breakpad's and Crashpad's servers and `symupload` keep them, NAME/DEBUGID/NAME.sym, or one
// `.sym` file, which serves the module its MODULE line names. A file is parsed once, on first
// use, and kept; a file whose MODULE line names another build (debug id) is never used, and
// says so.
#pragma once

#include "symbols/breakpad_symbols.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bt {

class BreakpadSymbolStore {
public:
  explicit BreakpadSymbolStore(std::vector<std::string> places) : places_(std::move(places)) {}

  bool empty() const { return places_.empty(); }
  // Where a store at `root` keeps the module `name` of build `debugId`: root/NAME/DEBUGID/NAME.sym
  // (the id upper-case, as dump_syms and symupload write it). Readers and writers both use this.
  static std::string pathIn(const std::string &root, const std::string &name, const std::string &debugId);
  // The symbols of the module named `name` (a file name, e.g. "libc.so.6") built as `debugId`
  // (Breakpad's 33-hex-digit id; "" when the module has no build-id: matched by name only),
  // or null. Problems (an unreadable or malformed file, another build's file) go to `warnings`,
  // once per file.
  const BreakpadSymbols *find(const std::string &name, const std::string &debugId,
                              std::vector<std::string> &warnings);

private:
  const BreakpadSymbols *loadOnce(const std::string &path, std::vector<std::string> &warnings);

  std::vector<std::string> places_;
  std::map<std::string, std::unique_ptr<BreakpadSymbols>> loaded_;  // path -> parsed (null: unusable)
  // A .sym file given directly: its MODULE line's (debug id, name), read on first find().
  std::map<std::string, std::pair<std::string, std::string>> fileHeaders_;
};

}  // namespace bt
