// Classification: one finding of the analysis about a crash — what kind of fault it is
// ("null-deref", "stack-overflow", ...), how dangerous, why (the rule that fired) and the facts
// it used. Typed here, JSON only at the edges (the snapshot format and `bt show --json`), so a
// classifier, the snapshot and every front agree on one shape.
#pragma once

#include <llvm/Support/JSON.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bt {

struct Classification {
  std::string kind;      // short stable name, e.g. "null-deref"
  // "exploitable", "probably_exploitable", "probably_not_exploitable", "unknown" ("" if none)
  std::string severity;
  std::string rule;      // the rule that fired
  std::string reason;    // one sentence for a person
  std::vector<std::pair<std::string, std::string>> evidence;  // facts the rule used, in order
  // Breakpad's rating of the same crash, "HIGH" / "INTERESTING" / "NONE" (the fault's
  // classification only; "" for others).
  std::string breakpadRating;
};

Classification makeClassification(std::string kind, std::string severity, std::string rule,
                                  std::string reason);

llvm::json::Value classificationToJson(const Classification &c);
// nullopt for anything that is not an object with a string "kind" (skipped by readers: an
// unknown or damaged entry must not cost the rest of a snapshot).
std::optional<Classification> classificationFromJson(const llvm::json::Value &v);

}  // namespace bt
