// What the per-class binding files of the `btengine._btengine` extension share: the Python-side
// handles (each holds the Session it belongs to), the error helpers and the small converters.
// One file per class binds it (session_binding.cpp, thread_binding.cpp, ...); module.cpp puts
// them together.
#pragma once

#include "session.h"

#include "support/error.h"
#include "target/registers.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

namespace bt::pyapi {

namespace py = pybind11;

// The exception types the module defines (set by bindErrors).
extern PyObject *gFormatError, *gClosedError, *gMemoryError;

[[noreturn]] void fail(llvm::Error e);
template <typename T> T take(llvm::Expected<T> v) {
  if (!v) fail(v.takeError());
  return std::move(*v);
}
// Raises ClosedError when the session was closed.
void checkOpen(const std::shared_ptr<Session> &s);

struct PyValue {
  std::shared_ptr<Session> session;
  Value value;
};
struct PyType {
  std::shared_ptr<Session> session;
  const TypeInfo *type;  // owned by the session's ValueSession (its TypeTable)
};
// A Value operation's error as Python expects it: misuse of the wrong kind of value (not a
// pointer, no such field, out of bounds) as TypeError/KeyError/IndexError, the rest as engine
// errors (MemoryError with its address, FormatError, ClosedError).
[[noreturn]] void raiseValueError(llvm::Error e);
template <typename T> T takeValue(llvm::Expected<T> v) {
  if (!v) raiseValueError(v.takeError());
  return std::move(*v);
}
struct PyThread {
  std::shared_ptr<Session> session;
  int tid;
};
struct PyFrame {
  std::shared_ptr<Session> session;
  int tid;
  size_t index;  // in the thread's backtrace
  const Frame &frame() const {
    checkOpen(session);
    for (const ThreadBacktrace &t : session->backtraces())
      if (t.tid == tid) return t.frames.at(index);
    throw std::out_of_range("no such frame");
  }
};
struct PyVariable {
  std::shared_ptr<Session> session;
  Variable var;
};

// The natural Python object for a value: int, bool, float, bytes (char arrays), else None.
py::object natural(const PyValue &pv);
py::dict registersDict(const Registers &r);
py::object signalObject(const std::optional<SignalInfo> &s);
const ThreadInfo &threadInfo(const PyThread &t);
const ThreadBacktrace *threadBacktrace(const PyThread &t);

void bindErrors(py::module_ &m);
void bindSession(py::module_ &m);
void bindThread(py::module_ &m);
void bindFrame(py::module_ &m);
void bindVariable(py::module_ &m);
void bindValue(py::module_ &m);
void bindType(py::module_ &m);
void bindCapture(py::module_ &m);

}  // namespace bt::pyapi
