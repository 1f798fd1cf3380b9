// The `btengine._btengine` extension: the engine's Target/threads/frames/variables/values as
// Python objects over a shared Session (python/src/session.h). Engine errors become Python
// exceptions by kind (FileNotFoundError, PermissionError, ProcessLookupError,
// btengine.FormatError, ValueError); objects of a closed target raise btengine.ClosedError.
// Each class is bound in its own file (binding_helpers.h lists them).
#include "binding_helpers.h"

#include "support/version.h"

PYBIND11_MODULE(_btengine, m) {
  using namespace bt::pyapi;
  m.doc() = "btengine's C++ engine (use the `btengine` package, not this module)";
  m.attr("__version__") = bt::kBtVersion;
  bindErrors(m);
  bindSession(m);
  bindThread(m);
  bindFrame(m);
  bindVariable(m);
  bindValue(m);
  bindType(m);
  bindCapture(m);
}
