// Frame: one frame of a backtrace (inline frames included), its location and variables.
#include "binding_helpers.h"

namespace bt::pyapi {

void bindFrame(py::module_ &m) {
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
      .def_property_readonly("build_id_mismatch", [](const PyFrame &f) { return f.frame().buildIdMismatch; })
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
}

}  // namespace bt::pyapi
