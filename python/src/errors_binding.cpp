// Engine errors as Python exceptions, by kind. btengine's own exception classes are defined in
// Python (btengine/_errors.py), so that `import btengine` need not load this extension.
#include "binding_helpers.h"

namespace bt::pyapi {

void bindErrors(py::module_ &m) {
  py::module_ errors = py::module_::import("btengine._errors");
  // Held for the interpreter's lifetime (the translator runs until it exits).
  gFormatError = py::object(errors.attr("FormatError")).release().ptr();
  gClosedError = py::object(errors.attr("ClosedError")).release().ptr();
  gMemoryError = py::object(errors.attr("MemoryError")).release().ptr();
  m.attr("FormatError") = py::handle(gFormatError);
  m.attr("ClosedError") = py::handle(gClosedError);
  m.attr("MemoryError") = py::handle(gMemoryError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bt::pyapi::EngineError &e) {
      PyObject *type = PyExc_RuntimeError;
      std::string msg = e.what();
      if (e.report.address) {
        // btengine.MemoryError(message, address, size, mapped)
        py::object err = py::reinterpret_borrow<py::object>(gMemoryError)(
            msg, *e.report.address, e.report.size, e.report.mapped);
        PyErr_SetObject(gMemoryError, err.ptr());
        return;
      }
      switch (e.kind) {
        case ErrorKind::NoSuchProcess: type = PyExc_ProcessLookupError; break;
        case ErrorKind::PermissionDenied: type = PyExc_PermissionError; break;
        case ErrorKind::MissingFile: type = PyExc_FileNotFoundError; break;
        case ErrorKind::BadInput: case ErrorKind::Truncated: type = gFormatError; break;
        case ErrorKind::NotFound: type = PyExc_KeyError; break;
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
