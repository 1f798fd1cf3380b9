#include "binding_helpers.h"

#include "target/siginfo.h"
#include "unwind/backtrace.h"

#include <cstdio>

namespace bt::pyapi {

PyObject *gFormatError = nullptr, *gClosedError = nullptr, *gMemoryError = nullptr;

void raiseValueError(llvm::Error e) {
  ErrorReport r = takeErrorReport(std::move(e));
  if (r.kind == ErrorKind::Usage) {
    if (r.message.find("out of bounds") != std::string::npos) throw py::index_error(r.message);
    if (r.message.find("no field named") != std::string::npos) throw py::key_error(r.message);
    throw py::type_error(r.message);
  }
  if (r.kind != ErrorKind::Closed && r.kind != ErrorKind::NotFound) r.kind = ErrorKind::BadInput;
  throw bt::pyapi::EngineError(std::move(r));
}

[[noreturn]] void fail(llvm::Error e) { bt::pyapi::raise(std::move(e)); }

void checkOpen(const std::shared_ptr<Session> &s) {
  if (s->closed()) throw bt::pyapi::EngineError({ErrorKind::Closed, "closed"});
}

py::object natural(const PyValue &pv) {
  const TypeInfo *t = resolveType(&pv.value.type());
  using K = TypeInfo::Kind;
  using E = TypeInfo::Encoding;
  if (t->kind == K::Base) {
    if (pv.value.bytes().empty()) return py::none();  // zero-sized: Rust's ()
    if (t->encoding == E::Float) return py::float_(take(pv.value.asDouble()));
    if (pv.value.bytes().size() > 8) {
      // 128-bit integers (Rust's u128/i128, __int128): a Python int has no width to overflow.
      bool isSigned = t->encoding == E::Signed || t->encoding == E::SignedChar;
      return py::module_::import("builtins").attr("int").attr("from_bytes")(
          py::bytes(pv.value.bytes()), "little", py::arg("signed") = isSigned);
    }
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
            py::arg("code") = s->code, py::arg("code_name") = *signalCodeName(*s) ? py::object(py::str(signalCodeName(*s))) : py::none(),
            py::arg("address") = s->hasAddress ? py::object(py::int_(s->address)) : py::none(),
            py::arg("sender_pid") = s->senderPid ? py::object(py::int_(s->senderPid)) : py::none());
}


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

}  // namespace bt::pyapi
