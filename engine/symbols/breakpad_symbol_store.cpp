#include "symbols/breakpad_symbol_store.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/Path.h>

#include <fstream>
#include <sys/stat.h>

namespace bt {

namespace {

bool isDirectory(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool isFile(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// MODULE os arch id name: (id, name) of a .sym file, without parsing the rest of it.
std::pair<std::string, std::string> moduleLine(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line.size() > 4096) return {};
  llvm::SmallVector<llvm::StringRef, 5> f;
  llvm::StringRef(line).trim().split(f, ' ', 4, false);
  if (f.size() < 5 || f[0] != "MODULE") return {};
  return {f[3].str(), f[4].trim().str()};
}

}  // namespace

std::string BreakpadSymbolStore::pathIn(const std::string &root, const std::string &name,
                                        const std::string &debugId) {
  llvm::SmallString<256> path(root);
  llvm::sys::path::append(path, name, llvm::StringRef(debugId).upper(), name + ".sym");
  return std::string(path);
}

const BreakpadSymbols *BreakpadSymbolStore::loadOnce(const std::string &path,
                                                     std::vector<std::string> &warnings) {
  auto it = loaded_.find(path);
  if (it != loaded_.end()) return it->second.get();
  auto syms = BreakpadSymbols::load(path);
  std::unique_ptr<BreakpadSymbols> kept;
  if (syms) kept = std::make_unique<BreakpadSymbols>(std::move(*syms));
  else warnings.push_back(llvm::toString(syms.takeError()));
  return loaded_.emplace(path, std::move(kept)).first->second.get();
}

const BreakpadSymbols *BreakpadSymbolStore::find(const std::string &name, const std::string &debugId,
                                                 std::vector<std::string> &warnings) {
  if (name.empty()) return nullptr;
  for (const std::string &place : places_) {
    if (isDirectory(place)) {
      // The store layout needs the id: without one no file there can be told to be this build's.
      if (debugId.empty()) continue;
      std::string path = pathIn(place, name, debugId);
      if (!isFile(path)) continue;
      const BreakpadSymbols *s = loadOnce(path, warnings);
      if (!s) continue;
      if (!llvm::StringRef(s->debugId()).equals_insensitive(debugId)) {
        bool first = fileHeaders_.emplace(path, std::make_pair(s->debugId(), s->name())).second;
        if (first)
          warnings.push_back(path + ": its MODULE line names build " + s->debugId() + ", not " +
                             debugId + " (where the store keeps it): not used");
        continue;
      }
      return s;
    }
    // One .sym file: it serves the module its MODULE line names.
    auto hit = fileHeaders_.find(place);
    if (hit == fileHeaders_.end()) {
      hit = fileHeaders_.emplace(place, moduleLine(place)).first;
      if (hit->second.first.empty())
        warnings.push_back(place + ": not a Breakpad symbol file or store directory (no MODULE line)");
    }
    const auto &[id, modName] = hit->second;
    if (id.empty()) continue;
    bool match = debugId.empty() ? modName == name : llvm::StringRef(id).equals_insensitive(debugId);
    if (match)
      if (const BreakpadSymbols *s = loadOnce(place, warnings)) return s;
  }
  return nullptr;
}

}  // namespace bt
