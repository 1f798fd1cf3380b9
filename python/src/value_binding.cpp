// Value: a typed value to walk (fields, elements, deref, scalars, strings).
#include "binding_helpers.h"

namespace bt::pyapi {

void bindValue(py::module_ &m) {
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
}

}  // namespace bt::pyapi
