"""The crash server's web UI in a real headless Chromium (Debian's chromium + chromedriver,
driven by Selenium), against the real server (`btengine server`, gunicorn) holding real crashes.

The corpus (ui_util.MODES, ENTRIES below): crashes of tests/e2e/data/fault_classes.cpp in three
modes, with hosts, versions, extra attributes and ages chosen so that every filter selects a
different set of groups. Every expected value — which groups a filter keeps, the order by risk
and by count, the counts, the sparkline's bars, the versions and hosts of a group, the highlighted
variable, the download's bytes, the gdb line — is computed here from that table and the files,
never copied from the server's output. Most crashes are stored with the backend's ingest before
the server starts (their `received` is in the past: the sparklines and the time window need
that), one is uploaded over HTTP.

Screenshots (the group list, a group, a crash) go to BT_SCREENSHOT_DIR, else pytest's tmp dir;
their paths are printed. The browser tests are skipped (with the reason) only when chromium,
chromedriver or selenium is not installed; the last tests (pagination, escaping of hostile names
in every field) need no browser: Flask's test client on a store of synthetic groups."""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set

import pytest

import ui_util as uu
from ui_util import DAY, MODES, Entry

WHY_NOT = uu.have_browser()

READ_TOKEN = "read-3f9a1c77e2"
UPLOAD_TOKEN = "upload-81be40d2c5"
SCRIPT = "<script>alert(1)</script>"
SPARK_DAYS = 14

# mode, host, version, age in days, uploaded over HTTP, extra attributes.
ENTRIES: List[Entry] = [
    Entry("wild_write", "web-1", "2.0", 3.5, extra={"note": SCRIPT, "team": "payments"}),
    Entry("assert", "web-1", "1.0", 0.25),
    Entry("assert", "web-2", "1.1", 1.5),
    Entry("assert", "web-3", "2.0", 9.5),
    Entry("assert", "web-1", "1.0", 0.0, http=True, extra={"team": "payments"}),
    Entry("null_field", "web-2", "1.1", 2.5),
    Entry("null_field", "web-2", "1.1", 20.5),
    # A Breakpad-style minidump of the same crash, from a Crashpad-style upload: the same group.
    Entry("null_field", "web-3", "1.2", 0.0, http=True, minidump=True),
]


def expected_modes(pred: Callable[[Entry], bool]) -> Set[str]:
    return {e.mode for e in ENTRIES if pred(e)}


def severity_rank(mode: str) -> int:
    from btengine.plugins import SEVERITIES
    return SEVERITIES.index(MODES[mode][2])


# ---------------------------------------------------------------------------------------------
# One server, one browser for the module

class UI:
    def __init__(self, server: uu.Server, driver: Any, shots: Path, work: Path, t0: float) -> None:
        self.server, self.driver, self.shots, self.work, self.t0 = server, driver, shots, work, t0

    def url(self, path: str) -> str:
        return self.server.base + path

    def login(self) -> None:
        """The ?token= hand-over: the UI keeps the token in a cookie and drops it from the URL."""
        self.driver.get(self.url("/?token=" + READ_TOKEN))
        assert "token=" not in self.driver.current_url, self.driver.current_url
        assert self.driver.find_elements("css selector", "table#groups"), self.page_text()

    def get(self, path: str) -> None:
        self.driver.get(self.url(path))
        if self.driver.find_elements("css selector", "h1#error"):
            self.login()
            self.driver.get(self.url(path))

    def wait(self, until: Callable[[Any], Any], timeout: float = 10) -> Any:
        """A click that navigates returns before the next page is there: wait for it."""
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout).until(until)

    def page_text(self) -> str:
        return self.driver.find_element("tag name", "body").text[:3000] + "\n--- server log:\n" + \
            self.server.log_tail()

    def rows(self) -> List[Dict[str, Any]]:
        """The group list's rows: mode (from the title's top frame), severity, count, sparkline."""
        out = []
        for tr in self.driver.find_elements("css selector", "table#groups tr.group"):
            title = tr.find_element("css selector", "a.title").text
            top = title.split(" < ")[0]
            mode = next((m for m, spec in MODES.items() if top.endswith("!" + spec[0])), None)
            assert mode, f"a group of no corpus mode: {title!r}"
            spark = tr.find_elements("css selector", "svg.spark")
            out.append({"mode": mode, "title": title, "id": int(tr.get_attribute("data-group")),
                        "severity": tr.get_attribute("data-severity"),
                        "count": int(tr.find_elements("css selector", "td.num")[1].text.split()[0]),
                        "spark": spark[0] if spark else None,
                        "link": tr.find_element("css selector", "a.title")})
        return out


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    if WHY_NOT is not None:
        pytest.skip(f"web UI test in a browser: {WHY_NOT}")
    work = tmp_path_factory.mktemp("webui")
    shots = Path(os.environ.get("BT_SCREENSHOT_DIR") or (work / "screenshots"))
    uu.make_snapshots(work, ENTRIES)
    db_url = f"sqlite:///{work / 'crashes.db'}"
    t0 = time.time()
    uu.ingest_local(db_url, ENTRIES, t0)
    with uu.running_server(db_url, READ_TOKEN, UPLOAD_TOKEN, work) as server:
        print(f"server: {server.how} at {server.base}")
        for e in ENTRIES:
            if e.http:
                print(f"uploaded {e.path.name if e.path else e}: {uu.upload(server.base, e, UPLOAD_TOKEN)}")
        with uu.browser() as driver:
            u = UI(server, driver, shots, work, t0)
            u.login()
            yield u


# ---------------------------------------------------------------------------------------------
# The group list

def test_group_list_ranks_the_exploitable_group_first(ui: UI) -> None:
    ui.get("/")
    rows = ui.rows()
    counts = Counter(e.mode for e in ENTRIES)
    assert [r["mode"] for r in rows if r["mode"]] and {r["mode"] for r in rows} == set(counts), ui.page_text()
    assert len(rows) == len(counts)
    for r in rows:
        assert r["severity"] == MODES[r["mode"]][2], r
        assert r["count"] == counts[r["mode"]], r
    # By risk: a group never sits below one of a lower severity, whatever the counts — the
    # exploitable wild_write (1 crash) above the benign assert (4 crashes).
    ranks = [severity_rank(r["mode"]) for r in rows]
    assert ranks == sorted(ranks), [(r["mode"], r["severity"]) for r in rows]
    assert counts["wild_write"] < counts["assert"]  # the corpus makes the point it is meant to
    assert [r["mode"] for r in rows].index("wild_write") < [r["mode"] for r in rows].index("assert")
    # The severity badge is visible and coloured by severity (not the neutral grey).
    badge = ui.driver.find_element("css selector", "tr.group .badge.sev-exploitable")
    assert badge.is_displayed() and badge.value_of_css_property("background-color") not in (
        ui.driver.find_element("css selector", ".badge.sev-probably_not_exploitable").value_of_css_property("background-color"),)
    # The risk terms are the tooltip of the score.
    risk = ui.driver.find_element("css selector", "tr.group .risk")
    assert "severity" in (risk.get_attribute("title") or ""), risk.get_attribute("title")
    uu.screenshot(ui.driver, ui.shots / "group-list.png")


def utc_day(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")


def test_sparklines_count_the_days(ui: UI) -> None:
    """One bar per UTC day, the last today: each bar's tooltip (DATE: N) must count the corpus's
    crashes of that group received that day (the HTTP uploads: at about t0)."""
    ui.get("/")
    today = utc_day(time.time())
    for r in ui.rows():
        svg = r["spark"]
        assert svg is not None and svg.is_displayed(), r
        bars = svg.find_elements("css selector", "rect")
        assert len(bars) == SPARK_DAYS
        got = [b.find_element("css selector", "title").get_attribute("textContent").split(": ")
               for b in bars]
        assert got[-1][0] == today and len({d for d, _ in got}) == SPARK_DAYS, got
        per_day = Counter(utc_day(ui.t0 - e.age_days * DAY) for e in ENTRIES if e.mode == r["mode"])
        want = [per_day.get(day, 0) for day, _ in got]
        assert [int(n) for _, n in got] == want, (r["mode"], got, per_day)
        # Bars where there were crashes, a flat mark where none.
        assert [b.get_attribute("class") for b in bars] == ["bar" if n else "zero" for n in want]
        assert sum(want) == sum(1 for e in ENTRIES if e.mode == r["mode"]
                                and utc_day(ui.t0 - e.age_days * DAY) >= got[0][0])


def test_sort_by_count(ui: UI) -> None:
    ui.get("/?order=count")
    counts = Counter(e.mode for e in ENTRIES)
    got = [(r["mode"], r["count"]) for r in ui.rows()]
    assert got == sorted(counts.items(), key=lambda kv: -kv[1]), got
    assert len(set(counts.values())) == len(counts)  # no tie: the order is the only one


@pytest.mark.parametrize("query,pred", [
    ("severity=exploitable", lambda e: MODES[e.mode][2] == "exploitable"),
    ("kind=null-deref", lambda e: MODES[e.mode][1] == "null-deref"),
    ("version=2.0", lambda e: e.version == "2.0"),
    ("window=24h", lambda e: e.age_days < 1),
    ("attr=team%3Dpayments", lambda e: e.extra.get("team") == "payments"),
    ("q=null_field", lambda e: MODES[e.mode][0] == "null_field"),
    ("host=web-3&severity=probably_not_exploitable",
     lambda e: e.host == "web-3" and MODES[e.mode][2] == "probably_not_exploitable"),
    ("host=web-9", lambda e: False),
], ids=["severity", "class", "version", "window", "attribute", "text", "host+severity", "nothing"])
def test_filters_narrow_the_list(ui: UI, query: str, pred: Callable[[Entry], bool]) -> None:
    ui.get("/?" + query)
    want = expected_modes(pred)
    assert want != {e.mode for e in ENTRIES}, "a filter that keeps every group tests nothing"
    got = {r["mode"] for r in ui.rows()}
    assert got == want, (query, got, want)
    if not want:
        assert ui.driver.find_element("id", "empty").is_displayed()


def test_filter_form_by_host(ui: UI) -> None:
    """The form itself: choose a host in its menu (offered from the stored crashes), submit; the
    counts are the crashes of that host only."""
    from selenium.webdriver.support.ui import Select
    ui.get("/")
    menu = Select(ui.driver.find_element("css selector", "form#filters select[name=host]"))
    offered = [o.get_attribute("value") for o in menu.options if o.get_attribute("value")]
    assert offered == sorted({e.host for e in ENTRIES}), offered
    menu.select_by_value("web-2")
    ui.driver.find_element("css selector", "form#filters button[type=submit]").click()
    ui.wait(lambda d: "host=web-2" in d.current_url and d.find_elements("css selector", "table#groups"))
    got = {r["mode"]: r["count"] for r in ui.rows()}
    want = Counter(e.mode for e in ENTRIES if e.host == "web-2")
    assert got == dict(want), (got, want)
    # The form keeps the choice.
    assert Select(ui.driver.find_element("css selector", "select[name=host]")).first_selected_option.get_attribute("value") == "web-2"


# ---------------------------------------------------------------------------------------------
# A group

def test_group_page(ui: UI) -> None:
    ui.get("/")
    row = next(r for r in ui.rows() if r["mode"] == "assert")
    row["link"].click()
    ui.wait(lambda d: d.current_url.endswith(f"/group/{row['id']}"))
    mine = [e for e in ENTRIES if e.mode == "assert"]
    assert ui.driver.find_element("id", "group-title").text == row["title"]
    chart = ui.driver.find_element("css selector", "#occurrences svg.chart")
    assert chart.is_displayed()
    # 30 days by default, one bar per UTC day: each counts the group's crashes of that day.
    bars = [b.find_element("css selector", "title").get_attribute("textContent").split(": ")
            for b in chart.find_elements("css selector", "rect.bar")]
    assert len(bars) == 30 and bars[-1][0] == utc_day(time.time())
    per_day = Counter(utc_day(ui.t0 - e.age_days * DAY) for e in mine)
    assert [int(n) for _, n in bars] == [per_day.get(day, 0) for day, _ in bars], (bars, per_day)
    assert sum(int(n) for _, n in bars) == len(mine)  # all younger than 30 days

    def table(id_: str) -> Dict[str, int]:
        return {tr.find_elements("tag name", "td")[0].text: int(tr.find_elements("tag name", "td")[1].text)
                for tr in ui.driver.find_elements("css selector", f"table#{id_} tr")}
    assert table("versions") == dict(Counter(e.version for e in mine))
    assert table("hosts") == dict(Counter(e.host for e in mine))
    crashes = ui.driver.find_elements("css selector", "table#crashes tbody tr")
    assert len(crashes) == len(mine)
    # Newest first: the hosts in the order of the entries' ages.
    assert [tr.find_elements("tag name", "td")[2].text for tr in crashes] == \
        [e.host for e in sorted(mine, key=lambda e: e.age_days)]
    rep = ui.driver.find_element("id", "representative")
    assert rep.is_displayed() and MODES["assert"][1] in rep.text
    uu.screenshot(ui.driver, ui.shots / "group-page.png")


def test_group_page_keeps_the_lists_filters(ui: UI) -> None:
    """From a filtered list, a group counts only the matching crashes (and says so)."""
    ui.get("/?host=web-2")
    row = next(r for r in ui.rows() if r["mode"] == "assert")
    row["link"].click()
    ui.wait(lambda d: f"/group/{row['id']}?" in d.current_url)
    mine = [e for e in ENTRIES if e.mode == "assert" and e.host == "web-2"]
    notice = ui.driver.find_element("id", "filtered")
    assert notice.is_displayed() and "host web-2" in notice.text, notice.text
    assert f"{len(mine)} of {sum(1 for e in ENTRIES if e.mode == 'assert')}" in notice.text
    assert len(ui.driver.find_elements("css selector", "table#crashes tbody tr")) == len(mine)
    hosts = [tr.find_elements("tag name", "td")[0].text
             for tr in ui.driver.find_elements("css selector", "table#hosts tr")]
    assert hosts == ["web-2"]
    # Its link back to everything.
    notice.find_element("tag name", "a").click()
    ui.wait(lambda d: d.current_url.endswith(f"/group/{row['id']}"))
    assert not ui.driver.find_elements("id", "filtered")


# ---------------------------------------------------------------------------------------------
# A crash

def open_crash_of(ui: UI, mode: str) -> int:
    ui.get("/")
    row = next(r for r in ui.rows() if r["mode"] == mode)
    row["link"].click()
    ui.wait(lambda d: d.current_url.endswith(f"/group/{row['id']}"))
    link = ui.driver.find_element("css selector", "table#crashes tbody tr a")
    crash_id = int(link.text)
    link.click()
    ui.wait(lambda d: d.current_url.endswith(f"/crash/{crash_id}"))
    return crash_id


@pytest.mark.parametrize("mode", [m for m in MODES if MODES[m][3]])
def test_crash_page_shows_the_crashing_frame_and_the_highlighted_variable(ui: UI, mode: str) -> None:
    function, kind, severity, variable = MODES[mode]
    open_crash_of(ui, mode)
    d = ui.driver
    analysis = d.find_element("id", "analysis")
    assert analysis.is_displayed()
    assert kind in analysis.text and severity.replace("_", " ") in analysis.text, analysis.text
    # The crashed thread is open, and its first frame is the function that faulted.
    first = d.find_element("css selector", "details.thread.crashed .frame")
    assert first.get_attribute("data-function") == function
    fn = first.find_element("css selector", ".fn")
    assert fn.is_displayed() and fn.text == function
    # The variable the analysis points at: visible without a click, marked, with its reason.
    var = d.find_element("css selector", f"details.thread.crashed tr.var.highlighted[data-name='{variable}']")
    assert var.is_displayed(), ui.page_text()
    badge = var.find_element("css selector", ".hlbadge")
    assert badge.is_displayed() and badge.text == "!"
    assert var.find_element("css selector", ".hlwhy").text, var.text
    # It is the only one marked, and the analysis section links to it.
    assert len(d.find_elements("css selector", "tr.var.highlighted")) == 1
    assert d.find_element("css selector", "#analysis .hlbadge").is_displayed()
    if mode == "wild_write":
        assert d.find_element("id", "fault-address").text == "0x10000000000"  # the program's constant
        assert "write" in d.find_element("id", "instruction").text
        uu.screenshot(d, ui.shots / "crash-page.png")
    # The crash opened is the group's newest: a minidump (a Crashpad upload) renders alike.
    newest = min((e for e in ENTRIES if e.mode == mode), key=lambda e: e.age_days)
    assert d.find_element("id", "download").text.endswith(".dmp" if newest.minidump else ".btsnap")
    # Other frames' variables stay folded; registers of the crashed thread are shown.
    regs = d.find_element("css selector", "details.thread.crashed details.registers")
    assert regs.get_attribute("open") is not None and "rip" in regs.text


def test_attacker_markup_renders_as_text(ui: UI) -> None:
    open_crash_of(ui, "wild_write")
    d = ui.driver
    cells = {tr.find_elements("tag name", "td")[0].text: tr.find_elements("tag name", "td")[1].text
             for tr in d.find_elements("css selector", "table#attributes tr")}
    assert cells.get("note") == SCRIPT, cells
    # Only the page's own script exists, and no alert fired.
    assert d.execute_script("return document.scripts.length") == 1
    assert d.execute_script("return document.querySelectorAll('table#attributes script').length") == 0
    from selenium.common.exceptions import NoAlertPresentException
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.text
    # Defense in depth: a policy that would block an injected inline script anyway.
    status, headers, body = uu.http(d.current_url, headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 200 and b"&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "script-src 'nonce-" in headers.get("Content-Security-Policy", ""), headers


def test_download_link_and_debug_line(ui: UI, tmp_path: Path) -> None:
    crash_id = open_crash_of(ui, "wild_write")
    d = ui.driver
    entry = next(e for e in ENTRIES if e.mode == "wild_write")
    assert entry.path is not None
    want = entry.path.read_bytes()
    href = d.find_element("id", "download").get_attribute("href")
    assert href == ui.url(f"/api/v1/crashes/{crash_id}/download")
    # In the browser, with the session's cookie (no token in the URL): the snapshot's bytes.
    got_sha = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(r => r.ok ? r.arrayBuffer() : Promise.reject(r.status))
          .then(b => crypto.subtle.digest('SHA-256', b))
          .then(h => done(Array.from(new Uint8Array(h)).map(x => x.toString(16).padStart(2, '0')).join('')))
          .catch(e => done('error ' + e));""", href)
    assert got_sha == uu.sha256(want)
    status, _, body = uu.http(href, headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 200 and body == want
    # The line to copy: the file as it downloads, and the program the snapshot names (the one
    # the core was made from: <work>/wild_write/fault_classes), shell-quoted.
    exe = ui.work / "wild_write" / "fault_classes"
    gdb = d.find_element("id", "debug-gdb")
    assert gdb.is_displayed()
    assert gdb.text == f'gdb -ex "target remote | btserve {entry.path.name}" {shlex.quote(str(exe))}'
    assert d.find_element("id", "debug-btserve").text == f"btserve --listen 127.0.0.1:5039 {entry.path.name}"
    assert d.find_element("id", "debug-lldb").text == f'lldb {shlex.quote(str(exe))} -o "gdb-remote 127.0.0.1:5039"'
    # And the line does what it says: run as printed (plus -batch and a `bt`) next to the
    # downloaded file, gdb shows the crash through btserve.
    if not shutil.which("gdb"):
        return
    here = tmp_path / "download"
    here.mkdir()
    (here / entry.path.name).write_bytes(body)
    env = dict(os.environ, PATH=f"{uu.u.build_dir() / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run(["bash", "-c", gdb.text + " -batch -nx -iex 'set debuginfod enabled off' -ex bt"],
                       cwd=here, env=env, capture_output=True, text=True, timeout=60)
    assert re.search(r"^#0 .* in wild_write \(ptr=0x10000000000\)", r.stdout, re.M), r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# Tokens

def test_token_protected_pages(ui: UI) -> None:
    base = ui.server.base
    for path in ("/", "/group/1", "/crash/1"):
        status, headers, body = uu.http(base + path)
        assert status == 401, (path, status)
        assert b"A token is needed" in body and headers.get("WWW-Authenticate"), path
        assert uu.http(base + path + "?token=wrong")[0] == 401
        # An upload token (what ships inside a product) cannot read.
        assert uu.http(base + path + "?token=" + UPLOAD_TOKEN)[0] == 401
    # ?token= with the right token: a cookie, and the same URL without the token.
    status, headers, _ = uu.http(base + "/?severity=exploitable&token=" + READ_TOKEN)
    assert status == 303 and headers["Location"].endswith("/?severity=exploitable"), headers
    cookie = headers.get("Set-Cookie", "")
    assert cookie.startswith(f"btengine_token={READ_TOKEN}") and "HttpOnly" in cookie, cookie
    # A token in the URL that is not a read token never becomes the cookie, even when the request
    # itself is let in by its header.
    status, headers, _ = uu.http(base + "/?token=" + UPLOAD_TOKEN,
                                 headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 303 and "Set-Cookie" not in headers, headers
    # In the browser: no cookie -> the token page; its form -> the list.
    d = ui.driver
    d.delete_all_cookies()
    d.get(base + "/")
    assert d.find_element("id", "error").text.startswith("401")
    assert not d.find_elements("css selector", "table#groups")
    field = d.find_element("css selector", "input[name=token]")
    field.send_keys(READ_TOKEN)
    field.submit()
    ui.wait(lambda d: d.find_elements("css selector", "table#groups tr.group"))
    assert "token" not in d.current_url
    assert any(c["name"] == "btengine_token" for c in d.get_cookies())


# ---------------------------------------------------------------------------------------------
# Without a browser: pages of many groups, and hostile strings everywhere in a crash

HOSTILE = '<img src=x onerror="alert(1)">'


def synthetic_store(db_url: str, groups: int, crashes_in_first: int, now: float) -> None:
    """`groups` groups of one crash each (severities in turn), the first with
    `crashes_in_first` crashes; every string of the report is hostile markup."""
    from btengine.plugins import SEVERITIES
    from btengine.server.store import CrashRecord, Store
    frame = {"index": 0, "pc": "0x1000", "module": f"/bin/{HOSTILE}", "module_offset": "0x1000",
             "function": HOSTILE, "file": f"/src/{HOSTILE}.c", "line": 7, "inlined": False,
             "how": "context", "suspect": False, "signal_frame": False, "build_id_mismatch": False,
             "variables": [{"name": HOSTILE, "kind": "param", "type": HOSTILE, "value": HOSTILE,
                            "highlighted": HOSTILE, "optimized_out": False, "error": False}]}
    store = Store.open(db_url)
    try:
        records = []
        for i in range(groups):
            for j in range(crashes_in_first if i == 0 else 1):
                sev = SEVERITIES[i % len(SEVERITIES)]
                report = {"schema": "btengine.backtrace/2",
                          "target": {"kind": "snapshot", "pid": 1, "executable": f"/bin/{HOSTILE}"},
                          "signal": {"number": 11, "name": "SIGSEGV", "code": 1, "code_name": "SEGV_MAPERR",
                                     "address": "0x0"},
                          "crashed_tid": 1,
                          "threads": [{"tid": 1, "name": HOSTILE, "crashed": True, "signal": None,
                                       "stop_reason": HOSTILE, "frames": [frame]}],
                          "analysis": {"class": "null-deref", "severity": sev, "reason": HOSTILE,
                                       "breakpad_rating": "INTERESTING",
                                       "fingerprint": f"{i:016x}", "fingerprint_frames": [HOSTILE],
                                       "classifications": [{"kind": "null-deref", "severity": sev,
                                                            "rule": HOSTILE, "reason": HOSTILE,
                                                            "evidence": [{"fact": HOSTILE, "value": HOSTILE}]}],
                                       "highlighted": [{"frame": 0, "function": HOSTILE, "name": HOSTILE,
                                                        "value": HOSTILE, "reason": HOSTILE}]},
                          "attributes": {HOSTILE: HOSTILE}, "warnings": [HOSTILE], "modules": [],
                          "partial": False}
                blob = f"{i}-{j}".encode()
                records.append(CrashRecord(
                    sha256=uu.sha256(blob), received=now - (i + j) * 60, format="btsnap", size=len(blob),
                    filename=f"crash-{i}-{j}.btsnap", blob=blob, fingerprint=f"{i:016x}",
                    title=f"prog!{HOSTILE}_{i} < prog!main", severity=sev, kind="null-deref",
                    signal="SIGSEGV", executable=f"/bin/{HOSTILE}", attributes={"host": f"h{j % 3}", HOSTILE: HOSTILE},
                    report=report, registers={"1": {"rip": 4096, "rsp": 8192}}))
        store.add_crashes(records)
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from btengine.server.app import create_app
    from btengine.server.config import ServerConfig
    db_url = f"sqlite:///{tmp_path_factory.mktemp('webui-pages') / 'crashes.db'}"
    synthetic_store(db_url, groups=GROUPS, crashes_in_first=FIRST_GROUP_CRASHES, now=time.time())
    return create_app(ServerConfig(db_url=db_url, listen="127.0.0.1:0")).test_client()


GROUPS = 123
FIRST_GROUP_CRASHES = 75


def page_size() -> int:
    from btengine.server import web
    return web.PAGE_SIZE


def test_group_list_pages(client: Any) -> None:
    seen: List[int] = []
    risks: List[float] = []
    pages = -(-GROUPS // page_size())
    for n in range(1, pages + 1):
        r = client.get(f"/?page={n}")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        ids = [int(x) for x in re.findall(r'<tr class="group" data-group="(\d+)"', html)]
        assert len(ids) == (page_size() if n < pages else GROUPS - page_size() * (pages - 1)), n
        seen += ids
        risks += [float(x) for x in re.findall(r'<span class="risk"[^>]*>([0-9.]+)</span>', html)]
        assert f"page {n} of {pages}" in html
        assert ('rel="next"' in html) == (n < pages) and ('rel="prev"' in html) == (n > 1)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == GROUPS  # every group once
    assert risks == sorted(risks, reverse=True)  # the ranking runs on across pages
    # A page past the end shows the last one.
    assert client.get(f"/?page={pages + 5}").status_code == 200


def test_group_crash_list_pages(client: Any) -> None:
    ids: List[int] = []
    pages = -(-FIRST_GROUP_CRASHES // page_size())
    for n in range(1, pages + 1):
        html = client.get(f"/group/1?page={n}").get_data(as_text=True)
        ids += [int(x) for x in re.findall(r'<tr data-crash="(\d+)"', html)]
        assert f"page {n} of {pages}" in html
    assert len(ids) == len(set(ids)) == FIRST_GROUP_CRASHES


def test_hostile_strings_are_escaped_everywhere(client: Any) -> None:
    for path in ("/", "/group/1", "/crash/1", "/?q=" + HOSTILE, "/?attr=" + HOSTILE + "=" + HOSTILE):
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        assert "<img" not in html, (path, html[html.find("<img") - 200:html.find("<img") + 200])
        assert "onerror=" not in html.replace("onerror=&#34;", "")  # only escaped ones
        assert "&lt;img src=x onerror=" in html, path
    # The debug line quotes the hostile executable path for the shell.
    html = client.get("/crash/1").get_data(as_text=True)
    assert "gdb -ex &#34;target remote | btserve crash-0-" in html
    assert shlex.quote(f"/bin/{HOSTILE}").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;") in html
