#include "snapshot/json_fields.h"

#include "snapshot/backtrace_codec.h"

namespace bt {

void JsonFields::fail(llvm::StringRef key, llvm::StringRef wanted) {
  if (!error_->empty()) return;
  std::string where = path_;
  if (!key.empty()) where += (where.empty() ? "" : ".") + key.str();
  *error_ = (where.empty() ? std::string("the document") : where) + ": expected " + wanted.str();
}

const llvm::json::Value *JsonFields::get(llvm::StringRef key, bool nullable) {
  if (!ok() || !obj_) return nullptr;
  const llvm::json::Value *v = obj_->get(key);
  if (!v && nullable) return nullptr;  // optional fields may be absent (older writers)
  if (!v || (v->kind() == llvm::json::Value::Null && !nullable)) {
    fail(key, "a value (missing)");
    return nullptr;
  }
  if (v->kind() == llvm::json::Value::Null) return nullptr;
  return v;
}

std::string JsonFields::str(llvm::StringRef key, bool nullable) {
  const llvm::json::Value *v = get(key, nullable);
  if (!v) return {};
  if (auto s = v->getAsString()) return s->str();
  fail(key, "a string");
  return {};
}

int64_t JsonFields::integer(llvm::StringRef key, int64_t min, int64_t max) {
  const llvm::json::Value *v = get(key, false);
  if (!v) return 0;
  auto i = v->getAsInteger();
  if (!i || *i < min || *i > max) {
    fail(key, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return 0;
  }
  return *i;
}

std::optional<int64_t> JsonFields::optInteger(llvm::StringRef key, int64_t min, int64_t max) {
  if (!ok() || !obj_) return std::nullopt;
  const llvm::json::Value *v = obj_->get(key);
  if (!v || v->kind() == llvm::json::Value::Null) return std::nullopt;
  return integer(key, min, max);
}

bool JsonFields::boolean(llvm::StringRef key) {
  const llvm::json::Value *v = get(key, false);
  if (!v) return false;
  if (auto b = v->getAsBoolean()) return *b;
  fail(key, "true or false");
  return false;
}

bool JsonFields::optBoolean(llvm::StringRef key, bool absent) {
  if (!ok() || !obj_ || !obj_->get(key)) return absent;
  return boolean(key);
}

uint64_t JsonFields::hex(llvm::StringRef key) {
  std::string s = str(key);
  uint64_t out = 0;
  if (ok() && !parseHexU64(s, out)) fail(key, "a hexadecimal number (\"0x...\")");
  return out;
}

std::optional<uint64_t> JsonFields::optHex(llvm::StringRef key) {
  if (!ok() || !obj_) return std::nullopt;
  const llvm::json::Value *v = obj_->get(key);
  if (!v || v->kind() == llvm::json::Value::Null) return std::nullopt;
  return hex(key);
}

double JsonFields::number(llvm::StringRef key) {
  const llvm::json::Value *v = get(key, false);
  if (!v) return 0;
  if (auto d = v->getAsNumber()) return *d;
  fail(key, "a number");
  return 0;
}

const llvm::json::Array *JsonFields::array(llvm::StringRef key, bool nullable) {
  const llvm::json::Value *v = get(key, nullable);
  if (!v) return nullptr;
  if (const llvm::json::Array *a = v->getAsArray()) return a;
  fail(key, "an array");
  return nullptr;
}

const llvm::json::Value *JsonFields::value(llvm::StringRef key) {
  if (!ok() || !obj_) return nullptr;
  return obj_->get(key);
}

}  // namespace bt
