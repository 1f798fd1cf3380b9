// The `btengine._btengine` extension: the engine's Target/threads/frames/variables/values as
// Python objects over a shared Session (python/src/session.h). Engine errors become Python
// exceptions by kind (FileNotFoundError, PermissionError, ProcessLookupError,
// btengine.FormatError, ValueError); objects of a closed target raise btengine.ClosedError.
#include "session.h"

#include "snapshot/capture.h"
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"
#include "support/error.h"
#include "support/version.h"
#include "target/registers.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <csignal>

namespace py = pybind11;
using namespace bt;
using bt::pyapi::Session;

namespace {

PyObject *gFormatError = nullptr, *gClosedError = nullptr;

[[noreturn]] void fail(llvm::Error e) { bt::pyapi::raise(std::move(e)); }

template <typename T> T take(llvm::Expected<T> v) {
  if (!v) fail(v.takeError());
  return std::move(*v);
}

struct PyValue {
  std::shared_ptr<Session> session;
  Value value;
};

void checkOpen(const std::shared_ptr<Session> &s) {
  if (s->closed()) throw bt::pyapi::EngineError({ErrorKind::Closed, "closed"});
}

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
  return b;
}

// The natural Python object for a value: int, bool, float, bytes (char arrays), else None.
py::object natural(const PyValue &pv) {
  const TypeInfo *t = resolveType(&pv.value.type());
  using K = TypeInfo::Kind;
  using E = TypeInfo::Encoding;
  if (t->kind == K::Base) {
    if (t->encoding == E::Float) return py::float_(take(pv.value.asDouble()));
    if (t->encoding == E::Bool) return py::bool_(take(pv.value.asUnsigned()) != 0);
    if (t->encoding == E::Signed || t->encoding == E::SignedChar)
      return py::int_(take(pv.value.asSigned()));
    return py::int_(take(pv.value.asUnsigned()));
  }
  if (t->kind == K::Enum) {
    bool isSigned = t->target && resolveType(t->target)->encoding == E::Signed;
    return isSigned ? py::int_(take(pv.value.asSigned())) : py::int_(take(pv.value.asUnsigned()));
  }
  if (t->kind == K::Pointer || t->kind == K::Reference || t->kind == K::RValueReference)
    return py::int_(take(pv.value.asUnsigned()));
  if (t->kind == K::Array) {
    const TypeInfo *e = resolveType(t->target);
    if (e && e->kind == K::Base && e->size == 1) return py::bytes(pv.value.bytes());
  }
  return py::none();
}

py::dict registersDict(const Registers &r) {
  const uint64_t *v = userRegWords(r);
  py::dict d;
  for (int i = 0; i < kNumUserRegs; ++i) d[kUserRegNames[i]] = v[i];
  return d;
}

py::object signalObject(const std::optional<SignalInfo> &s) {
  if (!s) return py::none();
  py::object ns = py::module_::import("types").attr("SimpleNamespace");
  return ns(py::arg("number") = s->signo, py::arg("name") = std::string(signalName(s->signo)),
            py::arg("code") = s->code,
            py::arg("address") = s->hasAddress ? py::object(py::int_(s->address)) : py::none(),
            py::arg("sender_pid") = s->senderPid ? py::object(py::int_(s->senderPid)) : py::none());
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

const ThreadInfo &threadInfo(const PyThread &t) {
  checkOpen(t.session);
  for (const ThreadInfo &ti : t.session->target().threads())
    if (ti.tid == t.tid) return ti;
  throw std::out_of_range("no such thread");
}

const ThreadBacktrace *threadBacktrace(const PyThread &t) {
  checkOpen(t.session);
  for (const ThreadBacktrace &b : t.session->backtraces())
    if (b.tid == t.tid) return &b;
  return nullptr;
}

}  // namespace

PYBIND11_MODULE(_btengine, m) {
  m.doc() = "btengine's C++ engine (use the `btengine` package, not this module)";
  m.attr("__version__") = bt::kBtVersion;
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

  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_static("open_file", &Session::openFile, py::arg("path"), py::arg("exe") = "",
                  py::arg("debug_dirs") = std::vector<std::string>{})
      .def_static("attach", &Session::attach, py::arg("pid"),
                  py::arg("debug_dirs") = std::vector<std::string>{})
      .def("close", &Session::close)
      .def_property_readonly("closed", &Session::closed)
      .def_property_readonly("kind", &Session::kind)
      .def_property_readonly("pid", [](Session &s) { return s.target().process().pid; })
      .def_property_readonly("executable", [](Session &s) { return s.target().process().executable; })
      .def_property_readonly("command_line", [](Session &s) { return s.target().process().commandLine; })
      .def_property_readonly("signal", [](Session &s) { return signalObject(s.target().signal()); })
      .def_property_readonly("crashed_tid", [](Session &s) { return s.target().crashedTid(); })
      .def_property_readonly("thread_ids", [](Session &s) {
        std::vector<int> out;
        for (const ThreadInfo &t : s.target().threads()) out.push_back(t.tid);
        return out;
      })
      .def_property_readonly("modules", [](Session &s) {
        py::list out;
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        for (const ModuleInfo &mi : s.target().modules())
          out.append(ns(py::arg("path") = mi.path, py::arg("build_id") = mi.buildId,
                        py::arg("start") = mi.start, py::arg("end") = mi.end,
                        py::arg("load_bias") = mi.loadBias, py::arg("main") = mi.isMainExecutable));
        return out;
      })
      .def_property_readonly("regions", [](Session &s) {
        py::list out;
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        for (const MemoryRegion &r : s.target().regions()) {
          std::string perms = std::string(r.perms & PermRead ? "r" : "-") + (r.perms & PermWrite ? "w" : "-") +
                              (r.perms & PermExec ? "x" : "-") + (r.perms & PermShared ? "s" : "p");
          out.append(ns(py::arg("start") = r.start, py::arg("end") = r.end, py::arg("perms") = perms,
                        py::arg("offset") = r.fileOffset, py::arg("path") = r.path));
        }
        return out;
      })
      .def("read", [](Session &s, uint64_t addr, uint64_t n) {
        if (n > (64u << 20)) throw py::value_error("read at most 64 MiB at once");
        std::string buf(n, '\0');
        // The GIL is kept: close() from another thread would destroy the target mid-read.
        size_t got = n ? s.target().readMemory(addr, buf.data(), n) : 0;
        if (got != n)
          throw bt::pyapi::EngineError({ErrorKind::BadInput, "Cannot access memory at address " + hex(addr + got)});
        return py::bytes(buf);
      })
      .def_property_readonly("attributes", [](Session &s) {
        py::dict d;
        if (s.snapshot())
          for (const auto &[k, v] : s.snapshot()->attributes) d[py::str(k)] = v;
        return d;
      })
      .def_property_readonly("fingerprint", [](Session &s) -> py::object {
        if (s.snapshot()) return py::str(s.snapshot()->fingerprint);
        return py::none();
      })
      .def("thread", [](std::shared_ptr<Session> s, int tid) {
        checkOpen(s);
        for (const ThreadInfo &t : s->target().threads())
          if (t.tid == tid) return PyThread{s, tid};
        throw py::key_error("no thread " + std::to_string(tid));
      });

  py::class_<PyThread>(m, "Thread")
      .def_property_readonly("tid", [](const PyThread &t) { return t.tid; })
      .def_property_readonly("name", [](const PyThread &t) { return threadInfo(t).name; })
      .def_property_readonly("crashed", [](const PyThread &t) {
        auto c = t.session->target().crashedTid();
        return c && *c == t.tid;
      })
      .def_property_readonly("registers", [](const PyThread &t) { return registersDict(threadInfo(t).regs); })
      .def_property_readonly("signal", [](const PyThread &t) { return signalObject(threadInfo(t).signal); })
      .def_property_readonly("stop_reason", [](const PyThread &t) {
        const ThreadBacktrace *b = threadBacktrace(t);
        return b ? b->stopReason : std::string();
      })
      .def_property_readonly("frame_count", [](const PyThread &t) {
        const ThreadBacktrace *b = threadBacktrace(t);
        return b ? b->frames.size() : size_t(0);
      })
      .def("frame", [](const PyThread &t, size_t i) {
        const ThreadBacktrace *b = threadBacktrace(t);
        if (!b || i >= b->frames.size()) throw py::index_error("no frame " + std::to_string(i));
        return PyFrame{t.session, t.tid, i};
      });

  py::class_<PyFrame>(m, "Frame")
      .def_property_readonly("index", [](const PyFrame &f) { return f.frame().index; })
      .def_property_readonly("pc", [](const PyFrame &f) { return f.frame().pc; })
      .def_property_readonly("function", [](const PyFrame &f) -> py::object {
        const Frame &fr = f.frame();  // as bt --json: the trampoline's symbol, signal_frame set
        return fr.function.empty() ? py::object(py::none()) : py::str(fr.function);
      })
      .def_property_readonly("file", [](const PyFrame &f) -> py::object {
        const Frame &fr = f.frame();
        return fr.file.empty() ? py::object(py::none()) : py::str(fr.file);
      })
      .def_property_readonly("line", [](const PyFrame &f) -> py::object {
        const Frame &fr = f.frame();
        return fr.line ? py::object(py::int_(fr.line)) : py::none();
      })
      .def_property_readonly("module", [](const PyFrame &f) -> py::object {
        const Frame &fr = f.frame();
        return fr.module.empty() ? py::object(py::none()) : py::str(fr.module);
      })
      .def_property_readonly("module_offset", [](const PyFrame &f) { return f.frame().moduleOffset; })
      .def_property_readonly("inlined", [](const PyFrame &f) { return f.frame().inlined; })
      .def_property_readonly("suspect", [](const PyFrame &f) { return f.frame().suspect; })
      .def_property_readonly("signal_frame", [](const PyFrame &f) { return f.frame().signalTrampoline; })
      .def_property_readonly("how", [](const PyFrame &f) { return std::string(frameHowName(f.frame().how)); })
      .def_property_readonly("registers", [](const PyFrame &f) -> py::object {
        // The physical frame's registers as the unwinder recovered them (None: unknown).
        const Frame &fr = f.frame();
        const ThreadBacktrace *b = nullptr;
        for (const ThreadBacktrace &t : f.session->backtraces())
          if (t.tid == f.tid) b = &t;
        size_t physical = 0;
        for (size_t i = 0; b && i < f.index; ++i) physical += !b->frames[i].inlined;
        std::optional<FrameRegs> regs = f.session->frameRegisters(f.tid, physical);
        if (!regs || fr.pc != regs->pc()) return py::none();
        py::dict d;
        for (int r = 0; r < kNumDwarfRegs; ++r)
          d[dwarfRegName(r)] = regs->has(r) ? py::object(py::int_(regs->val[size_t(r)])) : py::none();
        return d;
      })
      .def_property_readonly("variables", [](const PyFrame &f) {
        py::list out;
        for (const Variable &v : f.frame().variables) out.append(PyVariable{f.session, v});
        return out;
      })
      .def_property_readonly("variables_read", [](const PyFrame &f) { return f.frame().variablesRead; });

  py::class_<PyVariable>(m, "Variable")
      .def_property_readonly("name", [](const PyVariable &v) { checkOpen(v.session); return v.var.name; })
      .def_property_readonly("kind", [](const PyVariable &v) { checkOpen(v.session); return v.var.kind; })
      .def_property_readonly("type", [](const PyVariable &v) { checkOpen(v.session); return v.var.type; })
      .def_property_readonly("text", [](const PyVariable &v) { checkOpen(v.session); return v.var.value; })
      .def_property_readonly("entry_value", [](const PyVariable &v) -> py::object { checkOpen(v.session);
        return v.var.entryValue.empty() ? py::object(py::none()) : py::str(v.var.entryValue);
      })
      .def_property_readonly("optimized_out", [](const PyVariable &v) { checkOpen(v.session); return v.var.optimizedOut; })
      .def_property_readonly("error", [](const PyVariable &v) { checkOpen(v.session); return v.var.error; })
      .def_property_readonly("address", [](const PyVariable &v) { checkOpen(v.session); return v.var.address; })
      .def_property_readonly("value", [](const PyVariable &v) -> py::object { checkOpen(v.session);
        if (!v.var.handle) return py::none();
        return py::cast(PyValue{v.session, *v.var.handle});
      });

  py::class_<PyValue>(m, "Value")
      .def_property_readonly("type", [](const PyValue &v) { checkOpen(v.session); return v.value.type().name; })
      .def_property_readonly("kind", [](const PyValue &v) { checkOpen(v.session);
        static const char *const k[] = {"void", "base", "pointer", "reference", "rvalue_reference",
                                        "struct", "class", "union", "enum", "array", "function",
                                        "pointer_to_member", "unknown"};
        return std::string(k[int(resolveType(&v.value.type())->kind)]);
      })
      .def_property_readonly("size", [](const PyValue &v) { checkOpen(v.session); return v.value.type().size; })
      .def_property_readonly("address", [](const PyValue &v) { checkOpen(v.session); return v.value.address(); })
      .def_property_readonly("bytes", [](const PyValue &v) { checkOpen(v.session); return py::bytes(v.value.bytes()); })
      .def_property_readonly("value", [](const PyValue &v) { checkOpen(v.session); return natural(v); })
      .def_property_readonly("enumerator", [](const PyValue &v) -> py::object { checkOpen(v.session);
        std::string n = v.value.enumeratorName();
        return n.empty() ? py::object(py::none()) : py::str(n);
      })
      .def_property_readonly("field_names", [](const PyValue &v) { checkOpen(v.session); return v.value.fieldNames(); })
      .def("field", [](const PyValue &v, const std::string &name) { checkOpen(v.session);
        auto f = v.value.field(name);
        if (!f) {
          std::string msg = llvm::toString(f.takeError());
          if (msg.find("no field named") != std::string::npos || msg.find("has no fields") != std::string::npos)
            throw py::key_error(msg);
          throw bt::pyapi::EngineError({ErrorKind::BadInput, msg});
        }
        return PyValue{v.session, std::move(*f)};
      })
      .def_property_readonly("element_count", [](const PyValue &v) { checkOpen(v.session); return v.value.elementCount(); })
      .def("element", [](const PyValue &v, uint64_t i) { checkOpen(v.session);
        auto e = v.value.element(i);
        if (!e) {
          std::string msg = llvm::toString(e.takeError());
          if (msg.find("out of bounds") != std::string::npos) throw py::index_error(msg);
          if (msg.find("not an array") != std::string::npos) throw py::type_error(msg);
          throw bt::pyapi::EngineError({ErrorKind::BadInput, msg});
        }
        return PyValue{v.session, std::move(*e)};
      })
      .def("deref", [](const PyValue &v) { checkOpen(v.session);
        llvm::Expected<Value> d = v.value.deref();
        if (!d) {
          ErrorReport r = takeErrorReport(d.takeError());
          if (r.kind == ErrorKind::Usage) throw py::type_error(r.message);  // not a pointer
          if (r.kind != ErrorKind::Closed) r.kind = ErrorKind::BadInput;
          throw bt::pyapi::EngineError(r);
        }
        return PyValue{v.session, std::move(*d)};
      })
      .def("string", [](const PyValue &v, size_t max_length) { checkOpen(v.session);
        auto s = v.value.cString(max_length);
        if (!s) {
          ErrorReport r = takeErrorReport(s.takeError());
          if (r.kind == ErrorKind::Usage) throw py::type_error(r.message);  // not a string
          if (r.kind != ErrorKind::Closed) r.kind = ErrorKind::BadInput;
          throw bt::pyapi::EngineError(r);
        }
        return py::bytes(*s);
      }, py::arg("max_length") = 4096);

  m.def("capture", [](int pid, const std::string &path, bool variables, bool allThreads,
                      uint64_t maxStackBytes, bool redactEnv,
                      const std::vector<std::pair<std::string, std::string>> &attributes,
                      const std::vector<std::string> &debugDirs) {
    py::gil_scoped_release release;
    auto target = openTarget(TargetRequest::forPid(pid));
    if (!target) fail(target.takeError());
    CaptureOptions co;
    co.variables = variables;
    co.allThreads = allThreads;
    co.maxStackBytes = maxStackBytes;
    co.redactEnvironment = redactEnv;
    co.attributes = attributes;
    PipelineOptions needs;
    needs.variables = variables;
    Symbolizer symbols(symbolizerOptionsFor(needs, debugDirs, /*useCache=*/true));
    SnapshotData snap = captureSnapshot(**target, symbols, co);
    uint64_t size = take(writeSnapshot(snap, path));
    return std::make_tuple(size, snap.capture.stoppedMs);
  }, py::arg("pid"), py::arg("path"), py::arg("variables") = true, py::arg("all_threads") = true,
     py::arg("max_stack_bytes") = 512 * 1024, py::arg("redact_env") = true,
     py::arg("attributes") = std::vector<std::pair<std::string, std::string>>{},
     py::arg("debug_dirs") = std::vector<std::string>{});
}
