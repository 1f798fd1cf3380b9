// Session: one open target (core, snapshot, minidump or live process) and what it holds.
#include "binding_helpers.h"

#include "snapshot/backtrace_printer.h"
#include "snapshot/plugin_report.h"
#include "snapshot/snapshot_target.h"

#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <optional>

namespace bt::pyapi {

void bindSession(py::module_ &m) {
  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_static(
          "open_file",
          [](const std::string &path, const std::string &exe, bool allowMismatch,
             std::vector<std::string> debugDirs, std::vector<std::string> symbols, bool offline) {
            return Session::openFile(path, exe, allowMismatch,
                                     {std::move(debugDirs), std::move(symbols), offline});
          },
          py::arg("path"), py::arg("exe") = "", py::arg("allow_mismatch") = false,
          py::arg("debug_dirs") = std::vector<std::string>{}, py::arg("symbols") = std::vector<std::string>{},
          py::arg("offline") = false)
      .def_static(
          "attach",
          [](int pid, std::vector<std::string> debugDirs, std::vector<std::string> symbols, bool offline) {
            return Session::attach(pid, {std::move(debugDirs), std::move(symbols), offline});
          },
          py::arg("pid"), py::arg("debug_dirs") = std::vector<std::string>{},
          py::arg("symbols") = std::vector<std::string>{}, py::arg("offline") = false)
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
                        py::arg("file_build_id") = mi.fileBuildId, py::arg("mismatch") = mi.mismatch,
                        py::arg("mismatch_allowed") = mi.mismatchAllowed,
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
          fail(memoryError(s.target(), addr + got, n - got));
        return py::bytes(buf);
      })
      .def_property_readonly("attributes", [](Session &s) {
        py::dict d;
        // A snapshot's stay readable after close(); a minidump's Crashpad annotations come
        // from the target.
        auto attrs = s.snapshot() ? s.snapshot()->attributes : s.target().attributes();
        for (const auto &[k, v] : attrs) d[py::str(k)] = v;
        return d;
      })
      .def_property_readonly("fingerprint", [](Session &s) -> py::object {
        if (s.snapshot()) return py::str(s.snapshot()->fingerprint);
        return py::str(s.analysis().fingerprint.hash);
      })
      .def_property_readonly("warnings", [](Session &s) { return s.warnings(); })
      .def_property_readonly("instruction", [](Session &s) -> py::object {
        const std::optional<DecodedInstruction> &i = s.analysis().instruction;
        if (!i) return py::none();
        auto opt = [](const std::optional<uint64_t> &v) { return v ? py::object(py::int_(*v)) : py::none(); };
        auto reg = [](const std::string &r) { return r.empty() ? py::object(py::none()) : py::object(py::str(r)); };
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        return ns(py::arg("pc") = i->pc, py::arg("text") = i->text, py::arg("length") = i->length,
                  py::arg("access") = std::string(accessKindName(i->access)),
                  py::arg("size") = i->accessSize ? py::object(py::int_(i->accessSize)) : py::none(),
                  py::arg("base") = reg(i->base), py::arg("index") = reg(i->index),
                  py::arg("scale") = i->index.empty() ? py::object(py::none()) : py::object(py::int_(i->scale)),
                  py::arg("displacement") = i->displacement, py::arg("segment") = reg(i->segment),
                  py::arg("address") = opt(i->effectiveAddress),
                  py::arg("branch_target") = opt(i->branchTarget),
                  py::arg("description") = describeAccess(*i));
      })
      .def_property_readonly("classifications", [](Session &s) {
        // A snapshot's are the ones stored when it was taken (session.cpp).
        py::list out;
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        for (const Classification &c : s.analysis().classifications) {
          py::list evidence;
          for (const auto &[fact, value] : c.evidence) evidence.append(py::make_tuple(fact, value));
          out.append(ns(py::arg("kind") = c.kind, py::arg("severity") = c.severity,
                        py::arg("rule") = c.rule, py::arg("reason") = c.reason,
                        py::arg("breakpad_rating") = c.breakpadRating,
                        py::arg("evidence") = evidence));
        }
        return out;
      })
      .def_property_readonly("partial", [](Session &s) { return s.target().partial(); })
      .def_property_readonly("fingerprint_frames", [](Session &s) {
        if (s.snapshot()) return s.snapshot()->fingerprintFrames;
        return s.analysis().fingerprint.frames;
      })
      .def("variable", [](std::shared_ptr<Session> s, const std::string &name, const std::string &file, int tid) {
        checkOpen(s);
        return PyVariable{s, take(s->program().variable(name, file, tid))};
      }, py::arg("name"), py::arg("file") = "", py::arg("tid") = 0)
      .def("type", [](std::shared_ptr<Session> s, const std::string &name) {
        checkOpen(s);
        return PyType{s, take(s->program().type(name))};
      })
      .def("value", [](std::shared_ptr<Session> s, const PyType &t, uint64_t address) {
        checkOpen(s);
        return PyValue{s, takeValue(s->program().valueAt(t.type, address))};
      })
      .def("make_value", [](std::shared_ptr<Session> s, const PyType &t, const std::string &bytes) {
        // A value that lives nowhere (drgn's Object(prog, type, value=...)): a computed pointer.
        checkOpen(s);
        if (bytes.size() != t.type->size) throw py::value_error("a " + t.type->name + " has " + std::to_string(t.type->size) + " bytes");
        return PyValue{s, Value(s->program().values(), t.type, bytes, std::nullopt)};
      })
      .def("symbol", [](std::shared_ptr<Session> s, uint64_t address) -> py::object {
        checkOpen(s);
        auto h = s->program().symbol(address);
        if (!h) return py::none();
        py::object ns = py::module_::import("types").attr("SimpleNamespace");
        return ns(py::arg("name") = h->name, py::arg("address") = h->address, py::arg("size") = h->size,
                  py::arg("offset") = h->offset, py::arg("module") = h->module,
                  py::arg("function") = h->function);
      })
      .def("address_of", [](std::shared_ptr<Session> s, const std::string &name) {
        checkOpen(s);
        return take(s->program().addressOf(name));
      })
      .def("report", [](Session &s, bool json, bool vars, std::optional<std::string> pluginsJson) {
        // Exactly what `bt FILE|PID [--json] [--vars]` (`bt show` for a snapshot) prints; with
        // `plugins` (a btengine.plugins/1 document) as bt prints it with those plugin results.
        std::optional<PluginReport> plugins;
        if (pluginsJson) {
          llvm::Expected<llvm::json::Value> doc = llvm::json::parse(*pluginsJson);
          if (!doc) throw py::value_error("plugins: " + llvm::toString(doc.takeError()));
          llvm::Expected<PluginReport> r = pluginReportFromJson(*doc);
          if (!r) throw py::value_error(llvm::toString(r.takeError()));
          plugins = std::move(*r);
        }
        const PluginReport *p = plugins ? &*plugins : nullptr;
        std::string out;
        llvm::raw_string_ostream os(out);
        if (auto *snap = dynamic_cast<SnapshotTarget *>(&s.target())) {
          printSnapshot(os, *snap, s.path(), json, vars, nullptr, p);
        } else {
          std::vector<ThreadBacktrace> threads = s.backtraces();
          if (p) applyPluginReport(*p, threads);
          if (!vars) dropVariables(threads);
          const AnalysisResult &analysis = s.analysis();
          if (json) printBacktraceJson(os, s.target(), threads, {}, &analysis, &s.warnings(), {}, p);
          else printBacktraceText(os, s.target(), threads, {}, &analysis, p);
        }
        os.flush();
        return out;
      }, py::arg("json"), py::arg("vars"), py::arg("plugins") = std::nullopt)
      .def("thread", [](std::shared_ptr<Session> s, int tid) {
        checkOpen(s);
        for (const ThreadInfo &t : s->target().threads())
          if (t.tid == tid) return PyThread{s, tid};
        throw py::key_error("no thread " + std::to_string(tid));
      });
}

}  // namespace bt::pyapi
