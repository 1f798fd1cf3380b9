// Variable: a parameter, local or global as rendered, with its walkable Value.
#include "binding_helpers.h"

namespace bt::pyapi {

void bindVariable(py::module_ &m) {
  py::class_<PyVariable>(m, "Variable")
      .def_property_readonly("name", [](const PyVariable &v) { checkOpen(v.session); return v.var.name; })
      .def_property_readonly("kind", [](const PyVariable &v) { checkOpen(v.session); return v.var.kind; })
      .def_property_readonly("type", [](const PyVariable &v) { checkOpen(v.session); return v.var.type; })
      .def_property_readonly("text", [](const PyVariable &v) { checkOpen(v.session); return v.var.value; })
      .def_property_readonly("entry_value", [](const PyVariable &v) -> py::object { checkOpen(v.session);
        return v.var.entryValue.empty() ? py::object(py::none()) : py::str(v.var.entryValue);
      })
      .def_property_readonly("optimized_out", [](const PyVariable &v) { checkOpen(v.session); return v.var.optimizedOut; })
      .def_property_readonly("highlighted", [](const PyVariable &v) -> py::object {
        checkOpen(v.session);
        return v.var.highlighted.empty() ? py::object(py::none()) : py::object(py::str(v.var.highlighted));
      })
      .def_property_readonly("error", [](const PyVariable &v) { checkOpen(v.session); return v.var.error; })
      .def_property_readonly("read_after_release", [](const PyVariable &v) {
        checkOpen(v.session);
        return v.var.readAfterRelease;
      })
      .def_property_readonly("address", [](const PyVariable &v) { checkOpen(v.session); return v.var.address; })
      .def_property_readonly("value", [](const PyVariable &v) -> py::object { checkOpen(v.session);
        if (!v.var.handle) return py::none();
        return py::cast(PyValue{v.session, *v.var.handle});
      });
}

}  // namespace bt::pyapi
