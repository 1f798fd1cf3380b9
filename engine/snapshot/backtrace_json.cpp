#include "snapshot/backtrace_json.h"

#include "snapshot/backtrace_codec.h"
#include "target/breakpad_ids.h"
#include "target/siginfo.h"

namespace bt {

using JValue = llvm::json::Value;  // bt::Value is the engine's value

JsonFieldList signalFields(const SignalInfo &s, JsonSchema schema) {
  JValue address = s.hasAddress ? JValue(hexU64(s.address)) : JValue(nullptr);
  if (schema == JsonSchema::Backtrace)
    return {{"number", s.signo}, {"name", signalName(s.signo)}, {"code", s.code},
            {"code_name", jsonTextOrNull(signalCodeName(s))},
            {"address", std::move(address)}};
  return {{"number", s.signo}, {"code", s.code}, {"errno", s.err}, {"address", std::move(address)},
          {"sender_pid", s.senderPid}};
}

JsonFieldList variableFields(const Variable &v) {
  return {{"name", jsonText(v.name)},
          {"kind", v.kind},
          {"type", jsonText(v.type)},
          {"value", jsonText(v.value)},
          {"optimized_out", v.optimizedOut},
          {"entry_value", jsonTextOrNull(v.entryValue)},
          {"error", v.error},
          {"address", v.address ? JValue(hexU64(*v.address)) : JValue(nullptr)},
          {"read_after_release", v.readAfterRelease},
          {"highlighted", jsonTextOrNull(v.highlighted)}};
}

JsonFieldList frameFields(const Frame &f, JsonSchema schema) {
  bool stored = schema == JsonSchema::Snapshot;
  JsonFieldList out = {{"index", int64_t(f.index)}, {"pc", hexU64(f.pc)}, {"module", jsonTextOrNull(f.module)}};
  // Stored losslessly; shown as null where there is nothing to show.
  if (stored || !f.module.empty()) out.emplace_back("module_offset", hexU64(f.moduleOffset));
  else out.emplace_back("module_offset", nullptr);
  out.emplace_back("function", jsonTextOrNull(f.function));
  out.emplace_back("file", jsonTextOrNull(f.file));
  if (stored || f.line) out.emplace_back("line", int64_t(f.line));
  else out.emplace_back("line", nullptr);
  if (stored) out.emplace_back("column", int64_t(f.column));
  out.emplace_back("inlined", f.inlined);
  out.emplace_back("how", frameHowName(f.how));
  out.emplace_back("suspect", f.suspect);
  out.emplace_back("signal_frame", f.signalTrampoline);
  out.emplace_back("build_id_mismatch", f.buildIdMismatch);
  if (stored) {
    out.emplace_back("variables_requested", f.variablesRequested);
    out.emplace_back("variables_read", f.variablesRead);
  }
  return out;
}

JsonFieldList threadFields(const ThreadBacktrace &t) {
  return {{"tid", t.tid}, {"name", jsonTextOrNull(t.name)}, {"crashed", t.crashed},
          {"stop_reason", jsonText(t.stopReason)}};
}

JsonFieldList moduleFields(const ModuleInfo &m) {
  return {{"path", jsonText(m.path)},
          {"start", hexU64(m.start)},
          {"end", hexU64(m.end)},
          {"load_bias", hexU64(m.loadBias)},
          {"main_executable", m.isMainExecutable},
          {"build_id", jsonTextOrNull(m.buildId)},
          {"file_build_id", jsonTextOrNull(m.fileBuildId)},
          {"debug_id", jsonTextOrNull(breakpadDebugId(m.buildId))},
          {"code_id", jsonTextOrNull(breakpadCodeId(m.buildId))},
          {"mismatch", m.mismatch},
          {"mismatch_allowed", m.mismatchAllowed}};
}

JsonFieldList instructionFields(const DecodedInstruction &i) {
  auto reg = [](const std::string &r) { return r.empty() ? JValue(nullptr) : JValue(r); };
  auto hexOrNull = [](const std::optional<uint64_t> &v) { return v ? JValue(hexU64(*v)) : JValue(nullptr); };
  return {{"pc", hexU64(i.pc)},
          {"text", jsonText(i.text)},
          {"length", int64_t(i.length)},
          {"access", accessKindName(i.access)},
          {"size", i.accessSize ? JValue(int64_t(i.accessSize)) : JValue(nullptr)},
          {"base", reg(i.base)},
          {"index", reg(i.index)},
          {"scale", i.index.empty() ? JValue(nullptr) : JValue(int64_t(i.scale))},
          {"displacement", i.displacement},
          {"segment", reg(i.segment)},
          {"address", hexOrNull(i.effectiveAddress)},
          {"branch_target", hexOrNull(i.branchTarget)},
          {"description", jsonText(describeAccess(i))}};
}

llvm::json::Object toObject(JsonFieldList fields) {
  llvm::json::Object o;
  for (auto &[k, v] : fields) o[k] = std::move(v);
  return o;
}

}  // namespace bt
