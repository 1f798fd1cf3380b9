// Project-wide error type: an llvm::ErrorInfo carrying a category, so fronts can map failures to
// exit codes and Python exception types without parsing messages. Never thrown; always returned
// through llvm::Error / llvm::Expected.
#pragma once

#include <llvm/Support/Error.h>
#include <llvm/Support/FormatVariadic.h>

#include <optional>
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
  NotFound = 9,        // a name (variable, type, symbol) the debug information does not have
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

// Target memory that could not be read: where, how much was asked, and whether the address is
// mapped in the process but absent from the source (a snapshot's or core's unrecorded memory),
// which a script treats differently from a wild pointer. Kind BadInput.
class MemoryError : public llvm::ErrorInfo<MemoryError, BtError> {
public:
  static char ID;
  MemoryError(uint64_t address, uint64_t size, bool mapped, std::string msg)
      : ErrorInfo(ErrorKind::BadInput, std::move(msg)), address(address), size(size), mapped(mapped) {}
  uint64_t address, size;
  bool mapped;
};

template <typename... Ts>
llvm::Error makeError(ErrorKind kind, const char *fmt, Ts &&...args) {
  return llvm::make_error<BtError>(kind, llvm::formatv(fmt, std::forward<Ts>(args)...).str());
}

struct ErrorReport {
  ErrorKind kind = ErrorKind::Generic;
  std::string message;
  // Set when the error was a MemoryError: the first unreadable address, the size asked for, and
  // whether that address is mapped (but not captured).
  std::optional<uint64_t> address;
  uint64_t size = 0;
  bool mapped = false;
};

// Consumes the error and returns its category (Generic for foreign errors) and full message.
ErrorReport takeErrorReport(llvm::Error err);

}  // namespace bt
