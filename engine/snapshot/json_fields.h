// JsonFields: typed, validated access to the fields of a JSON object read from an untrusted
// snapshot. The first problem is remembered with the field's path ("threads[2].frames[0].pc")
// and every later access is a no-op, so decoders read straight through and check once.
#pragma once

#include <llvm/Support/JSON.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bt {

class JsonFields {
public:
  JsonFields(const llvm::json::Value *v, std::string path, std::string *error)
      : obj_(v ? v->getAsObject() : nullptr), path_(std::move(path)), error_(error) {
    if (!obj_) fail("", "an object");
  }
  bool ok() const { return error_->empty(); }
  const llvm::json::Object *object() const { return obj_; }
  const std::string &path() const { return path_; }

  std::string str(llvm::StringRef key, bool nullable = false);
  int64_t integer(llvm::StringRef key, int64_t min, int64_t max);
  std::optional<int64_t> optInteger(llvm::StringRef key, int64_t min, int64_t max);
  bool boolean(llvm::StringRef key);
  bool optBoolean(llvm::StringRef key, bool absent);  // a field older writers did not write
  uint64_t hex(llvm::StringRef key);                  // "0x..." string
  std::optional<uint64_t> optHex(llvm::StringRef key);  // "0x..." or null/absent
  double number(llvm::StringRef key);
  const llvm::json::Array *array(llvm::StringRef key, bool nullable = false);
  const llvm::json::Value *value(llvm::StringRef key);  // any value, null if absent
  void fail(llvm::StringRef key, llvm::StringRef wanted);

private:
  const llvm::json::Value *get(llvm::StringRef key, bool nullable);

  const llvm::json::Object *obj_;
  std::string path_;
  std::string *error_;
};

}  // namespace bt
