// Thread: a thread of the target, its registers, signal and backtrace.
#include "binding_helpers.h"

namespace bt::pyapi {

void bindThread(py::module_ &m) {
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
}

}  // namespace bt::pyapi
