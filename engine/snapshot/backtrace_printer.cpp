#include "snapshot/backtrace_printer.h"

#include "snapshot/backtrace_codec.h"
#include "snapshot/backtrace_json.h"
#include "snapshot/snapshot_target.h"
#include "target/siginfo.h"

#include <llvm/Support/Format.h>

#include <ctime>
#include <llvm/Support/JSON.h>
#include <llvm/Support/Path.h>

#include <string>

namespace bt {

// As Linux users read a crash: "SIGSEGV / SEGV_MAPERR at 0x45", "SIGABRT / SI_TKILL from pid 42".
static std::string signalText(const SignalInfo &s) {
  std::string out = signalName(s.signo);
  if (const char *code = signalCodeName(s); *code) out += std::string(" / ") + code;
  if (s.hasAddress) out += " at " + hexU64(s.address);
  else if (isGeneralProtectionFault(s)) out += ", no fault address (general protection fault)";
  else if (s.senderPid) out += " from pid " + std::to_string(s.senderPid);
  return out;
}

void printAnalysisText(llvm::raw_ostream &os, const AnalysisResult &analysis,
                       const std::vector<ThreadBacktrace> &threads) {
  // The fault first: what it is, how dangerous, why, then the facts the rule used.
  for (const Classification &c : analysis.classifications) {
    os << "Analysis: " << c.kind;
    if (!c.severity.empty()) {
      os << " (" << c.severity;
      if (!c.breakpadRating.empty()) os << "; Breakpad: " << c.breakpadRating;
      os << ")";
    }
    os << "\n";
    if (!c.reason.empty()) os << "  " << c.reason << "\n";
    if (!c.rule.empty() || !c.evidence.empty()) {
      os << "  rule " << (c.rule.empty() ? "?" : c.rule);
      const char *sep = ": ";
      for (const auto &[fact, value] : c.evidence) {
        // The signal is on its own line already; the assertion's parts are in the reason.
        if (fact == "signal" || fact == "abort_message") continue;
        os << sep << fact << " " << value;
        sep = ", ";
      }
      os << "\n";
    }
  }
  for (const HighlightedVariable &h : highlightedVariables(threads))
    os << "  ! " << h.variable->name << " in #" << h.frame->index << " "
       << (h.frame->function.empty() ? "??" : h.frame->function) << " = " << h.variable->value
       << ": " << h.variable->highlighted << "\n";
  if (!analysis.fingerprint.hash.empty()) os << "Fingerprint: " << analysis.fingerprint.hash << "\n";
}

void printBacktraceText(llvm::raw_ostream &os, const Target &target,
                        const std::vector<ThreadBacktrace> &threads,
                        const std::vector<Variable> &globals, const AnalysisResult *analysis,
                        const PluginReport *plugins) {
  const ProcessFacts &p = target.process();
  os << "Process " << p.pid << " (" << target.kind() << ")";
  if (!p.executable.empty()) os << " " << p.executable;
  os << "\n";
  for (const auto &[k, v] : target.attributes()) os << "Attribute " << k << " = " << v << "\n";
  if (target.signal()) os << "Signal: " << signalText(*target.signal()) << "\n";
  if (analysis && analysis->instruction) {
    const DecodedInstruction &i = *analysis->instruction;
    std::string what = describeAccess(i);
    os << "Instruction: " << hexU64(i.pc) << ": " << i.text;
    if (!what.empty()) os << " (" << what << ")";
    os << "\n";
  }
  if (analysis && (target.crashedTid() || !analysis->classifications.empty()))
    printAnalysisText(os, *analysis, threads);
  if (plugins) printPluginReportText(os, *plugins, threads);
  for (const ThreadBacktrace &t : threads) {
    os << "\nThread " << t.tid;
    if (!t.name.empty()) os << " \"" << t.name << "\"";
    if (t.crashed) os << " (crashed" << (t.signal ? ": " + signalText(*t.signal) : "") << ")";
    os << "\n";
    for (size_t i = 0; i < t.frames.size(); ++i) {
      const Frame &f = t.frames[i];
      os << "#" << llvm::left_justify(std::to_string(f.index), 3) << " ";
      // Like gdb, the pc goes on the innermost frame of each inline chain (the frame the pc is
      // really in); the functions it is inlined into share it.
      bool innermost = i == 0 || !t.frames[i - 1].inlined;
      if (!innermost) os << "                  ";
      else os << llvm::format("0x%016llx", (unsigned long long)f.pc);
      os << " in ";
      if (f.signalTrampoline) os << "<signal handler called>";
      else os << (f.function.empty() ? "??" : f.function);
      if (f.variablesRead) {
        // Parameters in the frame line, as gdb prints them.
        os << " (";
        bool first = true;
        for (const Variable &v : f.variables) {
          if (v.kind != "param") continue;
          os << (first ? "" : ", ") << (v.highlighted.empty() ? "" : "!") << v.name << "=";
          first = false;
          // gdb's default "print entry-values": x=x@entry=V when equal, else both.
          if (v.entryValue.empty()) os << v.value;
          else if (v.entryValue == v.value) os << v.name << "@entry=" << v.value;
          else os << v.value << ", " << v.name << "@entry=" << v.entryValue;
        }
        os << ")";
      }
      if (!f.file.empty()) os << " at " << f.file << ":" << f.line;
      if (!f.module.empty() && innermost)
        os << " [" << llvm::sys::path::filename(f.module) << "+" << hexU64(f.moduleOffset) << "]";
      if (f.inlined) os << " (inlined)";
      if (f.how == FrameHow::TailCall) os << " (tail call)";
      if (f.suspect) os << " (suspect: found by " << frameHowName(f.how) << ")";
      if (f.buildIdMismatch)
        os << (f.function.empty() ? " (build-id mismatch: not symbolized)"
                                  : " (build-id mismatch: name from another build)");
      os << "\n";
      // Plugins' notes on this frame, under it (the cpython plugin's Python frames read as an
      // interleaved stack this way).
      if (plugins)
        for (const PluginReport::Annotation &a : plugins->annotations)
          if (a.tid == t.tid && a.frame == int(f.index))
            os << "    [" << a.plugin << "] " << (a.variable.empty() ? "" : a.variable + ": ") << a.text << "\n";
      if (f.variablesRead) {
        bool any = false;
        for (const Variable &v : f.variables) {
          if (v.kind == "param") continue;
          os << (v.highlighted.empty() ? "        " : "      ! ") << v.name << " = " << v.value << "\n";
          any = true;
        }
        if (!any) os << "No locals.\n";
      } else if (f.variablesRequested && f.how != FrameHow::TailCall) {
        os << "No symbol table info available.\n";  // as gdb says for frames without DWARF
      }
    }
    if (!t.stopReason.empty() && t.stopReason != "outermost frame")
      os << "    (backtrace stopped: " << t.stopReason << ")\n";
  }
  if (!globals.empty()) {
    os << "\nGlobals:\n";
    for (const Variable &v : globals) os << "        " << v.name << " = " << v.value << "\n";
  }
  // Values that came partly from a live process after it ran on: listed here, so that the lines
  // above stay as gdb prints them and the text still says which values are not the frozen state.
  std::vector<std::string> late;
  for (const ThreadBacktrace &t : threads)
    for (const Frame &f : t.frames)
      for (const Variable &v : f.variables)
        if (v.readAfterRelease)
          late.push_back(v.name + " in #" + std::to_string(f.index) + " " +
                         (f.function.empty() ? "??" : f.function) + " (thread " + std::to_string(t.tid) + ")");
  for (const Variable &v : globals)
    if (v.readAfterRelease) late.push_back(v.name + " (global)");
  if (!late.empty()) {
    constexpr size_t kListed = 20;
    os << "\nRead after the process ran on (its state a moment later, not the frozen one):\n";
    for (size_t i = 0; i < late.size() && i < kListed; ++i) os << "  ~ " << late[i] << "\n";
    if (late.size() > kListed) os << "  ... and " << late.size() - kListed << " more (bt --json: read_after_release)\n";
  }
}

void printBacktraceJson(llvm::raw_ostream &os, const Target &target,
                        const std::vector<ThreadBacktrace> &threads,
                        const std::vector<Variable> &globals,
                        const AnalysisResult *analysis,
                        const std::vector<std::string> *warnings,
                        const std::function<void(llvm::json::OStream &)> &extra,
                        const PluginReport *plugins) {
  llvm::json::OStream j(os, 1);
  // The fields come from the one schema module (snapshot/backtrace_json.h), written in order.
  auto write = [&](JsonFieldList fields) {
    for (auto &[k, v] : fields) j.attribute(k, std::move(v));
  };
  auto signalObj = [&](const std::optional<SignalInfo> &s) {
    if (!s) {
      j.value(nullptr);
      return;
    }
    j.object([&] { write(signalFields(*s, JsonSchema::Backtrace)); });
  };
  auto variableArray = [&](const std::vector<Variable> &vars) {
    for (const Variable &v : vars) j.object([&] { write(variableFields(v)); });
  };
  auto strOrNull = [&](const char *key, const std::string &v) {
    if (v.empty()) j.attribute(key, nullptr);
    else j.attribute(key, jsonText(v));
  };
  j.object([&] {
    j.attribute("schema", "btengine.backtrace/2");
    j.attributeObject("target", [&] {
      j.attribute("kind", target.kind());
      j.attribute("pid", target.process().pid);
      strOrNull("executable", target.process().executable);
    });
    j.attributeBegin("signal");
    signalObj(target.signal());
    j.attributeEnd();
    if (target.crashedTid()) j.attribute("crashed_tid", *target.crashedTid());
    else j.attribute("crashed_tid", nullptr);
    j.attributeArray("threads", [&] {
      for (const ThreadBacktrace &t : threads) {
        j.object([&] {
          JsonFieldList tf = threadFields(t);  // tid, name, crashed, stop_reason
          for (size_t k = 0; k < 3; ++k) j.attribute(tf[k].first, std::move(tf[k].second));
          j.attributeBegin("signal");
          signalObj(t.signal);
          j.attributeEnd();
          j.attribute(tf[3].first, std::move(tf[3].second));
          j.attributeArray("frames", [&] {
            for (const Frame &f : t.frames) {
              j.object([&] {
                write(frameFields(f, JsonSchema::Backtrace));
                if (f.variablesRead) j.attributeArray("variables", [&] { variableArray(f.variables); });
              });
            }
          });
        });
      }
    });
    if (!globals.empty()) j.attributeArray("globals", [&] { variableArray(globals); });
    j.attributeArray("modules", [&] {
      for (const ModuleInfo &m : target.modules()) j.object([&] { write(moduleFields(m)); });
    });
    if (analysis)
      j.attributeObject("analysis", [&] {
        // The fault's classification, flattened for scripts (null when nothing crashed).
        const Classification *fault =
            analysis->classifications.empty() ? nullptr : &analysis->classifications.front();
        auto faultField = [&](const char *key, const std::string &v) {
          if (fault && !v.empty()) j.attribute(key, jsonText(v));
          else j.attribute(key, nullptr);
        };
        faultField("class", fault ? fault->kind : "");
        faultField("severity", fault ? fault->severity : "");
        faultField("breakpad_rating", fault ? fault->breakpadRating : "");
        faultField("reason", fault ? fault->reason : "");
        j.attribute("fingerprint", analysis->fingerprint.hash);
        j.attributeArray("fingerprint_frames", [&] {
          for (const std::string &f : analysis->fingerprint.frames) j.value(jsonText(f));
        });
        j.attributeArray("classifications", [&] {
          for (const Classification &c : analysis->classifications) j.value(classificationToJson(c));
        });
        j.attributeArray("highlighted", [&] {
          for (const HighlightedVariable &h : highlightedVariables(threads))
            j.object([&] {
              j.attribute("frame", int64_t(h.frame->index));
              strOrNull("function", h.frame->function);
              j.attribute("name", jsonText(h.variable->name));
              j.attribute("value", jsonText(h.variable->value));
              j.attribute("reason", jsonText(h.variable->highlighted));
            });
        });
        j.attributeBegin("instruction");
        if (analysis->instruction) j.object([&] { write(instructionFields(*analysis->instruction)); });
        else j.value(nullptr);
        j.attributeEnd();
      });
    j.attribute("partial", target.partial());
    j.attributeObject("attributes", [&] {
      for (const auto &[k, v] : target.attributes()) j.attribute(k, jsonText(v));
    });
    if (warnings)
      j.attributeArray("warnings", [&] {
        for (const std::string &w : *warnings) j.value(jsonText(w));
      });
    if (plugins) j.attribute("plugins", pluginReportToJson(*plugins));
    if (extra) extra(j);
  });
  os << "\n";
}


void dropVariables(std::vector<ThreadBacktrace> &threads) {
  for (ThreadBacktrace &t : threads)
    for (Frame &f : t.frames) {
      f.variables.clear();
      f.variablesRead = f.variablesRequested = false;
    }
}

void printSnapshot(llvm::raw_ostream &os, SnapshotTarget &target, const std::string &input,
                   bool json, bool vars, const FingerprintRules *dedupRules,
                   const PluginReport *plugins) {
  const SnapshotData &s = target.data();
  std::vector<ThreadBacktrace> threads = s.backtraces;
  if (!plugins && s.plugins) plugins = &*s.plugins;
  if (plugins) applyPluginReport(*plugins, threads);
  if (!vars) dropVariables(threads);
  const std::vector<Variable> noGlobals;
  const std::vector<Variable> &globals = vars ? s.globals : noGlobals;
  char when[32] = "?";
  time_t t = time_t(s.capture.time);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  AnalysisResult stored = s.storedAnalysis();
  // Decoded again from the code bytes the snapshot keeps around the pc: no binary needed.
  stored.instruction = crashingInstruction(target);
  if (dedupRules) stored.fingerprint = crashFingerprint(s.signal, s.backtraces, *dedupRules);
  if (json) {
    const std::vector<std::string> noWarnings;  // a snapshot was checked when it was read
    printBacktraceJson(os, target, threads, globals, &stored, &noWarnings,
                       [&, plugins](llvm::json::OStream &j) {
      j.attributeObject("snapshot", [&] {
        j.attribute("format_version", int64_t(kSnapshotFormatVersion));
        j.attribute("source", s.capture.source);
        j.attribute("captured_at", when);
        j.attribute("time", int64_t(s.capture.time));
        if (s.capture.stoppedMs >= 0) j.attribute("stopped_ms", s.capture.stoppedMs);
        else j.attribute("stopped_ms", nullptr);
        j.attribute("host", s.capture.host);
        j.attribute("kernel", s.capture.kernel);
        j.attribute("variables", s.capture.variables);
        j.attribute("threads", s.capture.threads);
        j.attribute("fingerprint", s.fingerprint);
        j.attributeArray("fingerprint_frames", [&] {
          for (const std::string &f : s.fingerprintFrames) j.value(f);
        });
        j.attributeArray("command_line", [&] {
          for (const std::string &a : s.process.commandLine) j.value(a);
        });
        j.attributeArray("environment", [&] {
          for (const std::string &e : s.process.environment) j.value(e);
        });
        j.attribute("environment_redacted", s.capture.environmentRedacted);
        if (s.process.uid) j.attribute("uid", *s.process.uid);
        else j.attribute("uid", nullptr);
        if (s.process.startTime) j.attribute("start_time", int64_t(*s.process.startTime));
        else j.attribute("start_time", nullptr);
        j.attribute("memory_slices", int64_t(s.memory.size()));
        uint64_t bytes = 0;
        for (const MemorySlice &m : s.memory) bytes += m.bytes.size();
        j.attribute("memory_bytes", int64_t(bytes));
        j.attributeArray("memory_read_after_release", [&] {
          for (auto [a, b] : s.memoryReadAfterRelease)
            j.value(llvm::json::Array{hexU64(a), hexU64(b)});
        });
        j.attribute("modules", int64_t(s.modules.size()));
        j.attributeArray("classifications", [&] {
          for (const Classification &c : s.classifications) j.value(classificationToJson(c));
        });
      });
    }, plugins);
  } else {
    os << "Snapshot " << input << ": captured " << when << " from a " << s.capture.source
       << " target";
    if (!s.capture.host.empty()) os << " on " << s.capture.host;
    if (s.capture.stoppedMs >= 0) os << llvm::format(" (stopped %.1f ms)", s.capture.stoppedMs);
    os << "\n";
    if (!s.process.commandLine.empty()) {
      os << "Command line:";
      for (const std::string &a : s.process.commandLine) os << " " << a;
      os << "\n";
    }
    // The fingerprint is in the Analysis block; a snapshot of a process that did not crash
    // has no such block.
    if (!target.crashedTid() && stored.classifications.empty())
      os << "Fingerprint: " << stored.fingerprint.hash << "\n";
    os << "\n";
    printBacktraceText(os, target, threads, globals, &stored, plugins);
  }
}

}  // namespace bt
