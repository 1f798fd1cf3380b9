// capture(): a snapshot of a live process written to a file.
#include "binding_helpers.h"
#include "snapshot/capture.h"
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"

namespace bt::pyapi {

void bindCapture(py::module_ &m) {
  m.def("capture", [](int pid, const std::string &path, bool variables, bool allThreads,
                      uint64_t maxStackBytes, bool redactEnv,
                      const std::vector<std::pair<std::string, std::string>> &attributes,
                      const std::vector<std::string> &debugDirs, bool writableMemory,
                      uint64_t maxMemoryBytes, bool keepStopped, const std::vector<std::string> &symbolStores) {
    py::gil_scoped_release release;
    auto target = openTarget(TargetRequest::forPid(pid));
    if (!target) fail(target.takeError());
    CaptureOptions co;
    co.variables = variables;
    co.allThreads = allThreads;
    co.maxStackBytes = maxStackBytes;
    co.redactEnvironment = redactEnv;
    co.attributes = attributes;
    co.writableMemory = writableMemory;
    co.keepStopped = keepStopped;
    if (maxMemoryBytes) co.maxMemoryBytes = maxMemoryBytes;
    PipelineOptions needs;
    needs.variables = variables;
    Symbolizer symbolizer(symbolizerOptionsFor(needs, SymbolPaths{debugDirs, symbolStores}, /*useCache=*/true));
    SnapshotData snap = captureSnapshot(**target, symbolizer, co);
    uint64_t size = take(writeSnapshot(snap, path));
    return std::make_tuple(size, snap.capture.stoppedMs);
  }, py::arg("pid"), py::arg("path"), py::arg("variables") = true, py::arg("all_threads") = true,
     py::arg("max_stack_bytes") = 512 * 1024, py::arg("redact_env") = true,
     py::arg("attributes") = std::vector<std::pair<std::string, std::string>>{},
     py::arg("debug_dirs") = std::vector<std::string>{}, py::arg("writable_memory") = false,
     py::arg("max_memory_bytes") = 0, py::arg("keep_stopped") = false,
     py::arg("symbols") = std::vector<std::string>{});
}

}  // namespace bt::pyapi
