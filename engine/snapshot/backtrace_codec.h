// BacktraceCodec: ThreadBacktrace / Variable <-> JSON values for the snapshot, lossless for
// everything the backtrace printers show, so `bt show` prints a snapshot exactly as `bt`
// printed the process. Decoding validates every field (snapshots come from anywhere).
#pragma once

#include "support/hex.h"  // hexU64, parseHexU64: every address in the JSON

#include "unwind/backtrace.h"

#include <llvm/Support/Error.h>
#include <llvm/Support/JSON.h>

namespace bt {

llvm::json::Value encodeSignal(const std::optional<SignalInfo> &s);
llvm::json::Value encodeVariables(const std::vector<Variable> &vars);
llvm::json::Value encodeBacktraces(const std::vector<ThreadBacktrace> &threads);
// One thread of encodeBacktraces' array (a snapshot streams them one at a time).
llvm::json::Value encodeBacktrace(const ThreadBacktrace &thread);

// Decoders append to `out` and return an error naming the offending field.
llvm::Error decodeSignal(const llvm::json::Value *v, std::optional<SignalInfo> &out);
llvm::Error decodeVariables(const llvm::json::Value *v, std::vector<Variable> &out);
llvm::Error decodeBacktraces(const llvm::json::Value *v, std::vector<ThreadBacktrace> &out);
// One thread of that array, at `index` in it (the messages name it): a large snapshot's
// threads are decoded one at a time.
llvm::Error decodeBacktrace(const llvm::json::Value &v, size_t index, std::vector<ThreadBacktrace> &out);

// Target bytes as JSON text (invalid UTF-8 replaced by U+FFFD); "" -> null for the second.
std::string jsonText(const std::string &s);
llvm::json::Value jsonTextOrNull(const std::string &s);


}  // namespace bt
