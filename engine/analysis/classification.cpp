#include "analysis/classification.h"

namespace bt {

Classification makeClassification(std::string kind, std::string severity, std::string rule,
                                  std::string reason) {
  Classification c;
  c.kind = std::move(kind);
  c.severity = std::move(severity);
  c.rule = std::move(rule);
  c.reason = std::move(reason);
  return c;
}

llvm::json::Value classificationToJson(const Classification &c) {
  llvm::json::Object o{{"kind", c.kind}};
  if (!c.severity.empty()) o["severity"] = c.severity;
  if (!c.rule.empty()) o["rule"] = c.rule;
  if (!c.reason.empty()) o["reason"] = c.reason;
  if (!c.breakpadRating.empty()) o["breakpad_rating"] = c.breakpadRating;
  if (!c.evidence.empty()) {
    // An array, not an object: the facts keep the order the rule used them in.
    llvm::json::Array ev;
    for (const auto &[k, v] : c.evidence) ev.push_back(llvm::json::Object{{"fact", k}, {"value", v}});
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
  if (auto s = o->getString("breakpad_rating")) c.breakpadRating = s->str();
  if (const llvm::json::Array *ev = o->getArray("evidence"))
    for (const llvm::json::Value &e : *ev)
      if (const llvm::json::Object *fact = e.getAsObject()) {
        auto k = fact->getString("fact");
        auto v = fact->getString("value");
        if (k && v) c.evidence.emplace_back(k->str(), v->str());
      }
  return c;
}

}  // namespace bt
