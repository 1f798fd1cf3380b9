"""The crash server's web UI: server-rendered pages over the Store (docs/server.md, "Web UI").

A Flask Blueprint named "web" that create_app registers at "/":

- ``/``                 the ranked group list: risk, severity, kind, title, counts, spread, an
                        occurrence sparkline; filters (attribute, version, host, time window,
                        class, severity, text) as a GET form; sort by risk, count or time; pages.
- ``/group/<id>``       occurrences over time, versions and hosts, the representative crash, the
                        group's crashes (pages).
- ``/crash/<id>``       the analysis on top, then threads, frames, variables (highlighted ones
                        marked), registers, attributes, plugin findings, warnings, and the
                        download with the exact gdb/lldb command line to debug it.

Everything a crash report contains is attacker-controlled (function names, attribute values,
file names): it reaches the page only through Jinja's autoescaping, the inline SVG is built from
numbers only, and every page carries a Content-Security-Policy that lets no script run except the
page's own few lines (by nonce), so a markup injection that slipped through would still be inert.
The pages use no JavaScript to render and nothing from the network.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import os
import re
import secrets
import shlex
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlencode

from flask import (Blueprint, Response, abort, current_app, g, make_response, redirect,
                   render_template, request, url_for)
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from ..plugins import SEVERITIES
from . import auth

from .store import Filters

blueprint = Blueprint("web", __name__, template_folder="templates")

PAGE_SIZE = 50          # groups or crashes per page
SPARK_DAYS = 14         # the list's sparklines: one bar per day
GROUP_DAYS = (14, 30, 90)
BREAKDOWN_LIMIT = 1000  # crashes of a group tallied for its versions/hosts table
TOKEN_COOKIE = auth.COOKIE
# Time windows of the list's filter, in seconds (None: no lower bound).
WINDOWS: Dict[str, Optional[int]] = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
ORDERS = ("risk", "count", "last_seen", "first_seen")
# The register order a debugger shows (gdb's `info registers`); others follow by name.
REGISTER_ORDER = ("rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
                  "r11", "r12", "r13", "r14", "r15", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
                  "fs_base", "gs_base")
# A file name that is safe in the shell command line we print (and in gdb's `target remote |`,
# which runs it through /bin/sh a second time): anything else is replaced by crash-ID.EXT.
SAFE_FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,120}")


# --------------------------------------------------------------------------------------------
# Store, auth and the token cookie

def _store() -> Any:
    return current_app.extensions["btengine.store"]


def read_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page behind `auth.require("read")`, with the `?token=` hand-over: a page opened with
    ?token=T (a link someone shared, or the 401 page's form) stores T in an HttpOnly cookie and
    redirects to the same URL without it, so the token leaves the address bar and the history;
    the download link and the other pages then authenticate by the cookie."""
    @functools.wraps(view)
    def with_cookie(*args: Any, **kwargs: Any) -> Any:
        token = request.args.get("token")
        if token is not None:
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
            resp = redirect(request.path + ("?" + urlencode(rest) if rest else ""), 303)
            # Only a token that is itself a read token becomes the cookie (the request may have
            # passed by its Authorization header or an older cookie).
            if auth.allowed("read", token):
                resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Lax",
                                secure=request.is_secure, path="/")
            return resp
        return view(*args, **kwargs)

    guarded = auth.require("read")(with_cookie)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        resp: Any
        try:
            resp = current_app.make_response(guarded(*args, **kwargs))
        except HTTPException as e:
            if e.code != 401:
                raise
            resp = e.get_response()
        if resp.status_code == 401:
            # A person at a browser gets a page that says what to do, not the API's JSON; the
            # status and the WWW-Authenticate header stay.
            denied = page("error.html", 401, code=401, title="A token is needed",
                          bad_token=request.args.get("token") is not None
                          or request.cookies.get(TOKEN_COOKIE) is not None)
            if "WWW-Authenticate" in resp.headers:
                denied.headers["WWW-Authenticate"] = resp.headers["WWW-Authenticate"]
            if request.cookies.get(TOKEN_COOKIE) is not None:  # a stale token: forget it
                denied.delete_cookie(TOKEN_COOKIE, path="/")
            return denied
        return resp

    return wrapper


@blueprint.before_app_request
def _nonce() -> None:
    g.btweb_nonce = secrets.token_urlsafe(16)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page; marked so that it gets the security headers below."""
    g.btweb_page = True
    return make_response(render_template(template, **context), status)


@blueprint.after_app_request
def _security_headers(resp: Response) -> Response:
    """The pages' own inline <style> and <script> run by nonce; nothing else does (defense in
    depth behind autoescaping), and no other site may frame them. Only the UI's pages: the API's
    responses are the backend's."""
    if g.get("btweb_page") and resp.mimetype == "text/html":
        nonce = g.get("btweb_nonce", "")
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
    return resp


@blueprint.app_context_processor
def _context() -> Dict[str, Any]:
    return {"csp_nonce": g.get("btweb_nonce", "")}


# --------------------------------------------------------------------------------------------
# Formatting (Jinja filters; all return plain strings that Jinja escapes, or Markup built from
# numbers only)

def fmt_time(t: Optional[float]) -> str:
    if t is None:
        return "–"
    return _dt.datetime.fromtimestamp(float(t), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fmt_ago(t: Optional[float], now: Optional[float] = None) -> str:
    if t is None:
        return "–"
    s = max(0, int((now if now is not None else time.time()) - float(t)))
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{s // n} {unit} ago"
    return "just now"


def fmt_size(n: Optional[int]) -> str:
    if n is None:
        return "–"
    v = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if v < 1024 or unit == "GB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(n)


def basename(path: Optional[str]) -> str:
    return os.path.basename(path) if path else ""


def risk_tooltip(terms: Optional[Mapping[str, Any]]) -> str:
    """The risk score's terms, one per line, biggest first: why the group ranks where it does."""
    if not terms:
        return ""
    rows = sorted(terms.items(), key=lambda kv: -_num(kv[1]))
    return "\n".join(f"{k}: {_num(v):+.1f}" for k, v in rows)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def hex_value(v: Any) -> str:
    if isinstance(v, int):
        return f"0x{v:016x}" if v >= 0 else str(v)
    return str(v)


blueprint.add_app_template_filter(fmt_time, "when")
blueprint.add_app_template_filter(fmt_ago, "ago")
blueprint.add_app_template_filter(fmt_size, "size")
blueprint.add_app_template_filter(basename, "basename")
blueprint.add_app_template_filter(risk_tooltip, "risk_tooltip")
blueprint.add_app_template_filter(hex_value, "hexreg")


def day_end(now: float) -> float:
    """The next UTC midnight: charts end there, so that each bar is one calendar day (UTC), the
    last one today so far."""
    return (math.floor(now / 86400) + 1) * 86400.0


def bucket_starts(buckets: int, bucket_seconds: int, until: float) -> List[float]:
    """Start times of the histogram's buckets, oldest first: the last one ends at `until`
    (Store.histogram's convention)."""
    return [until - (buckets - i) * bucket_seconds for i in range(buckets)]


def sparkline(counts: List[int], until: float, bucket_seconds: int = 86400,
              width: int = 112, height: int = 22) -> Markup:
    """Inline SVG bars, one per bucket, each with a <title> (date: count) for its tooltip.
    Only numbers and dates go into the markup."""
    n = max(1, len(counts))
    top = max(counts) if counts else 0
    bw = width / n
    starts = bucket_starts(len(counts), bucket_seconds, until)
    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="occurrences per day, last {len(counts)} days: '
             f'{escape(" ".join(str(c) for c in counts))}">',
             f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="base"/>']
    for i, c in enumerate(counts):
        h = 0.0 if top == 0 else max(1.5, (height - 2) * c / top) if c else 0.0
        day = _dt.datetime.fromtimestamp(starts[i], _dt.timezone.utc).strftime("%Y-%m-%d")
        parts.append(f'<rect x="{i * bw + 0.5:.1f}" y="{height - 1 - h:.1f}" width="{bw - 1:.1f}" '
                     f'height="{h + 1 if c else 1:.1f}" class="{"bar" if c else "zero"}">'
                     f'<title>{day}: {int(c)}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(counts: List[int], until: float, bucket_seconds: int = 86400,
              width: int = 720, height: int = 160) -> Markup:
    """The group page's occurrences over time: bars with a y scale (0 and the maximum) and the
    first and last dates under the x axis."""
    n = max(1, len(counts))
    top = max(counts) if counts else 0
    left, bottom, plot_h = 34, 20, height - 28
    plot_w = width - left - 4
    bw = plot_w / n
    starts = bucket_starts(len(counts), bucket_seconds, until)
    days = [_dt.datetime.fromtimestamp(s, _dt.timezone.utc).strftime("%Y-%m-%d") for s in starts]
    y0 = height - bottom
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="crashes per day">',
             f'<line x1="{left}" y1="{y0 + 0.5}" x2="{width - 4}" y2="{y0 + 0.5}" class="axis"/>',
             f'<text x="{left - 4}" y="{y0}" class="tick" text-anchor="end">0</text>',
             f'<text x="{left - 4}" y="{y0 - plot_h + 8}" class="tick" text-anchor="end">{int(top)}</text>',
             f'<line x1="{left}" y1="{y0 - plot_h + 0.5}" x2="{width - 4}" y2="{y0 - plot_h + 0.5}" class="grid"/>']
    for i, c in enumerate(counts):
        h = 0.0 if top == 0 else plot_h * c / top
        parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{y0 - h:.1f}" width="{max(1.0, bw - 2):.1f}" '
                     f'height="{h:.1f}" class="bar"><title>{days[i]}: {int(c)}</title></rect>')
    if days:
        parts.append(f'<text x="{left}" y="{height - 4}" class="tick">{days[0]}</text>')
        parts.append(f'<text x="{width - 4}" y="{height - 4}" class="tick" text-anchor="end">{days[-1]}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --------------------------------------------------------------------------------------------
# Query string -> Filters

@dataclass
class ListQuery:
    filters: Filters
    order: str
    page: int
    window: str
    attrs: List[str]          # the attr=... parameters as given (kept in the form)
    errors: List[str]


def parse_list_query(args: Mapping[str, Any], now: float) -> ListQuery:
    """The list's GET form: attr=KEY=VALUE (repeatable), version, host, window (24h/7d/30d/all),
    kind, severity, q (text in the title), order, page. Unknown values are reported on the page
    and ignored, never an error page."""
    errors: List[str] = []
    attributes: Dict[str, str] = {}
    attrs = [a for a in args.getlist("attr") if a.strip()] if hasattr(args, "getlist") else []
    for a in attrs:
        key, sep, value = a.partition("=")
        if not sep or not key.strip():
            errors.append(f"attribute filter {a!r} is not KEY=VALUE: ignored")
            continue
        attributes[key.strip()] = value.strip()
    window = args.get("window") or "all"
    if window not in WINDOWS:
        errors.append(f"unknown time window {window!r}: showing all")
        window = "all"
    seconds = WINDOWS[window]
    severity = args.get("severity") or None
    if severity is not None and severity not in SEVERITIES:
        errors.append(f"unknown severity {severity!r}: ignored")
        severity = None
    order = args.get("order") or "risk"
    if order not in ORDERS:
        errors.append(f"unknown order {order!r}: by risk")
        order = "risk"
    try:
        page_no = max(1, int(args.get("page") or 1))
    except ValueError:
        page_no = 1
    filters = Filters(attributes=attributes, version=args.get("version") or None,
                      host=args.get("host") or None, kind=args.get("kind") or None,
                      severity=severity, since=None if seconds is None else now - seconds,
                      until=None, text=(args.get("q") or "").strip() or None)
    return ListQuery(filters, order, page_no, window, attrs, errors)


def url_with(**changes: Any) -> str:
    """The current URL with some query parameters replaced (None removes one): sort headers and
    page links keep the filters."""
    items = [(k, v) for k, v in request.args.items(multi=True) if k not in changes and k != "token"]
    items += [(k, str(v)) for k, v in changes.items() if v is not None]
    return request.path + ("?" + urlencode(items) if items else "")


blueprint.add_app_template_global(url_with, "url_with")
# A Jinja global rather than a context variable: globals reach imported macros too.
blueprint.record_once(lambda state: state.app.jinja_env.globals.update(severities=SEVERITIES))


def pages(total: int, page_no: int, size: int = PAGE_SIZE) -> Dict[str, Any]:
    """Page arithmetic; a page past the end is the last page (a stale link still shows rows)."""
    last = max(1, (total + size - 1) // size)
    p = min(max(1, page_no), last)
    return {"page": p, "last": last, "total": total, "size": size,
            "first_row": 0 if total == 0 else (p - 1) * size + 1, "last_row": min(total, p * size)}


# --------------------------------------------------------------------------------------------
# Pages

@blueprint.route("/")
@read_page
def groups_page() -> Any:
    store = _store()
    now = time.time()
    q = parse_list_query(request.args, now)
    total = store.group_count(q.filters)
    pg = pages(total, q.page)
    rows = store.groups(q.filters, order=q.order, limit=PAGE_SIZE, offset=(pg["page"] - 1) * PAGE_SIZE)
    # The sparklines count what the filters select (a host filter shows that host's days), over
    # the last SPARK_DAYS days whatever the window: one query for the page.
    spark_filters = dataclasses.replace(q.filters, since=None, until=None)
    hist = store.histograms([r["id"] for r in rows], filters=spark_filters, buckets=SPARK_DAYS,
                            bucket_seconds=86400, until=day_end(now)) if rows else {}
    sparks = {r["id"]: sparkline(list(hist.get(r["id"], [0] * SPARK_DAYS)), day_end(now)) for r in rows}
    facets = store.facets()
    filtered = any([q.attrs, q.filters.version, q.filters.host, q.filters.kind, q.filters.severity,
                    q.filters.text, q.window != "all"])
    return page("groups.html", rows=rows, sparks=sparks, q=q, pg=pg, facets=facets,
                windows=list(WINDOWS), orders=ORDERS, filtered=filtered, now=now,
                spark_days=SPARK_DAYS)


@blueprint.route("/group/<int:group_id>")
@read_page
def group_page(group_id: int) -> Any:
    """A group; with the list's filters in the query string (the list's links carry them), its
    chart, versions, hosts and crashes count only the matching crashes, said on the page."""
    store = _store()
    grp = store.group(group_id)
    if grp is None:
        abort(404)
    now = time.time()
    q = parse_list_query(request.args, now)
    try:
        days = int(request.args.get("days") or 30)
    except ValueError:
        days = 30
    days = days if days in GROUP_DAYS else 30
    counts = list(store.histogram(group_id, filters=q.filters, buckets=days, bucket_seconds=86400,
                                  until=day_end(now)))
    pg = pages(store.crash_count(group_id, q.filters), q.page)
    crashes = store.crashes(group_id, q.filters, limit=PAGE_SIZE, offset=(pg["page"] - 1) * PAGE_SIZE)
    breakdown = _breakdown(store, group_id, q.filters)
    rep = store.crash(grp["representative"]) if grp.get("representative") is not None else None
    rep_view = crash_view(rep) if rep else None
    return page("group.html", grp=grp, chart=bar_chart(counts, day_end(now)), days=days,
                day_choices=GROUP_DAYS, in_chart=sum(counts), crashes=crashes, pg=pg,
                breakdown=breakdown, rep=rep, rv=rep_view, now=now, q=q,
                filter_desc=describe_filters(q), filter_query=urlencode(filter_items(request.args)))


def filter_items(args: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The list's filter parameters of a query string (not its order, page or token)."""
    keep = ("attr", "version", "host", "window", "kind", "severity", "q")
    return [(k, v) for k, v in args.items(multi=True) if k in keep and v]  # type: ignore[call-arg]


def group_href(group_id: int) -> str:
    """A group's page, carrying the list's current filters."""
    items = filter_items(request.args)
    return str(url_for("web.group_page", group_id=int(group_id))) + ("?" + urlencode(items) if items else "")


blueprint.add_app_template_global(group_href, "group_href")


def describe_filters(q: ListQuery) -> str:
    parts = [f"attribute {a}" for a in q.attrs if "=" in a]
    f = q.filters
    parts += [f"{name} {val}" for name, val in (("version", f.version), ("host", f.host),
                                               ("class", f.kind), ("severity", f.severity),
                                               ("text", f.text)) if val]
    if q.window != "all":
        parts.append(f"last {q.window}")
    return ", ".join(parts)


def _breakdown(store: Any, group_id: int, filters: Filters) -> Dict[str, Any]:
    """Crashes per version and per host of a group, most first. The Store has no per-group
    facet query (UI NEEDS in the contract), so the latest BREAKDOWN_LIMIT crashes are tallied."""
    latest = store.crashes(group_id, filters, limit=BREAKDOWN_LIMIT, offset=0)
    out: Dict[str, Any] = {"sampled": len(latest) >= BREAKDOWN_LIMIT, "n": len(latest)}
    for key in ("version", "host"):
        tally: Dict[str, int] = {}
        for c in latest:
            v = c.get(key) or "(none)"
            tally[v] = tally.get(v, 0) + 1
        out[key] = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    return out


@blueprint.route("/crash/<int:crash_id>")
@read_page
def crash_page(crash_id: int) -> Any:
    store = _store()
    crash = store.crash(crash_id)
    if crash is None:
        abort(404)
    grp = store.group(crash["group_id"]) if crash.get("group_id") is not None else None
    view = crash_view(crash, grp)
    return page("crash.html", c=crash, v=view, grp=grp)


@blueprint.errorhandler(404)
def _not_found(e: HTTPException) -> Any:
    # The UI's own pages only (an unknown group or crash): the app's other 404s are the backend's.
    return page("error.html", 404, code=404, title="Not found")


# --------------------------------------------------------------------------------------------
# The crash page's view model: the report document arranged for the template (the template
# stays free of logic; every string is still escaped by Jinja when it is printed)

@dataclass
class FrameView:
    index: int
    function: str
    known: bool                 # a function name (else "??" is shown)
    location: str               # file basename:line
    path: str                   # the full file path (tooltip)
    module: str
    module_path: str
    pc: str
    how: str
    suspect: bool
    inlined: bool
    signal_frame: bool
    mismatch: bool
    variables: List[Dict[str, Any]]
    has_vars: bool
    highlighted: int            # how many of its variables are marked
    annotations: List[Dict[str, Any]]
    anchor: str


@dataclass
class ThreadView:
    tid: Any
    name: str
    crashed: bool
    signal: str
    stop_reason: str
    frames: List[FrameView]
    registers: List[Tuple[str, str]]
    anchor: str


def _signal_text(sig: Optional[Mapping[str, Any]]) -> str:
    if not sig:
        return ""
    text = str(sig.get("name") or f"signal {sig.get('number')}")
    if sig.get("code_name"):
        text += f" / {sig['code_name']}"
    if sig.get("address"):
        text += f" at {sig['address']}"
    return text


def _registers(regs: Mapping[Any, Any], tid: Any) -> List[Tuple[str, str]]:
    r = regs.get(tid) if tid in regs else regs.get(str(tid)) if regs else None
    if not r:
        return []
    known = [(k, hex_value(r[k])) for k in REGISTER_ORDER if k in r]
    rest = [(k, hex_value(v)) for k, v in sorted(r.items()) if k not in REGISTER_ORDER]
    return known + rest


def _plugin_notes(plugins: Optional[Mapping[str, Any]]) -> Tuple[Dict[Tuple[str, int], List[Dict[str, Any]]],
                                                                   Dict[Tuple[str, int, str], str]]:
    """Plugin annotations by (tid, frame index), and plugin-highlighted variables by
    (tid, frame, variable) -> why."""
    notes: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    marks: Dict[Tuple[str, int, str], str] = {}
    if not plugins:
        return notes, marks
    for a in plugins.get("annotations") or []:
        notes.setdefault((str(a.get("thread")), int(a.get("frame") or 0)), []).append(a)
    for h in plugins.get("highlighted") or []:
        marks[(str(h.get("thread")), int(h.get("frame") or 0), str(h.get("variable")))] = str(h.get("why") or "")
    return notes, marks


def crash_view(crash: Mapping[str, Any], grp: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    report: Mapping[str, Any] = crash.get("report") or {}
    plugins: Optional[Mapping[str, Any]] = crash.get("plugins") or report.get("plugins")
    analysis: Mapping[str, Any] = report.get("analysis") or {}
    notes, marks = _plugin_notes(plugins)
    regs: Mapping[Any, Any] = crash.get("registers") or {}
    threads: List[ThreadView] = []
    raw_threads = list(report.get("threads") or [])
    # The crashed thread first (the report's order already; a stored document of another writer
    # may differ), then the others by tid.
    raw_threads.sort(key=lambda t: (not t.get("crashed"), t.get("tid") or 0))
    for t in raw_threads:
        tid = t.get("tid")
        frames: List[FrameView] = []
        for f in t.get("frames") or []:
            idx = int(f.get("index") or 0)
            variables = []
            for v in f.get("variables") or []:
                v = dict(v)
                if not v.get("highlighted"):
                    why = marks.get((str(tid), idx, str(v.get("name"))))
                    if why:
                        v["highlighted"] = why
                variables.append(v)
            fn = f.get("function")
            if f.get("signal_frame"):
                fn = "<signal handler called>"
            file = f.get("file")
            frames.append(FrameView(
                index=idx, function=fn or "??", known=bool(fn),
                location=f"{basename(file)}:{f.get('line')}" if file and f.get("line") else basename(file),
                path=file or "", module=basename(f.get("module")), module_path=f.get("module") or "",
                pc=str(f.get("pc") or ""), how=str(f.get("how") or ""), suspect=bool(f.get("suspect")),
                inlined=bool(f.get("inlined")), signal_frame=bool(f.get("signal_frame")),
                mismatch=bool(f.get("build_id_mismatch")), variables=variables,
                has_vars="variables" in f, highlighted=sum(1 for v in variables if v.get("highlighted")),
                annotations=notes.get((str(tid), idx), []), anchor=f"t{tid}-f{idx}"))
        threads.append(ThreadView(tid=tid, name=str(t.get("name") or ""), crashed=bool(t.get("crashed")),
                                  signal=_signal_text(t.get("signal")), stop_reason=str(t.get("stop_reason") or ""),
                                  frames=frames, registers=_registers(regs, tid), anchor=f"t{tid}"))
    crashed_tid = next((t.tid for t in threads if t.crashed), None)
    highlighted = [dict(h, anchor=f"t{crashed_tid}-f{h.get('frame')}") for h in analysis.get("highlighted") or []]
    classifications = list(analysis.get("classifications") or [])
    plugin_classes = list((plugins or {}).get("classifications") or [])
    override = (plugins or {}).get("severity_override")
    executable = (report.get("target") or {}).get("executable") or (grp or {}).get("executable")
    return {
        "report": report,
        "analysis": analysis,
        "kind": analysis.get("class") or crash.get("kind"),
        "severity": (override or {}).get("severity") or analysis.get("severity") or crash.get("severity"),
        "computed_severity": analysis.get("severity"),
        "override": override,
        "signal": _signal_text(report.get("signal")) or crash.get("signal") or "",
        "fault_address": (report.get("signal") or {}).get("address"),
        "instruction": analysis.get("instruction"),
        "classifications": classifications,
        "plugin_classes": plugin_classes,
        "plugins": plugins,
        "highlighted": highlighted,
        "threads": threads,
        "crashed_tid": crashed_tid,
        "top_frames": _summary_frames(threads, analysis.get("fingerprint_frames") or []),
        "attributes": sorted((crash.get("attributes") or report.get("attributes") or {}).items()),
        "warnings": list(report.get("warnings") or []),
        "snapshot": report.get("snapshot") or {},
        "modules": list(report.get("modules") or []),
        "debug": debug_commands(crash, executable),
    }


def _summary_frames(threads: List[ThreadView], fingerprint: List[str]) -> List[Optional[FrameView]]:
    """The crashed thread's frames for a summary: the frame that faulted, then the program's own
    frames the fingerprint hashes (None marks the runtime frames skipped between), at most 6."""
    crashed = next((t for t in threads if t.crashed), threads[0] if threads else None)
    if crashed is None or not crashed.frames:
        return []
    keys = set(fingerprint)
    first = next((i for i, f in enumerate(crashed.frames) if f"{f.module}!{f.function}" in keys), None)
    if first is None or first < 2:
        return list(crashed.frames[:6])
    return [crashed.frames[0], None] + list(crashed.frames[first:first + 4])


def download_name(crash: Mapping[str, Any]) -> str:
    """The name to save the download as: the uploaded name when it is harmless in a shell
    command line, else crash-ID.btsnap / crash-ID.dmp."""
    name = basename(str(crash.get("filename") or ""))
    if SAFE_FILENAME.fullmatch(name):
        return name
    return f"crash-{crash.get('id')}.{'dmp' if crash.get('format') == 'minidump' else 'btsnap'}"


def debug_commands(crash: Mapping[str, Any], executable: Optional[str]) -> Dict[str, str]:
    """The exact lines to debug the download with stock gdb and lldb (README, btserve).
    The executable path comes from the crash report (attacker-controlled), so it is shell-quoted;
    the file name is restricted to a safe set (download_name) because gdb's `target remote |`
    hands it to /bin/sh inside a double-quoted argument."""
    name = download_name(crash)
    if executable:
        exe = executable if not executable.startswith("-") else "./" + executable
        exe = shlex.quote(exe)
    else:
        exe = "EXECUTABLE"
    return {
        "filename": name,
        "gdb": f'gdb -ex "target remote | btserve {name}" {exe}',
        "btserve_listen": f"btserve --listen 127.0.0.1:5039 {name}",
        "lldb": f'lldb {exe} -o "gdb-remote 127.0.0.1:5039"',
        "bt_show": f"bt show --vars {name}",
    }
