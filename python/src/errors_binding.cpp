// Engine errors as Python exceptions, by kind (FormatError and ClosedError are the module's own).
#include "binding_helpers.h"

namespace bt::pyapi {

void bindErrors(py::module_ &m) {
  static py::exception<std::runtime_error> formatError(m, "FormatError", PyExc_ValueError);
  static py::exception<std::runtime_error> closedError(m, "ClosedError", PyExc_ValueError);
  gFormatError = formatError.ptr();
  gClosedError = closedError.ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bt::pyapi::EngineError &e) {
      PyObject *type = PyExc_RuntimeError;
      std::string msg = e.what();
      switch (e.kind) {
        case ErrorKind::NoSuchProcess: type = PyExc_ProcessLookupError; break;
        case ErrorKind::PermissionDenied: type = PyExc_PermissionError; break;
        case ErrorKind::MissingFile: type = PyExc_FileNotFoundError; break;
        case ErrorKind::BadInput: case ErrorKind::Truncated: type = gFormatError; break;
        case ErrorKind::Closed:
          type = gClosedError;
          msg = "the target is closed (the Process was closed or its `with` block ended)";
          break;
        case ErrorKind::Usage: type = PyExc_ValueError; break;
        default: break;
      }
      PyErr_SetString(type, msg.c_str());
    }
  });
}

}  // namespace bt::pyapi
