"""Plugins: a team's own crash analysis in a few lines of Python (docs/plugins.md).

A plugin is a Python module that registers functions with the decorators here::

    from btengine.plugins import classifier, on_frame

    @classifier
    def queue_empty(proc, result):
        q = proc["g_queue"]
        if len(q) == 0:
            result.classify("empty-queue", "unknown", "the work queue was empty")

    @on_frame(function="pool::*")            # only frames of these functions (fnmatch or re)
    def pool_frames(frame, result):
        result.annotate(frame, "a pool worker")

Plugins are found in the paths given (`--plugin PATH`, a file or a directory of them), in the
directories of BTENGINE_PLUGIN_PATH (`:`-separated) and ~/.config/btengine/plugins, and in installed
packages through the `btengine.plugins` entry point group. `run(proc, plugins)` runs them on an
open Process after the built-in analysis: each function with a time limit, and one that raises,
hangs or returns nonsense is reported in `plugin_errors` while the others' results stay.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import os
import re
import threading
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Pattern, Sequence, Set, Tuple, Union

from . import Classification, Frame, Process, Thread, Variable, _printers

SEVERITIES = ("exploitable", "probably_exploitable", "probably_not_exploitable", "unknown")
DEFAULT_TIMEOUT = 5.0  # seconds per plugin function
ENTRY_POINT_GROUP = "btengine.plugins"

# What a module's decorators registered while it was being imported (collected by load()).
_registering: Optional["Plugin"] = None


@dataclass
class Plugin:
    """A loaded plugin: its `name`, where it came from (`origin`) and what it registered."""

    name: str
    origin: str
    classifiers: List[Callable[..., Any]] = field(default_factory=list)
    thread_handlers: List[Callable[..., Any]] = field(default_factory=list)
    frame_handlers: List[Tuple[Optional[Pattern[str]], Callable[..., Any]]] = field(default_factory=list)
    variable_handlers: List[Tuple[Optional[Pattern[str]], Optional[Pattern[str]], Callable[..., Any]]] = \
        field(default_factory=list)
    printers: List[Tuple[Pattern[str], Callable[..., Any]]] = field(default_factory=list)

    def registered_anything(self) -> bool:
        return bool(self.classifiers or self.thread_handlers or self.frame_handlers or
                    self.variable_handlers or self.printers)


def _current() -> Plugin:
    if _registering is None:
        # Imported outside load() (e.g. a plugin's own tests): a plugin of its own module name.
        raise RuntimeError("btengine.plugins decorators register into a plugin being loaded: use "
                           "btengine.plugins.load() (or load_module()) to load this module")
    return _registering


def _pattern(p: Union[str, Pattern[str], None]) -> Optional[Pattern[str]]:
    if p is None:
        return None
    if isinstance(p, str):
        return re.compile(fnmatch.translate(p))
    return p


def classifier(fn: Callable[[Process, "Result"], Any]) -> Callable[[Process, "Result"], Any]:
    """Registers fn(proc, result), called once per analysed process."""
    _current().classifiers.append(fn)
    return fn


def on_thread(fn: Callable[[Thread, "Result"], Any]) -> Callable[[Thread, "Result"], Any]:
    """Registers fn(thread, result), called for every thread."""
    _current().thread_handlers.append(fn)
    return fn


def on_frame(function: Union[str, Pattern[str], None] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers fn(frame, result) for the frames whose function matches `function` (a glob such
    as "pool::*", or a compiled regular expression; None: every frame)."""
    pattern = _pattern(function)

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _current().frame_handlers.append((pattern, fn))
        return fn
    return register


def on_variable(type: Union[str, Pattern[str], None] = None,
                name: Union[str, Pattern[str], None] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers fn(frame, variable, result) for the variables whose type and name match (globs
    or regular expressions; None: any)."""
    tp, np_ = _pattern(type), _pattern(name)

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _current().variable_handlers.append((tp, np_, fn))
        return fn
    return register


def pretty_printer(type: Union[str, Pattern[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers fn(value) -> str | None as the printer of the values whose type is named `type`
    (a string: that exact name, as declared or with typedefs and qualifiers stripped; a compiled
    regular expression: names it fully matches). Used wherever values are rendered once the plugin
    is loaded: Value text in Python, `bt` output and snapshots. None: the built-in text."""
    pattern = re.compile(re.escape(type)) if isinstance(type, str) else type

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _current().printers.append((pattern, fn))
        return fn
    return register


@dataclass
class Annotation:
    """A note a plugin attached to a frame (`frame` is its index in `thread`) or a variable."""

    plugin: str
    thread: int
    frame: int
    variable: Optional[str]
    text: str


@dataclass
class PluginError:
    """A plugin function that failed: raised (`kind` "exception"), ran out of time ("timeout"),
    gave a result that is not one ("invalid") or could not be loaded ("load")."""

    plugin: str
    function: str
    kind: str
    message: str


@dataclass
class Highlight:
    """A variable a classification points at: its thread and frame index (-1: unknown), name,
    and why."""

    thread: int
    frame: int
    variable: str
    why: str


def _highlight(v: Variable, why: str) -> Highlight:
    f = v.frame
    tid = f.thread.tid if f is not None and f.thread is not None else -1
    return Highlight(tid, f.index if f is not None else -1, v.name, why)


@dataclass
class SeverityOverride:
    """A plugin's verdict on the crash's severity, replacing the computed one."""

    severity: str
    plugin: str
    reason: str


class Result:
    """What plugin functions add: classifications, attributes, annotations. One is handed to
    every function; what a function adds is kept only if it returns in time without raising."""

    def __init__(self) -> None:
        self.classifications: List[Classification] = []
        self.attributes: Dict[str, str] = {}
        self.annotations: List[Annotation] = []
        self.highlighted: List[Highlight] = []
        self.severity: Optional[SeverityOverride] = None
        self._plugin = ""

    def classify(self, kind: str, severity: str, reason: str,
                 evidence: Iterable[Tuple[str, Any]] = (), highlight: Sequence[Variable] = (),
                 breakpad_rating: str = "NONE") -> None:
        """A finding: `kind` ("third-party-crash"), `severity` (one of SEVERITIES), a one-line
        `reason`, `evidence` as (fact, value) pairs, variables to `highlight`."""
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"classify(): kind must be a non-empty string, not {kind!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"classify(): severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        facts = tuple((str(k), str(v)) for k, v in evidence)
        self.classifications.append(Classification(kind, severity, f"plugin:{self._plugin}", str(reason),
                                                   breakpad_rating, facts))
        self.highlighted += [_highlight(v, f"{self._plugin}: {reason}") for v in highlight]

    def override_severity(self, severity: str, reason: str) -> None:
        """Replaces the crash's severity (the built-in analysis' and other classifications'):
        for a team that knows a crash is harmless, or worse than it looks."""
        if severity not in SEVERITIES:
            raise ValueError(f"override_severity(): severity must be one of {', '.join(SEVERITIES)}, "
                             f"not {severity!r}")
        self.severity = SeverityOverride(severity, self._plugin, str(reason))

    def attribute(self, key: str, value: Any) -> None:
        """A key/value pair added to the result (and to a snapshot written with it)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"attribute(): key must be a non-empty string, not {key!r}")
        self.attributes[key] = str(value)

    def annotate(self, frame: Frame, text: str, variable: Optional[Variable] = None) -> None:
        """A note on a frame (or one of its variables)."""
        thread = frame.thread.tid if frame.thread is not None else -1
        self.annotations.append(Annotation(self._plugin, thread, frame.index,
                                           variable.name if variable is not None else None, str(text)))


@dataclass
class Report:
    """The outcome of run(): what the plugins added, what failed, and how long they took."""

    classifications: List[Classification]
    attributes: Dict[str, str]
    annotations: List[Annotation]
    highlighted: List[Highlight]
    plugin_errors: List[PluginError]
    seconds: float
    severity: Optional[SeverityOverride] = None
    plugins: List[Plugin] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {
            "plugins": [{"name": p.name, "origin": p.origin} for p in self.plugins],
            "classifications": [{"kind": c.kind, "severity": c.severity, "rule": c.rule, "reason": c.reason,
                                 "breakpad_rating": c.breakpad_rating,
                                 "evidence": [{"fact": k, "value": v} for k, v in c.evidence]}
                                for c in self.classifications],
            "severity_override": vars(self.severity) if self.severity else None,
            "attributes": dict(self.attributes),
            "annotations": [vars(a) for a in self.annotations],
            "highlighted": [vars(h) for h in self.highlighted],
            "plugin_errors": [vars(e) for e in self.plugin_errors],
            "plugin_ms": round(self.seconds * 1000, 3),
        }


# Loading --------------------------------------------------------------------------------------

def load_module(path: Union[str, "os.PathLike[str]"]) -> Plugin:
    """Imports one plugin file and returns what it registered (ImportError/SyntaxError/... as
    raised by the import)."""
    global _registering
    p = Path(path)
    name = p.stem
    plugin = Plugin(name=name, origin=str(p))
    spec = importlib.util.spec_from_file_location(f"btengine_plugin_{name}", p)
    if spec is None or spec.loader is None:
        raise ImportError(f"{p}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    previous, _registering = _registering, plugin
    try:
        spec.loader.exec_module(module)
    finally:
        _registering = previous
    return plugin


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> Plugin:
    global _registering
    plugin = Plugin(name=ep.name, origin=f"entry point {ep.value}")
    previous, _registering = _registering, plugin
    try:
        loaded = ep.load()
        if isinstance(loaded, types.ModuleType) and not plugin.registered_anything():
            # The module was imported before (its decorators ran then): load its file again.
            if loaded.__file__:
                return load_module(loaded.__file__)
    finally:
        _registering = previous
    return plugin


def clear_printers() -> None:
    """Forgets every pretty-printer loaded so far: Value text is the built-ins' again."""
    _printers.clear()


def default_directories() -> List[Path]:
    """BTENGINE_PLUGIN_PATH's directories, then ~/.config/btengine/plugins."""
    dirs = [Path(d) for d in os.environ.get("BTENGINE_PLUGIN_PATH", "").split(os.pathsep) if d]
    config = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "btengine" / "plugins"
    return dirs + [config]


def load(paths: Sequence[Union[str, "os.PathLike[str]"]] = (), *, defaults: bool = True
         ) -> Tuple[List[Plugin], List[PluginError]]:
    """Loads the plugins in `paths` (files, or directories of *.py files), then, with
    `defaults`, those of default_directories() and of the `btengine.plugins` entry points. A
    plugin that fails to load is reported, not raised."""
    files: List[Path] = []
    for p in [Path(x) for x in paths] + (default_directories() if defaults else []):
        if p.is_dir():
            files += sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
        elif p.exists() or str(p) in {str(x) for x in paths}:
            files.append(p)
    plugins: List[Plugin] = []
    errors: List[PluginError] = []
    for f in files:
        try:
            plugins.append(load_module(f))
        except BaseException as e:  # a plugin's import may raise anything, SystemExit included
            errors.append(PluginError(f.stem, "<import>", "load", f"{f}: {type(e).__name__}: {e}"))
    if defaults:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugins.append(_load_entry_point(ep))
            except BaseException as e:
                errors.append(PluginError(ep.name, "<import>", "load", f"{ep.value}: {type(e).__name__}: {e}"))
    for plugin in plugins:  # pretty-printers apply wherever values are rendered from now on
        for pattern, fn in plugin.printers:
            _printers.register(_printers.Printer(plugin.name, pattern, fn))
    return plugins, errors


# Running --------------------------------------------------------------------------------------

def _call(fn: Callable[..., Any], args: Tuple[Any, ...], timeout: float) -> Tuple[str, str]:
    """Runs fn(*args) in a worker thread: ("ok", ""), ("exception" | "invalid" | "timeout", text).
    A function that times out is left running in its (daemon) thread: Python cannot stop it, but
    its later additions are discarded."""
    outcome: List[Tuple[str, str]] = []

    def target() -> None:
        try:
            returned = fn(*args)
            if returned is not None:  # results go through `result`; a return value is a mistake
                outcome.append(("invalid", f"returned {type(returned).__name__} {returned!r:.80} "
                                           "(add results with result.classify/attribute/annotate)"))
            else:
                outcome.append(("ok", ""))
        except BaseException as e:
            tb = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
            where = f" ({tb[0].filename}:{tb[0].lineno})" if tb else ""
            outcome.append(("exception", f"{type(e).__name__}: {e}{where}"))
    worker = threading.Thread(target=target, name=f"btengine-plugin-{getattr(fn, '__name__', 'fn')}",
                              daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not outcome:
        return "timeout", f"still running after {timeout:g} s (its results are dropped)"
    return outcome[0]


def run(proc: Process, plugins: Sequence[Plugin], timeout: float = DEFAULT_TIMEOUT,
        load_errors: Sequence[PluginError] = ()) -> Report:
    """Runs every plugin's functions on `proc` (classifiers, then thread, frame and variable
    handlers for what they asked for). Each call gets its own Result, merged into the report only
    when the call returned in time without raising."""
    start = time.perf_counter()
    classifications: List[Classification] = []
    attributes: Dict[str, str] = {}
    annotations: List[Annotation] = []
    highlighted: List[Highlight] = []
    severity: List[SeverityOverride] = []
    errors: List[PluginError] = list(load_errors)
    threads: Optional[List[Thread]] = None
    timed_out: Set[str] = set()  # plugins that ran out of time once are not called again

    def call(plugin: Plugin, fn: Callable[..., Any], *args: Any) -> None:
        if plugin.name in timed_out:
            return
        result = Result()
        result._plugin = plugin.name
        kind, message = _call(fn, args + (result,), timeout)
        name = getattr(fn, "__name__", repr(fn))
        if kind != "ok":
            if kind == "timeout":
                timed_out.add(plugin.name)
                message += "; the plugin's other functions were skipped"
            errors.append(PluginError(plugin.name, name, kind, message))
            return
        classifications.extend(result.classifications)
        attributes.update(result.attributes)
        annotations.extend(result.annotations)
        highlighted.extend(result.highlighted)
        if result.severity:
            severity.append(result.severity)

    for plugin in plugins:
        for fn in plugin.classifiers:
            call(plugin, fn, proc)
        if plugin.thread_handlers or plugin.frame_handlers or plugin.variable_handlers:
            threads = threads if threads is not None else proc.threads
            for t in threads:
                for fn in plugin.thread_handlers:
                    call(plugin, fn, t)
                if not (plugin.frame_handlers or plugin.variable_handlers):
                    continue
                for f in t.frames:
                    for pattern, fn in plugin.frame_handlers:
                        if pattern is None or (f.function and pattern.fullmatch(f.function)):
                            call(plugin, fn, f)
                    for tp, np_, fn in plugin.variable_handlers:
                        for v in f.variables:
                            if (tp is None or tp.fullmatch(v.type)) and (np_ is None or np_.fullmatch(v.name)):
                                call(plugin, fn, f, v)
    return Report(classifications, attributes, annotations, highlighted, errors, time.perf_counter() - start,
                  severity[-1] if severity else None, list(plugins))


def analyse(proc: Process, plugins: Sequence[Plugin], timeout: float = DEFAULT_TIMEOUT,
            load_errors: Sequence[PluginError] = ()) -> Dict[str, Any]:
    """The built-in analysis plus the plugins' results, as `btengine classify --json` prints
    one file: fault class, severity, fingerprint, top frame, and the plugins' findings."""
    a = proc.analysis
    report = run(proc, plugins, timeout, load_errors)
    crashed = proc.crashed_thread
    top = crashed.frames[0] if crashed is not None and crashed.frames else None
    all_classes = list(a.classifications) + report.classifications
    worst = min(all_classes, key=lambda c: SEVERITIES.index(c.severity)) if all_classes else None
    return {
        "kind": proc.kind,
        "class": a.kind,
        "severity": report.severity.severity if report.severity else a.severity,
        "worst": {"kind": worst.kind, "severity": worst.severity} if worst else None,
        "fingerprint": a.fingerprint,
        "top_frame": (top.function or f"{top.module}+{top.module_offset:#x}") if top else None,
        **report.to_json(),
    }


def printed_variables(proc: Process, plugins: Sequence[Plugin], timeout: float = DEFAULT_TIMEOUT
                      ) -> Tuple[List[Dict[str, Any]], List[PluginError]]:
    """The frame variables the plugins' pretty-printers render differently from the built-ins:
    [{thread, frame, variable, text}], what bt prints and a snapshot stores instead. A printer that
    raises leaves the built-in text and is reported; all of it together gets `timeout` per
    plugin with printers."""
    if not any(p.printers for p in plugins):
        return [], []
    out: List[Dict[str, Any]] = []
    errors: List[PluginError] = []

    def render_all() -> None:
        for t in proc.threads:
            for f in t.frames:
                for v in f.variables:
                    value = v.value
                    if value is None:
                        continue
                    before = _printers.fired[0]
                    text = value.format(type_prefix=False)
                    if _printers.fired[0] != before and text != v.text:
                        out.append({"thread": t.tid, "frame": f.index, "variable": v.name, "text": text})
    _printers.errors.clear()
    names = ", ".join(p.name for p in plugins if p.printers)
    kind, message = _call(render_all, (), timeout * sum(1 for p in plugins if p.printers))
    if kind != "ok":
        errors.append(PluginError(names, "<pretty-printers>", kind, message))
        out = list(out)  # what was rendered in time stays
    for e in _printers.errors:
        errors.append(PluginError(e.plugin, e.function, "exception", f"printing a {e.type}: {e.message}"))
    return out, errors


def report(proc: Process, plugins: Sequence[Plugin], timeout: float = DEFAULT_TIMEOUT,
           load_errors: Sequence[PluginError] = ()) -> Dict[str, Any]:
    """Everything the plugins say about `proc` as one "btengine.plugins/1" document (what bt
    prints and stores in snapshots; docs/plugins.md): run()'s report plus the variables the
    pretty-printers render."""
    start = time.perf_counter()
    result = run(proc, plugins, timeout, load_errors)
    printed, print_errors = printed_variables(proc, plugins, timeout)
    doc = {"schema": "btengine.plugins/1", **result.to_json(), "variables": printed}
    doc["plugin_errors"] += [vars(e) for e in print_errors]
    doc["plugin_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return doc


def _main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m btengine.plugins FILE ...`: what bt runs when plugins are configured (bt never
    loads Python itself). Prints the report as JSON (docs/plugins.md, "In bt")."""
    import argparse
    import json
    import sys

    import btengine
    ap = argparse.ArgumentParser(prog="python -m btengine.plugins",
                                 description="Runs the plugins on a snapshot, core or minidump and "
                                             "prints their results as JSON (what bt --plugin uses).")
    ap.add_argument("file")
    ap.add_argument("--exe")
    ap.add_argument("--debug-dir", action="append", default=[])
    ap.add_argument("--symbols", action="append", default=[])
    ap.add_argument("--offline", action="store_true")
    ap.add_argument("--plugin", action="append", default=[])
    ap.add_argument("--no-default-plugins", action="store_true")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    loaded, load_errors = load(args.plugin, defaults=not args.no_default_plugins)
    try:
        proc = btengine.open(args.file, exe=args.exe, debug_dirs=args.debug_dir, symbols=args.symbols,
                             offline=args.offline)
    except (OSError, btengine.Error) as e:
        print(f"btengine plugins: {args.file}: {e}", file=sys.stderr)
        return 1
    # Not closed: a plugin that timed out may still hold the process in its thread; os._exit ends it.
    doc = report(proc, loaded, args.timeout, load_errors)
    doc["plugin_ms"] = round((time.perf_counter() - start) * 1000, 3)  # loading included
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
    # A timed-out plugin may still run in a daemon thread: leave without waiting for it.
    os._exit(0)


if __name__ == "__main__":
    # Run as btengine.plugins, not as a second copy named __main__: plugins' decorators register
    # into the module they import.
    from btengine.plugins import _main as _plugins_main
    raise SystemExit(_plugins_main())


__all__ = ["classifier", "on_thread", "on_frame", "on_variable", "pretty_printer", "load", "load_module",
           "run", "analyse", "printed_variables", "report", "clear_printers", "Plugin", "Result", "Report", "PluginError", "Annotation",
           "Highlight", "SeverityOverride", "SEVERITIES", "DEFAULT_TIMEOUT", "ENTRY_POINT_GROUP",
           "default_directories"]
