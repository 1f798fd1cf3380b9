// The JSON shape of a backtrace's parts — signal, frame, variable — defined once for both JSON
// documents btengine writes: the public `bt --json` schema (btengine.backtrace/2,
// docs/json-output.md) and the snapshot's stored document (docs/snapshot-format.md), so the two
// cannot drift. Each function returns the entity's scalar fields in schema order; nesting
// (a frame's variables, a thread's frames) is left to the writer, which keeps the public
// output's field order (llvm::json::Object would sort it).
#pragma once

#include "analysis/instruction_decoder.h"
#include "unwind/backtrace.h"

#include <llvm/Support/JSON.h>

#include <string>
#include <utility>
#include <vector>

namespace bt {

enum class JsonSchema {
  Backtrace,  // `bt --json`, `bt show --json`: what a person or a script reads
  Snapshot,   // the snapshot's document: everything needed to print it again, losslessly
};

using JsonFieldList = std::vector<std::pair<std::string, llvm::json::Value>>;

JsonFieldList signalFields(const SignalInfo &s, JsonSchema schema);
JsonFieldList variableFields(const Variable &v);  // the same in both schemas
JsonFieldList frameFields(const Frame &f, JsonSchema schema);  // without "variables"
JsonFieldList threadFields(const ThreadBacktrace &t);  // tid, name, crashed, stop_reason
// A module as `bt --json` shows it: both build-ids (the process's, the file's here) and whether
// they differ.
JsonFieldList moduleFields(const ModuleInfo &m);
// The crashing instruction (`analysis.instruction` in `bt --json`).
JsonFieldList instructionFields(const DecodedInstruction &i);

llvm::json::Object toObject(JsonFieldList fields);

}  // namespace bt
