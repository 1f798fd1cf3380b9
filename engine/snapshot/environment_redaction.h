// Environment redaction: environment values are secrets more often than not. A snapshot keeps
// the names, replaces the values by a hash (equal values still compare equal), blanks them in
// the captured environment block, and scrubs the values of variables whose names say they are
// secrets (API_KEY, DB_PASSWORD, ...) from rendered variable values.
#pragma once

#include "snapshot/snapshot.h"

#include <llvm/ADT/StringRef.h>

#include <string>

namespace bt {

void redactEnvironment(SnapshotData &s, uint64_t envStart, uint64_t envEnd);

// sha256 of a value as "sha256:<16 hex digits>".
std::string redactedValue(llvm::StringRef value);

}  // namespace bt
