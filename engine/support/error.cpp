#include "support/error.h"

namespace bt {

char BtError::ID = 0;
char MemoryError::ID = 0;

ErrorReport takeErrorReport(llvm::Error err) {
  ErrorReport report;
  std::string joined;
  llvm::handleAllErrors(std::move(err), [&](const llvm::ErrorInfoBase &e) {
    if (e.isA<BtError>()) {
      const auto *bte = static_cast<const BtError *>(&e);
      if (report.kind == ErrorKind::Generic) report.kind = bte->kind();
      if (e.isA<MemoryError>() && !report.address) {
        const auto *me = static_cast<const MemoryError *>(&e);
        report.address = me->address;
        report.size = me->size;
        report.mapped = me->mapped;
      }
    }
    if (!joined.empty()) joined += "; ";
    joined += e.message();
  });
  report.message = std::move(joined);
  return report;
}

}  // namespace bt
