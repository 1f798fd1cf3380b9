#include "snapshot/plugin_report.h"

#include "snapshot/json_fields.h"
#include "support/error.h"

#include <llvm/Support/Format.h>

#include <algorithm>

namespace bt {

using llvm::json::Array;
using llvm::json::Object;
using JValue = llvm::json::Value;

namespace {

JValue textOrNull(const std::string &s) { return s.empty() ? JValue(nullptr) : JValue(s); }

// Strings from a plugin are Python's str: valid UTF-8, but check, as for any untrusted input.
std::string utf8(std::string s) { return llvm::json::isUTF8(s) ? s : llvm::json::fixUTF8(s); }

}  // namespace

JValue pluginReportToJson(const PluginReport &r) {
  Array plugins, classifications, annotations, highlighted, errors, variables;
  for (const auto &p : r.plugins) plugins.push_back(Object{{"name", p.name}, {"origin", p.origin}});
  for (const Classification &c : r.classifications) classifications.push_back(classificationToJson(c));
  Object attributes;
  for (const auto &[k, v] : r.attributes) attributes[k] = v;
  for (const auto &a : r.annotations)
    annotations.push_back(Object{{"plugin", a.plugin}, {"thread", a.tid}, {"frame", a.frame},
                                 {"variable", textOrNull(a.variable)}, {"text", a.text}});
  for (const auto &h : r.highlighted)
    highlighted.push_back(Object{{"thread", h.tid}, {"frame", h.frame}, {"variable", h.variable}, {"why", h.why}});
  for (const auto &e : r.errors)
    errors.push_back(Object{{"plugin", e.plugin}, {"function", e.function}, {"kind", e.kind},
                            {"message", e.message}});
  for (const auto &v : r.variables)
    variables.push_back(Object{{"thread", v.tid}, {"frame", v.frame}, {"variable", v.variable}, {"text", v.text}});
  JValue severity = nullptr;
  if (r.severity)
    severity = Object{{"severity", r.severity->severity}, {"plugin", r.severity->plugin},
                      {"reason", r.severity->reason}};
  return Object{{"schema", "btengine.plugins/1"},
                {"plugins", std::move(plugins)},
                {"classifications", std::move(classifications)},
                {"severity_override", std::move(severity)},
                {"attributes", std::move(attributes)},
                {"annotations", std::move(annotations)},
                {"highlighted", std::move(highlighted)},
                {"plugin_errors", std::move(errors)},
                {"variables", std::move(variables)},
                {"plugin_ms", r.ms}};
}

llvm::Expected<PluginReport> pluginReportFromJson(const JValue &v) {
  std::string err;
  JsonFields top(&v, "plugins", &err);
  PluginReport r;
  constexpr int64_t kTid = INT32_MAX;
  auto each = [&](llvm::StringRef key, auto fn) {
    const Array *a = top.array(key);
    if (!a) return;
    for (size_t i = 0; i < a->size() && err.empty(); ++i) {
      JsonFields f(&(*a)[i], "plugins." + key.str() + "[" + std::to_string(i) + "]", &err);
      fn(f);
    }
  };
  each("plugins", [&](JsonFields &f) { r.plugins.push_back({utf8(f.str("name")), utf8(f.str("origin"))}); });
  if (const Array *cls = top.array("classifications"))
    for (const JValue &c : *cls)
      if (std::optional<Classification> k = classificationFromJson(c)) r.classifications.push_back(*k);
  if (const JValue *s = top.value("severity_override"); s && s->kind() != JValue::Null) {
    JsonFields f(s, "plugins.severity_override", &err);
    r.severity = PluginReport::Severity{f.str("severity"), utf8(f.str("plugin")), utf8(f.str("reason"))};
  }
  if (const JValue *a = top.value("attributes")) {
    const Object *o = a->getAsObject();
    if (!o) top.fail("attributes", "an object");
    else
      for (const auto &[k, val] : *o)
        if (auto s = val.getAsString()) r.attributes.emplace_back(utf8(k.str()), utf8(s->str()));
    std::sort(r.attributes.begin(), r.attributes.end());
  }
  each("annotations", [&](JsonFields &f) {
    r.annotations.push_back({utf8(f.str("plugin")), int(f.integer("thread", -1, kTid)),
                             int(f.integer("frame", -1, kTid)), utf8(f.str("variable", true)),
                             utf8(f.str("text"))});
  });
  each("highlighted", [&](JsonFields &f) {
    r.highlighted.push_back({int(f.integer("thread", -1, kTid)), int(f.integer("frame", -1, kTid)),
                             utf8(f.str("variable")), utf8(f.str("why"))});
  });
  each("plugin_errors", [&](JsonFields &f) {
    r.errors.push_back({utf8(f.str("plugin")), utf8(f.str("function")), f.str("kind"), utf8(f.str("message"))});
  });
  each("variables", [&](JsonFields &f) {
    r.variables.push_back({int(f.integer("thread", -1, kTid)), int(f.integer("frame", -1, kTid)),
                           utf8(f.str("variable")), utf8(f.str("text"))});
  });
  if (top.value("plugin_ms")) r.ms = top.number("plugin_ms");
  if (!err.empty()) return makeError(ErrorKind::BadInput, "plugin results: {0}", err);
  return r;
}

void applyPluginReport(const PluginReport &r, std::vector<ThreadBacktrace> &threads) {
  auto find = [&](int tid, int frame, const std::string &name) -> Variable * {
    for (ThreadBacktrace &t : threads) {
      if (t.tid != tid) continue;
      for (Frame &f : t.frames)
        if (int(f.index) == frame)
          for (Variable &v : f.variables)
            if (v.name == name) return &v;
    }
    return nullptr;
  };
  for (const auto &p : r.variables)
    if (Variable *v = find(p.tid, p.frame, p.variable)) v->value = p.text;
  for (const auto &h : r.highlighted)
    if (Variable *v = find(h.tid, h.frame, h.variable); v && v->highlighted.empty()) v->highlighted = h.why;
}

void printPluginReportText(llvm::raw_ostream &os, const PluginReport &r,
                           const std::vector<ThreadBacktrace> &threads) {
  auto frameName = [&](int tid, int frame) -> std::string {
    for (const ThreadBacktrace &t : threads)
      if (t.tid == tid)
        for (const Frame &f : t.frames)
          if (int(f.index) == frame)
            return "thread " + std::to_string(tid) + " #" + std::to_string(frame) + " " +
                   (f.function.empty() ? std::string("??") : f.function);
    return "thread " + std::to_string(tid) + " #" + std::to_string(frame);
  };
  os << "Plugins:";
  if (r.plugins.empty()) os << " none loaded";
  for (size_t i = 0; i < r.plugins.size(); ++i) os << (i ? ", " : " ") << r.plugins[i].name;
  os << llvm::format(" (%.0f ms)\n", r.ms);
  for (const Classification &c : r.classifications) {
    os << "  " << c.kind << " (" << c.severity << ") " << c.rule << ": " << c.reason << "\n";
    for (const auto &[k, v] : c.evidence) os << "    " << k << ": " << v << "\n";
  }
  if (r.severity)
    os << "  severity set to " << r.severity->severity << " by " << r.severity->plugin << ": "
       << r.severity->reason << "\n";
  for (const auto &[k, v] : r.attributes) os << "  attribute " << k << " = " << v << "\n";
  // Notes on frames bt prints go under those frames (printBacktraceText); the rest here.
  for (const auto &a : r.annotations) {
    bool shown = false;
    for (const ThreadBacktrace &t : threads)
      for (const Frame &f : t.frames) shown |= t.tid == a.tid && int(f.index) == a.frame;
    if (!shown)
      os << "  " << frameName(a.tid, a.frame) << (a.variable.empty() ? "" : " " + a.variable) << ": " << a.text
         << " [" << a.plugin << "]\n";
  }
  for (const auto &e : r.errors)
    os << "  error: plugin " << e.plugin << ", " << e.function << ": " << e.kind << ": " << e.message << "\n";
}

}  // namespace bt
