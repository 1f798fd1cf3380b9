// Project-wide error type: an llvm::ErrorInfo carrying a category, so fronts can map failures to
// exit codes and Python exception types without parsing messages. Never thrown; always returned
// through llvm::Error / llvm::Expected.
#pragma once

#include <llvm/Support/Error.h>
#include <llvm/Support/FormatVariadic.h>

#include <string>

namespace bt {

enum class ErrorKind {
  Generic = 1,
  Usage = 2,
  NoSuchProcess = 3,
  PermissionDenied = 4,
  BadInput = 5,        // not a core file, garbage
  Truncated = 6,       // truncated core / file
  MissingFile = 7,     // executable or module not found
  Closed = 8,          // the target was closed (a library user kept an object past its close)
};

class BtError : public llvm::ErrorInfo<BtError> {
public:
  static char ID;
  BtError(ErrorKind kind, std::string msg) : kind_(kind), msg_(std::move(msg)) {}
  void log(llvm::raw_ostream &os) const override { os << msg_; }
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }
  ErrorKind kind() const { return kind_; }

private:
  ErrorKind kind_;
  std::string msg_;
};

template <typename... Ts>
llvm::Error makeError(ErrorKind kind, const char *fmt, Ts &&...args) {
  return llvm::make_error<BtError>(kind, llvm::formatv(fmt, std::forward<Ts>(args)...).str());
}

struct ErrorReport {
  ErrorKind kind = ErrorKind::Generic;
  std::string message;
};

// Consumes the error and returns its category (Generic for foreign errors) and full message.
ErrorReport takeErrorReport(llvm::Error err);

}  // namespace bt
