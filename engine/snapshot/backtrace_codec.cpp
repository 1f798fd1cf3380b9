#include "snapshot/backtrace_codec.h"

#include "snapshot/backtrace_json.h"
#include "snapshot/json_fields.h"
#include "support/error.h"

#include <cinttypes>

namespace bt {

using llvm::json::Array;
using llvm::json::Object;
using JValue = llvm::json::Value;  // bt::Value is the engine's value


// Names and values are target bytes, not necessarily UTF-8: JSON needs UTF-8.
std::string jsonText(const std::string &s) {
  return llvm::json::isUTF8(s) ? s : llvm::json::fixUTF8(s);
}

JValue jsonTextOrNull(const std::string &s) {
  if (s.empty()) return nullptr;
  return jsonText(s);
}


JValue encodeSignal(const std::optional<SignalInfo> &s) {
  if (!s) return nullptr;
  return toObject(signalFields(*s, JsonSchema::Snapshot));
}

JValue encodeVariables(const std::vector<Variable> &vars) {
  Array out;
  for (const Variable &v : vars) out.push_back(toObject(variableFields(v)));
  return out;
}

JValue encodeBacktrace(const ThreadBacktrace &t) {
  Array frames;
  for (const Frame &f : t.frames) {
    Object fo = toObject(frameFields(f, JsonSchema::Snapshot));
    fo["variables"] = encodeVariables(f.variables);
    frames.push_back(std::move(fo));
  }
  Object to = toObject(threadFields(t));
  to["signal"] = encodeSignal(t.signal);
  to["frames"] = std::move(frames);
  return to;
}

JValue encodeBacktraces(const std::vector<ThreadBacktrace> &threads) {
  Array out;
  for (const ThreadBacktrace &t : threads) out.push_back(encodeBacktrace(t));
  return out;
}

// The caller (the snapshot reader) names the file.
static llvm::Error bad(const std::string &what) { return makeError(ErrorKind::BadInput, "{0}", what); }

llvm::Error decodeSignal(const JValue *v, std::optional<SignalInfo> &out) {
  out.reset();
  if (!v || v->kind() == JValue::Null) return llvm::Error::success();
  std::string err;
  JsonFields f(v, "signal", &err);
  SignalInfo s;
  s.signo = int(f.integer("number", 0, 128));
  s.code = int(f.integer("code", INT32_MIN, INT32_MAX));
  s.err = int(f.integer("errno", INT32_MIN, INT32_MAX));
  if (auto a = f.optHex("address")) {
    s.address = *a;
    s.hasAddress = true;
  }
  s.senderPid = int(f.integer("sender_pid", INT32_MIN, INT32_MAX));
  if (!err.empty()) return bad(err);
  out = s;
  return llvm::Error::success();
}

static bool decodeVariableList(const Array *a, const std::string &path, std::string &err,
                               std::vector<Variable> &out) {
  if (!a) return err.empty();
  for (size_t i = 0; i < a->size() && err.empty(); ++i) {
    JsonFields f(&(*a)[i], path + "[" + std::to_string(i) + "]", &err);
    Variable v;
    v.name = f.str("name");
    v.kind = f.str("kind");
    v.type = f.str("type");
    v.value = f.str("value");
    v.optimizedOut = f.boolean("optimized_out");
    v.error = f.boolean("error");
    v.entryValue = f.str("entry_value", /*nullable=*/true);
    v.address = f.optHex("address");
    if (const llvm::json::Value *h = f.value("highlighted"))  // absent before format 1.x
      if (auto s = h->getAsString()) v.highlighted = s->str();
    if (const llvm::json::Value *r = f.value("read_after_release"))  // absent in older snapshots
      v.readAfterRelease = r->getAsBoolean().value_or(false);
    if (err.empty() && v.kind != "param" && v.kind != "local" && v.kind != "global")
      f.fail("kind", "\"param\", \"local\" or \"global\"");
    out.push_back(std::move(v));
  }
  return err.empty();
}

llvm::Error decodeVariables(const JValue *v, std::vector<Variable> &out) {
  std::string err;
  const Array *a = v ? v->getAsArray() : nullptr;
  if (!a) return bad("globals: expected an array");
  if (!decodeVariableList(a, "globals", err, out)) return bad(err);
  return llvm::Error::success();
}

static bool parseHow(llvm::StringRef s, FrameHow &out) {
  for (FrameHow h : {FrameHow::Context, FrameHow::Cfi, FrameHow::FramePointer, FrameHow::Scan,
                     FrameHow::TailCall})
    if (s == frameHowName(h)) {
      out = h;
      return true;
    }
  return false;
}

llvm::Error decodeBacktrace(const JValue &v, size_t index, std::vector<ThreadBacktrace> &out) {
  std::string err;
  std::string path = "backtraces[" + std::to_string(index) + "]";
  JsonFields t(&v, path, &err);
  ThreadBacktrace tb;
  tb.tid = int(t.integer("tid", 0, INT32_MAX));
  tb.name = t.str("name", true);
  tb.crashed = t.boolean("crashed");
  tb.stopReason = t.str("stop_reason");
  if (err.empty())
    if (llvm::Error e = decodeSignal(t.value("signal"), tb.signal)) return e;
  const Array *frames = t.array("frames");
  for (size_t k = 0; frames && k < frames->size() && err.empty(); ++k) {
    std::string fpath = path + ".frames[" + std::to_string(k) + "]";
    JsonFields f(&(*frames)[k], fpath, &err);
    Frame fr;
    fr.index = size_t(f.integer("index", 0, INT32_MAX));
    fr.pc = f.hex("pc");
    fr.module = f.str("module", true);
    fr.moduleOffset = f.hex("module_offset");
    fr.function = f.str("function", true);
    fr.file = f.str("file", true);
    fr.line = uint32_t(f.integer("line", 0, UINT32_MAX));
    fr.column = uint32_t(f.integer("column", 0, UINT32_MAX));
    fr.inlined = f.boolean("inlined");
    std::string how = f.str("how");
    if (err.empty() && !parseHow(how, fr.how)) f.fail("how", "a frame kind");
    fr.suspect = f.boolean("suspect");
    fr.signalTrampoline = f.boolean("signal_frame");
    fr.buildIdMismatch = f.optBoolean("build_id_mismatch", false);
    fr.variablesRequested = f.boolean("variables_requested");
    fr.variablesRead = f.boolean("variables_read");
    decodeVariableList(f.array("variables"), fpath + ".variables", err, fr.variables);
    tb.frames.push_back(std::move(fr));
  }
  out.push_back(std::move(tb));
  if (!err.empty()) return bad(err);
  return llvm::Error::success();
}

llvm::Error decodeBacktraces(const JValue *v, std::vector<ThreadBacktrace> &out) {
  const Array *threads = v ? v->getAsArray() : nullptr;
  if (!threads) return bad("backtraces: expected an array");
  for (size_t i = 0; i < threads->size(); ++i)
    if (llvm::Error e = decodeBacktrace((*threads)[i], i, out)) return e;
  return llvm::Error::success();
}

}  // namespace bt
