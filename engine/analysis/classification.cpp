#include "analysis/classification.h"

namespace bt {

llvm::json::Value classificationToJson(const Classification &c) {
  llvm::json::Object o{{"kind", c.kind}};
  if (!c.severity.empty()) o["severity"] = c.severity;
  if (!c.rule.empty()) o["rule"] = c.rule;
  if (!c.reason.empty()) o["reason"] = c.reason;
  if (!c.evidence.empty()) {
    llvm::json::Object ev;
    for (const auto &[k, v] : c.evidence) ev[k] = v;
    o["evidence"] = std::move(ev);
  }
  return o;
}

std::optional<Classification> classificationFromJson(const llvm::json::Value &v) {
  const llvm::json::Object *o = v.getAsObject();
  if (!o) return std::nullopt;
  std::optional<llvm::StringRef> kind = o->getString("kind");
  if (!kind) return std::nullopt;
  Classification c;
  c.kind = kind->str();
  if (auto s = o->getString("severity")) c.severity = s->str();
  if (auto s = o->getString("rule")) c.rule = s->str();
  if (auto s = o->getString("reason")) c.reason = s->str();
  if (const llvm::json::Object *ev = o->getObject("evidence"))
    for (const auto &kv : *ev)
      if (auto s = kv.second.getAsString()) c.evidence.emplace_back(kv.first.str(), s->str());
  return c;
}

}  // namespace bt
