// Value: a typed value to walk (fields, elements, deref, scalars, strings), to compute with
// (casts, pointer arithmetic, address-of) and to render as bt does.
#include "binding_helpers.h"

namespace bt::pyapi {

namespace {
PyValue wrap(const PyValue &from, Value v) { return PyValue{from.session, std::move(v)}; }
}  // namespace

void bindValue(py::module_ &m) {
  py::class_<PyValue>(m, "Value")
      .def_property_readonly("type", [](const PyValue &v) { checkOpen(v.session); return v.value.type().name; })
      .def_property_readonly("type_info", [](const PyValue &v) { checkOpen(v.session); return PyType{v.session, &v.value.type()}; })
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
      .def_property_readonly("variant", [](const PyValue &v) -> py::object { checkOpen(v.session);
        // A Rust enum's active variant: (name, payload), None for other values.
        auto got = takeValue(v.value.variant());
        if (!got) return py::none();
        return py::make_tuple(got->first, wrap(v, std::move(got->second)));
      })
      .def_property_readonly("field_names", [](const PyValue &v) { checkOpen(v.session); return v.value.fieldNames(); })
      .def("field", [](const PyValue &v, const std::string &name) { checkOpen(v.session);
        return wrap(v, takeValue(v.value.field(name)));
      })
      .def_property_readonly("element_count", [](const PyValue &v) { checkOpen(v.session); return v.value.elementCount(); })
      .def("element", [](const PyValue &v, uint64_t i) { checkOpen(v.session); return wrap(v, takeValue(v.value.element(i))); })
      .def("index", [](const PyValue &v, int64_t i) { checkOpen(v.session); return wrap(v, takeValue(v.value.index(i))); })
      .def("deref", [](const PyValue &v) { checkOpen(v.session); return wrap(v, takeValue(v.value.deref())); })
      .def("pointer_add", [](const PyValue &v, int64_t n) { checkOpen(v.session); return wrap(v, takeValue(v.value.pointerAdd(n))); })
      .def("address_of", [](const PyValue &v) { checkOpen(v.session); return wrap(v, takeValue(v.value.addressOf())); })
      .def("cast", [](const PyValue &v, const PyType &t) { checkOpen(v.session); return wrap(v, takeValue(v.value.cast(t.type))); })
      .def("reinterpret", [](const PyValue &v, const PyType &t) { checkOpen(v.session);
        return wrap(v, takeValue(v.value.reinterpret(t.type)));
      })
      .def("format", [](const PyValue &v, unsigned depth, unsigned elements, bool hex, bool symbols,
                        bool topLevel, py::object wants, py::object render) {
        checkOpen(v.session);
        PrintLimits limits;
        limits.maxDepth = depth;
        limits.elements = elements;
        limits.hex = hex;
        if (wants.is_none() || render.is_none())
          return v.session->program().format(v.value, limits, topLevel, symbols);
        // Pretty-printers (btengine.plugins): a printer that raises leaves the built-in text (the
        // Python side reports it); nothing is thrown through the engine's printer.
        ProgramIndex::CustomPrinter custom;
        custom.wants = [&](const std::string &name) {
          try {
            return wants(name).cast<bool>();
          } catch (const py::error_already_set &) {
            return false;
          }
        };
        custom.render = [&](const Value &inner) -> std::optional<std::string> {
          try {
            py::object text = render(PyValue{v.session, inner});
            if (text.is_none()) return std::nullopt;
            return text.cast<std::string>();
          } catch (const py::error_already_set &) {
            return std::nullopt;
          } catch (const py::cast_error &) {
            return std::nullopt;
          }
        };
        return v.session->program().format(v.value, limits, topLevel, symbols, &custom);
      }, py::arg("depth"), py::arg("elements"), py::arg("hex"), py::arg("symbols"), py::arg("top_level"),
         py::arg("wants") = py::none(), py::arg("render") = py::none())
      .def("string", [](const PyValue &v, size_t max_length) { checkOpen(v.session);
        return py::bytes(takeValue(v.value.cString(max_length)));
      }, py::arg("max_length") = 4096);
}

void bindType(py::module_ &m) {
  py::class_<PyType>(m, "Type")
      .def_property_readonly("name", [](const PyType &t) { return t.type->name; })
      .def_property_readonly("kind", [](const PyType &t) {
        static const char *const k[] = {"void", "base", "pointer", "reference", "rvalue_reference",
                                        "struct", "class", "union", "enum", "array", "function",
                                        "pointer_to_member", "unknown"};
        return std::string(k[int(resolveType(t.type)->kind)]);
      })
      .def_property_readonly("size", [](const PyType &t) { return t.type->size; })
      .def_property_readonly("length", [](const PyType &t) -> py::object {
        const TypeInfo *r = resolveType(t.type);
        if (r->kind != TypeInfo::Kind::Array || !r->count) return py::none();
        return py::int_(*r->count);
      })
      .def_property_readonly("target", [](const PyType &t) -> py::object {
        // What a pointer points to, an array holds, a typedef names, an enum is stored as.
        const TypeInfo *r = t.type->alias ? t.type->target : resolveType(t.type)->target;
        if (!r) return py::none();
        return py::cast(PyType{t.session, r});
      })
      .def_property_readonly("unaliased", [](const PyType &t) { return PyType{t.session, resolveType(t.type)}; })
      .def_property_readonly("is_alias", [](const PyType &t) { return t.type->alias; })
      .def_property_readonly("is_rust", [](const PyType &t) { return t.type->rust; })
      .def_property_readonly("dwarf_name", [](const PyType &t) {
        // rustc's name of a pointer type ("alloc::boxed::Box<i32, alloc::alloc::Global>"), else `name`.
        return t.type->dwarfName.empty() ? t.type->name : t.type->dwarfName;
      })
      .def_property_readonly("fields", [](const PyType &t) {
        py::list out;
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        for (const TypeInfo::Field &f : resolveType(t.type)->fields)
          out.append(ns(py::arg("name") = f.isBase ? "<" + f.name + ">" : f.name,
                        py::arg("offset") = f.offset, py::arg("bit_offset") = f.bitOffset,
                        py::arg("bit_size") = f.bitSize, py::arg("is_base") = f.isBase,
                        py::arg("type") = PyType{t.session, f.type}));
        return out;
      })
      .def_property_readonly("template_args", [](const PyType &t) {
        py::list out;
        for (const TypeInfo *a : resolveType(t.type)->templateArgs) out.append(PyType{t.session, a});
        return out;
      })
      .def_property_readonly("enumerators", [](const PyType &t) { return resolveType(t.type)->enumerators; })
      .def("pointer", [](const PyType &t) {
        checkOpen(t.session);
        return PyType{t.session, t.session->program().values()->types().pointerTo(t.type)};
      })
      .def("same", [](const PyType &a, const PyType &b) { return a.type == b.type; });
}

}  // namespace bt::pyapi
