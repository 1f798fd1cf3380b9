"""`bt show` on snapshots that are missing, not snapshots, truncated, lying in their
header, or well-formed containers holding a broken document or memory-slice table:
every one is refused with the right exit code (5 bad input, 6 truncated, 7 missing
file) and one "bt: error:" line, without a signal and within a few seconds. Documents
that are re-packed but still valid are shown (re-packing the original unchanged gives
the same `bt show --json`). CI also runs this file with the AddressSanitizer build of bt
(BT_BIN=build-asan/bin/bt).

The container (engine/snapshot/snapshot_format.cpp): 32-byte header "BTSNAP\\r\\n",
u32 version, u32 flags, u64 compressed size, u64 payload size; then one zstd frame
holding u64 JSON size + JSON document + u64 slice count + slices (u64 address,
u64 size, bytes)."""

from __future__ import annotations

import copy
import json
import os
import random
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import e2e_util as u

zstandard = pytest.importorskip("zstandard", reason="pip install -r scripts/requirements-dev.txt")
from snapshot_file import HEADER, MAGIC, Snap, parse_container  # noqa: E402

FIXTURE = "deep_c.gcc-O0-dwarf5-pie-fp"
BAD_INPUT, TRUNCATED, MISSING = 5, 6, 7
# bt built with AddressSanitizer is several times slower.
TIME_LIMIT = 15.0 if os.environ.get("BT_BIN") else 5.0
SHOW_VARIANTS = (["show"], ["show", "--json", "--vars"])


# --------------------------------------------------------------------------
# The container, in Python


def encode_doc(doc) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def payload_of(json_bytes: bytes, slices, count=None) -> bytes:
    """u64 JSON size, JSON, u64 count, slices; a slice is (address, bytes) or
    (address, size field, bytes) for a size field that lies."""
    out = struct.pack("<Q", len(json_bytes)) + json_bytes
    out += struct.pack("<Q", len(slices) if count is None else count)
    for s in slices:
        addr, size, data = (s[0], len(s[1]), s[1]) if len(s) == 2 else s
        out += struct.pack("<QQ", addr, size) + data
    return out


def compress(payload: bytes, level: int = 3, checksum: bool = True) -> bytes:
    """One zstd frame with its content size (as bt writes it)."""
    return zstandard.ZstdCompressor(level=level, write_checksum=checksum).compress(payload)


def compress_streaming(payload: bytes) -> bytes:
    """One zstd frame without a content size in its header."""
    obj = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    return obj.compress(payload) + obj.flush()


def container(frame: bytes, usize: int, version: int = 1, flags: int = 0, csize=None,
              trailing: bytes = b"") -> bytes:
    csize = len(frame) if csize is None else csize
    return MAGIC + struct.pack("<IIQQ", version, flags, csize, usize) + frame + trailing


def pack_payload(payload: bytes, **kw) -> bytes:
    return container(compress(payload), len(payload), **kw)


def pack(doc, slices, **kw) -> bytes:
    return pack_payload(payload_of(encode_doc(doc), slices), **kw)


# --------------------------------------------------------------------------
# One valid snapshot per session


@dataclass
class Original:
    path: Path
    data: bytes
    snap: Snap
    show_json: str       # `bt show --json`
    show_json_vars: str  # `bt show --json --vars`


@pytest.fixture(scope="session")
def original(bt_bin, manifest, cores, tmp_path_factory) -> Original:
    entry = next((e for e in manifest["binaries"] if e["name"] == FIXTURE), None)
    if entry is None:
        pytest.fail(f"fixture {FIXTURE} missing from the manifest")
    core = cores.core(entry)
    out = tmp_path_factory.mktemp("snapshot") / "original.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", entry["path"], "-o", out, "-q"])
    assert run.returncode == 0 and out.is_file(), run.describe()
    data = out.read_bytes()
    snap = parse_container(data)
    assert snap.slices, "the snapshot has no memory slices"
    runs = [u.run_bt(["show", out, "--json"]), u.run_bt(["show", out, "--json", "--vars"])]
    for r in runs:
        assert r.returncode == 0, r.describe()
        json.loads(r.stdout)
    return Original(out, data, snap, runs[0].stdout, runs[1].stdout)


@pytest.fixture
def write(tmp_path):
    def w(data: bytes, name: str = "case.btsnap") -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return w


def expect_error(path, code=None, codes=(BAD_INPUT, TRUNCATED, MISSING), mentions=None):
    """`bt show` and `bt show --json --vars` refuse path: the exit code (exactly `code` when
    given), no signal, one "bt: error:" line on stderr, nothing on stdout, quickly."""
    msgs = []
    for variant in SHOW_VARIANTS:
        args = [variant[0], path] + variant[1:]
        run = u.run_bt(args, timeout=60)
        assert run.returncode >= 0, "bt died from a signal\n" + run.describe()
        if code is not None:
            assert run.returncode == code, run.describe()
        else:
            assert run.returncode in codes, run.describe()
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bt: error: "), run.describe()
        assert run.stdout == "", run.describe()
        assert run.seconds < TIME_LIMIT, run.describe()
        if mentions:
            assert mentions in lines[0], run.describe()
        msgs.append(lines[0])
    assert msgs[0] == msgs[1]
    return msgs[0]


def expect_shown(path, original: Original | None = None):
    """`bt show` and `bt show --json --vars` succeed; the JSON parses. With `original`, the
    JSON is the original's."""
    run = u.run_bt(["show", path], timeout=60)
    assert run.returncode == 0 and run.stdout, run.describe()
    assert run.seconds < TIME_LIMIT, run.describe()
    jrun = u.run_bt(["show", path, "--json", "--vars"], timeout=60)
    assert jrun.returncode == 0, jrun.describe()
    for r in (run, jrun):
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r.describe()
    doc = json.loads(jrun.stdout)
    if original is not None:
        assert jrun.stdout == original.show_json_vars
        plain = u.run_bt(["show", path, "--json"], timeout=60)
        assert plain.returncode == 0 and plain.stdout == original.show_json, plain.describe()
    return doc


# --------------------------------------------------------------------------
# Files that are not snapshots at all


def test_empty_file(bt_bin, write):
    expect_error(write(b""), BAD_INPUT, mentions="not a btengine snapshot")


def test_directory(bt_bin, tmp_path):
    d = tmp_path / "dir.btsnap"
    d.mkdir()
    expect_error(d, BAD_INPUT)


def test_missing_path(bt_bin, tmp_path):
    expect_error(tmp_path / "nope" / "missing.btsnap", MISSING, mentions="no such file")


def test_elf_file(bt_bin, manifest):
    entry = next(e for e in manifest["binaries"] if e["name"] == FIXTURE)
    expect_error(entry["path"], BAD_INPUT, mentions="not a btengine snapshot")


def test_core_file_is_shown_as_bt_shows_it(bt_bin, original, manifest, cores):
    """Not a snapshot, but something bt reads: `bt show CORE` prints what `bt CORE` prints."""
    entry = next(e for e in manifest["binaries"] if e["name"] == FIXTURE)
    core = cores.core(entry)
    for extra in ([], ["--json", "--vars"]):
        shown = u.run_bt(["show", core] + extra, timeout=60)
        direct = u.run_bt([core] + extra, timeout=60)
        assert shown.returncode == 0 and shown.stdout == direct.stdout, shown.describe()


def test_text_and_bare_zstd(bt_bin, original, write):
    expect_error(write(b"BTSNA"), BAD_INPUT)          # too short to be recognized
    expect_error(write(b"hello world\n" * 10), BAD_INPUT)
    expect_error(write(original.snap.frame), BAD_INPUT)  # the payload without the header


# --------------------------------------------------------------------------
# Truncation


def truncation_points(n: int):
    pts = set(range(0, HEADER + 12)) | set(range(HEADER + 12, n, 97)) | {n - 8, n - 4, n - 2, n - 1}
    return sorted(p for p in pts if 0 <= p < n)


def test_truncated_everywhere(bt_bin, original, write):
    """Cut at every header byte, through the zstd frame, and one byte short of the end."""
    data = original.data
    for cut in truncation_points(len(data)):
        p = write(data[:cut], f"cut{cut}.btsnap")
        # Fewer than 6 bytes cannot be told from another format; from "BTSNAP" on, a cut
        # file is recognized as a truncated snapshot.
        expect_error(p, BAD_INPUT if cut < 6 else TRUNCATED)
        p.unlink()


# --------------------------------------------------------------------------
# Headers that lie


def with_header(data: bytes, **fields) -> bytes:
    version, flags, csize, usize = struct.unpack_from("<IIQQ", data, 8)
    version = fields.get("version", version)
    flags = fields.get("flags", flags)
    csize = fields.get("csize", csize)
    usize = fields.get("usize", usize)
    return MAGIC + struct.pack("<IIQQ", version, flags, csize, usize) + data[HEADER:]


@pytest.mark.parametrize("version", [0, 2, 0x100, 0xFFFFFFFF])
def test_wrong_version(bt_bin, original, write, version):
    msg = expect_error(write(with_header(original.data, version=version)), BAD_INPUT)
    assert "version" in msg


@pytest.mark.parametrize("flags", [1, 2, 0x80000000, 0xFFFFFFFF])
def test_nonzero_flags(bt_bin, original, write, flags):
    expect_error(write(with_header(original.data, flags=flags)), BAD_INPUT, mentions="flags")


@pytest.mark.parametrize("delta,code", [
    (1, TRUNCATED), (4096, TRUNCATED), (1 << 40, TRUNCATED), ("max", TRUNCATED),
    (-1, BAD_INPUT), (-100, BAD_INPUT), ("zero", BAD_INPUT),
])
def test_compressed_size_lies(bt_bin, original, write, delta, code):
    csize = original.snap.csize
    csize = {"max": 2**64 - 1, "zero": 0}.get(delta, csize + delta if isinstance(delta, int) else 0)
    expect_error(write(with_header(original.data, csize=csize)), code)


@pytest.mark.parametrize("usize", ["+1", "-1", 0, 8, 1 << 32, (4 << 30) + 1, 1 << 62, 2**64 - 1])
def test_payload_size_lies(bt_bin, original, write, usize):
    if isinstance(usize, str):
        usize = original.snap.usize + int(usize)
    expect_error(write(with_header(original.data, usize=usize)), BAD_INPUT)


@pytest.mark.parametrize("garbage", [b"\0", b"x" * 100, b"BTSNAP\r\n"])
def test_trailing_garbage(bt_bin, original, write, garbage):
    expect_error(write(original.data + garbage), BAD_INPUT, mentions="trailing")


def test_frame_without_content_size(bt_bin, original, write):
    payload = zstandard.ZstdDecompressor().decompress(original.snap.frame)
    frame = compress_streaming(payload)
    expect_error(write(container(frame, len(payload))), BAD_INPUT)


def test_two_frames(bt_bin, original, write):
    """The header describes the first of two concatenated frames."""
    payload = zstandard.ZstdDecompressor().decompress(original.snap.frame)
    frame = compress(payload) + compress(b"more")
    expect_error(write(container(frame, len(payload))), BAD_INPUT)


def test_corrupt_frame_checksum(bt_bin, original, write):
    data = bytearray(original.data)
    data[-1] ^= 0xFF  # the frame's content checksum
    expect_error(write(bytes(data)), BAD_INPUT, mentions="decompress")


def test_tiny_frame_claiming_4gib(bt_bin, write):
    """A zstd frame header saying 4 GiB (the reader's bound) followed by one empty block."""
    fcs = 4 << 30
    frame = struct.pack("<IB", 0xFD2FB528, 0xE0) + struct.pack("<Q", fcs) + bytes([1, 0, 0])
    path = write(container(frame, fcs))
    # The peak memory of bt, measured by a wrapper process (its only child).
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
               "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, str(u.bt_path()), "show", str(path)],
                         capture_output=True, text=True, timeout=120).stdout.split()
    code, maxrss_kib = int(out[0]), int(out[1])
    assert code == BAD_INPUT
    assert maxrss_kib < 1024 * 1024, f"bt show used {maxrss_kib} KiB for a {path.stat().st_size}-byte file"


# --------------------------------------------------------------------------
# Well-formed zstd frames with bad payloads


@pytest.mark.parametrize("case", ["random", "empty", "short", "zeros", "json_only", "no_count"])
def test_garbage_payload(bt_bin, original, write, case):
    rng = random.Random(7)
    doc = encode_doc(original.snap.doc)
    payload = {
        "random": bytes(rng.randrange(256) for _ in range(5000)),
        "empty": b"",
        "short": b"\x01\x02\x03",
        "zeros": bytes(4096),
        "json_only": struct.pack("<Q", len(doc)) + doc,            # no slice count
        "no_count": struct.pack("<Q", len(doc)) + doc + b"\1\0\0",  # partial slice count
    }[case]
    expect_error(write(pack_payload(payload)), BAD_INPUT)


@pytest.mark.parametrize("case", [
    "truncated_json", "json_array", "json_string", "empty_json", "not_utf8", "nul_inside",
    "size_too_big", "size_huge", "size_too_small", "nested_1000",
])
def test_broken_json(bt_bin, original, write, case):
    doc = encode_doc(original.snap.doc)
    slices = original.snap.slices
    if case.startswith("size_"):
        good = payload_of(doc, slices)
        size = {"size_too_big": len(good), "size_huge": 1 << 62, "size_too_small": len(doc) - 1}[case]
        payload = struct.pack("<Q", size) + good[8:]
    else:
        j = {
            "truncated_json": doc[: len(doc) // 2],
            "json_array": b"[1,2,3]",
            "json_string": b'"btengine.snapshot/1"',
            "empty_json": b"",
            "not_utf8": doc.replace(b'"deep_c', b'"\xff\xfedeep_c', 1),
            "nul_inside": doc[:10] + b"\0" + doc[10:],
            "nested_1000": b"[" * 1000 + b"]" * 1000,
        }[case]
        payload = payload_of(j, slices)
    expect_error(write(pack_payload(payload)), BAD_INPUT)


def test_deeply_nested_json(bt_bin, original, write):
    j = b"[" * 100000 + b"]" * 100000
    expect_error(write(pack_payload(payload_of(j, []))), BAD_INPUT)


# --------------------------------------------------------------------------
# Valid containers, documents with bad fields

MISSING_FIELD = object()


def edit(doc, path, value):
    """Copy of doc with doc[path] set to value (MISSING_FIELD: removed)."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is MISSING_FIELD:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


BT0 = ["backtraces", 0]
F0 = BT0 + ["frames", 0]
T0 = ["threads", 0]

# (id, path, value): each must be refused with exit 5.
BAD_FIELDS = [
    ("schema-other", ["schema"], "btengine.snapshot/2"),
    ("schema-missing", ["schema"], MISSING_FIELD),
    ("schema-number", ["schema"], 1),
    ("process-missing", ["process"], MISSING_FIELD),
    ("process-array", ["process"], []),
    ("pid-string", ["process", "pid"], "12"),
    ("pid-negative", ["process", "pid"], -1),
    ("pid-huge", ["process", "pid"], 1 << 40),
    ("pid-float", ["process", "pid"], 1.5),
    ("uid-negative", ["process", "uid"], -3),
    ("capture-missing", ["capture"], MISSING_FIELD),
    ("arch-aarch64", ["capture", "arch"], "aarch64"),
    ("time-negative", ["capture", "time"], -5),
    ("time-huge", ["capture", "time"], 1 << 70),
    ("variables-string", ["capture", "variables"], "yes"),
    ("stopped-string", ["capture", "stopped_ms"], "12"),
    ("signal-number-big", ["signal", "number"], 1000),
    ("signal-address-bad", ["signal", "address"], "0xnothex"),
    ("signal-array", ["signal"], [11]),
    ("crashed-tid-string", ["crashed_tid"], "abc"),
    ("threads-object", ["threads"], {}),
    ("threads-missing", ["threads"], MISSING_FIELD),
    ("thread-null", T0, None),
    ("tid-negative", T0 + ["tid"], -1),
    ("registers-missing", T0 + ["registers"], MISSING_FIELD),
    ("rip-empty-hex", T0 + ["registers", "rip"], "0x"),
    ("rip-17-digits", T0 + ["registers", "rip"], "0x10000000000000000"),
    ("rip-number", T0 + ["registers", "rip"], 4096),
    ("rip-no-prefix", T0 + ["registers", "rip"], "1000"),
    ("rsp-missing", T0 + ["registers", "rsp"], MISSING_FIELD),
    ("fpregs-short", T0 + ["fpregs"], "00ff"),
    ("fpregs-not-hex", T0 + ["fpregs"], "zz" * 512),
    ("thread-signal-bad", T0 + ["signal"], {"number": "SIGSEGV"}),
    ("regions-object", ["regions"], {}),
    ("region-perms", ["regions", 0, "perms"], "rw"),
    ("region-end-before-start", ["regions", 0, "end"], "0x0"),
    ("region-start-missing", ["regions", 0, "start"], MISSING_FIELD),
    ("module-start-bad", ["modules", 0, "start"], "start"),
    ("module-main-string", ["modules", 0, "main_executable"], "true"),
    ("auxv-single", ["auxv", 0], ["0x21"]),
    ("auxv-numbers", ["auxv", 0], [33, 0]),
    ("backtraces-null", ["backtraces"], None),
    ("backtraces-missing", ["backtraces"], MISSING_FIELD),
    ("bt-tid-string", BT0 + ["tid"], "1"),
    ("bt-frames-object", BT0 + ["frames"], {}),
    ("frame-how-unknown", F0 + ["how"], "teleport"),
    ("frame-line-negative", F0 + ["line"], -1),
    ("frame-line-2^33", F0 + ["line"], 1 << 33),
    ("frame-index-float", F0 + ["index"], 0.5),
    ("frame-pc-bad", F0 + ["pc"], "0xzz"),
    ("frame-inlined-null", F0 + ["inlined"], None),
    ("variable-kind", F0 + ["variables", 0, "kind"], "weird"),
    ("variable-name-null", F0 + ["variables", 0, "name"], None),
    ("variable-address-bad", F0 + ["variables", 0, "address"], "0x-1"),
    ("globals-string", ["globals"], "x"),
    ("globals-bad-entry", ["globals"], [{"name": "g"}]),
    ("attributes-array", ["attributes"], []),
    ("attribute-order-dangling", ["attribute_order"], ["no-such-attribute"]),
    ("fingerprint-number", ["fingerprint"], 5),
    ("xcr0-not-hex", ["xcr0"], "avx"),
    ("link-map-order-huge", ["modules", 0, "link_map_order"], 1 << 30),
    ("link-map-bad", ["modules", 0, "link_map"], 7),
    # Facts that contradict each other: one answer (refused) in every front.
    ("crashed-tid-unknown", ["crashed_tid"], 123456),
    ("no-backtraces", ["backtraces"], []),
]


@pytest.mark.parametrize("path,value", [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_bad_field(bt_bin, original, write, path, value):
    doc = edit(original.snap.doc, path, value)  # KeyError/IndexError: the case is vacuous
    expect_error(write(pack(doc, original.snap.slices)), BAD_INPUT, mentions="snapshot")


def test_regions_and_modules_unsorted(bt_bin, original, write):
    doc = original.snap.doc
    assert len(doc["regions"]) >= 2 and len(doc["modules"]) >= 2
    for key in ("regions", "modules"):
        bad = copy.deepcopy(doc)
        bad[key][0], bad[key][1] = bad[key][1], bad[key][0]
        expect_error(write(pack(bad, original.snap.slices)), BAD_INPUT, mentions="not sorted")


# Valid but unusual documents: shown (exit 0).
ODD_BUT_VALID = [
    ("unknown-keys", ["extra"], {"anything": [1, 2, 3]}),
    ("time-max", ["capture", "time"], 2**63 - 1),
    ("stopped-huge", ["capture", "stopped_ms"], 1e300),
    ("stopped-negative", ["capture", "stopped_ms"], -1),
    ("no-crashed-tid", ["crashed_tid"], None),
    ("no-signal", ["signal"], None),
    ("signal-max", ["signal", "number"], 128),
    ("no-threads", ["threads"], []),
    ("no-frames", BT0 + ["frames"], []),
    ("no-regions", ["regions"], []),
    ("no-modules", ["modules"], []),
    ("frame-index-max", F0 + ["index"], 2**31 - 1),
    ("frame-line-max", F0 + ["line"], 2**32 - 1),
    ("frame-pc-max", F0 + ["pc"], "0xffffffffffffffff"),
    ("function-long", F0 + ["function"], "f" * 100000),
    ("function-unicode", F0 + ["function"], "f\u00e9\u4e2d\U0001f600\u202e"),
    ("file-null", F0 + ["file"], None),
    ("module-null", F0 + ["module"], None),
    ("value-control-chars", F0 + ["variables", 0, "value"], "\x00\x01\x1b[31m\n\t"),
    ("attributes", ["attributes"], {"k": "v", "": "empty key", "\u00e9": "x" * 1000}),
    ("classifications", ["classifications"], [{"kind": "null-deref", "nested": [[[]]]}, 1, None]),
    ("fingerprint-frames-mixed", ["fingerprint_frames"], ["a", 1, None]),
    ("command-line-mixed", ["process", "command_line"], ["x", 2, None]),
]


@pytest.mark.parametrize("path,value", [c[1:] for c in ODD_BUT_VALID], ids=[c[0] for c in ODD_BUT_VALID])
def test_odd_but_valid_field(bt_bin, original, write, path, value):
    doc = edit(original.snap.doc, path, value)
    if path == ["attributes"]:
        doc["attribute_order"] = list(value)
    expect_shown(write(pack(doc, original.snap.slices)))


def test_repack_round_trips(bt_bin, original, write):
    """The original document and slices, re-packed by Python (other compression level,
    other JSON spelling), show exactly as the original."""
    snap = original.snap
    expect_shown(write(pack(snap.doc, snap.slices)), original)
    # Without a content checksum, with the highest compression level.
    payload = payload_of(encode_doc(snap.doc), snap.slices)
    frame = compress(payload, level=19, checksum=False)
    expect_shown(write(container(frame, len(payload)), "level19.btsnap"), original)


def test_documents_spelt_otherwise_show_alike(bt_bin, original, write):
    """bt decodes a document's threads one at a time when it can cut the "backtraces" array
    out of the text (engine/snapshot/document_scan.cpp), and parses the document whole when
    it cannot. Either way the snapshot shows exactly as the original: indented, the array first
    or last, the key written with an escape (not split), a thread's name holding brackets,
    commas, quotes and backslashes, and two threads on one line."""
    snap = original.snap
    doc = copy.deepcopy(snap.doc)
    spellings = {
        "indented": json.dumps(doc, indent=2, ensure_ascii=False),
        "first": json.dumps({"backtraces": doc["backtraces"],
                             **{k: v for k, v in doc.items() if k != "backtraces"}}),
        "last": json.dumps({**{k: v for k, v in doc.items() if k != "backtraces"},
                            "backtraces": doc["backtraces"]}),
        "escaped-key": encode_doc(doc).decode().replace('"backtraces":', '"backtr\\u0061ces":', 1),
        "spaces": encode_doc(doc).decode().replace('"backtraces":[', '"backtraces" : [ ', 1)
                                           .replace("},{", "} ,\n {"),
    }
    for name, text in spellings.items():
        assert text != encode_doc(doc).decode() or name == "last", name
        expect_shown(write(pack_payload(payload_of(text.encode(), snap.slices)), f"{name}.btsnap"),
                     original)
    # Names are target bytes: whatever they hold, the cut follows the JSON, not the characters.
    tricky = copy.deepcopy(doc)
    for t in tricky["backtraces"] + tricky["threads"]:
        t["name"] = 'a],"b":[{"c\\'
    shown = expect_shown(write(pack(tricky, snap.slices), "tricky.btsnap"))
    assert {t["name"] for t in shown["threads"]} == {'a],"b":[{"c\\'}


def test_a_broken_thread_gets_the_whole_documents_message(bt_bin, original, write):
    """A JSON error inside one thread of the backtraces array is reported as the parser reports
    it for the whole document (its byte offset in the document), not in the thread's text."""
    text = encode_doc(original.snap.doc).decode()
    cut = text.index('"backtraces":[') + len('"backtraces":[')
    last = text.index("]", text.index('"frames"', cut))  # inside the first thread
    broken = text[:last] + "]]" + text[last + 1:]  # one bracket too many
    msg = expect_error(write(pack_payload(payload_of(broken.encode(), original.snap.slices))),
                       code=BAD_INPUT, mentions="document is not JSON")
    # The parser stops after the extra bracket: two bytes past `last` in the whole document.
    assert f"byte={last + 2}]" in msg, msg


def test_adjacent_slices_are_valid(bt_bin, original, write):
    addr, data = original.snap.slices[-1]
    slices = original.snap.slices + [(addr + len(data), b"\xaa" * 16)]
    expect_shown(write(pack(original.snap.doc, slices)))


# --------------------------------------------------------------------------
# Memory slices


def slice_cases(slices):
    (a0, d0), (a1, d1) = slices[0], slices[1]
    top = 2**64 - 8
    return {
        "overlap": [(a0, d0), (a0 + len(d0) - 1, d1)] + slices[2:],
        "same-address": [(a0, d0), (a0, d1)] + slices[2:],
        "unsorted": [slices[1], slices[0]] + slices[2:],
        "contains": [(a0, d0 * 2), (a0 + 1, d0[:2])] + slices[2:],
        "wraps-around": slices + [(top, b"x" * 16)],
        "ends-at-2^64": slices + [(2**64 - 16, b"x" * 16)],
        "empty-slice": slices + [(2**63, b"")],
        "size-past-payload": slices[:-1] + [(slices[-1][0], len(slices[-1][1]) + 1, slices[-1][1])],
        "size-huge": [(a0, 2**63, d0)] + slices[1:],
        "size-max": [(a0, 2**64 - 1, d0)] + slices[1:],
    }


SLICE_CASES = ["overlap", "same-address", "unsorted", "contains", "wraps-around", "ends-at-2^64",
               "empty-slice", "size-past-payload", "size-huge", "size-max"]


@pytest.mark.parametrize("case", SLICE_CASES)
def test_bad_slices(bt_bin, original, write, case):
    slices = slice_cases(original.snap.slices)[case]
    expect_error(write(pack(original.snap.doc, slices)), BAD_INPUT, mentions="slice")


@pytest.mark.parametrize("count", ["+1", "-1", 1 << 20, (1 << 20) + 1, 1 << 40, 2**64 - 1])
def test_slice_count_lies(bt_bin, original, write, count):
    n = len(original.snap.slices)
    count = n + int(count) if isinstance(count, str) else count
    payload = payload_of(encode_doc(original.snap.doc), original.snap.slices, count=count)
    expect_error(write(pack_payload(payload)), BAD_INPUT)


def test_trailing_bytes_in_payload(bt_bin, original, write):
    payload = payload_of(encode_doc(original.snap.doc), original.snap.slices) + b"\0" * 8
    expect_error(write(pack_payload(payload)), BAD_INPUT, mentions="trailing")


# --------------------------------------------------------------------------
# Seeded random corruption: of the file (the zstd checksum stops nearly all of it) and of the
# decompressed payload, re-packed (so the JSON and slice decoding see it)


def corrupt(data: bytearray, rng: random.Random, lo: int = 0):
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(lo, len(data))
        if rng.random() < 0.5:
            data[at] ^= 1 << rng.randrange(8)
        else:
            data[at] = rng.randrange(256)


@pytest.mark.parametrize("seed", range(50))
def test_random_file_corruption(bt_bin, original, write, seed):
    rng = random.Random(seed)
    data = bytearray(original.data)
    corrupt(data, rng)
    if bytes(data) == original.data:
        return
    expect_error(write(bytes(data)), codes=(BAD_INPUT, TRUNCATED))


@pytest.mark.parametrize("seed", range(50))
def test_random_payload_corruption(bt_bin, original, write, seed):
    """Bytes of the decompressed payload, JSON and slices alike, re-packed with a correct
    header: refused (5), or shown when the change left a valid document (a changed string
    or digit, or slice bytes)."""
    rng = random.Random(1000 + seed)
    payload = bytearray(payload_of(encode_doc(original.snap.doc), original.snap.slices))
    if seed % 2 == 0:
        # Half of them inside the JSON document, where the decoding is.
        (jsize,) = struct.unpack_from("<Q", payload, 0)
        for _ in range(rng.randint(1, 4)):
            payload[8 + rng.randrange(jsize)] = rng.choice(b'0123456789abcdefx"{}[],:. \\-')
    else:
        corrupt(payload, rng)
    p = write(pack_payload(bytes(payload)))
    runs = [u.run_bt(["show", p]), u.run_bt(["show", p, "--json", "--vars"])]
    for run in runs:
        assert run.returncode >= 0, "bt died from a signal\n" + run.describe()
        assert run.returncode in (0, BAD_INPUT), run.describe()
        assert run.seconds < TIME_LIMIT, run.describe()
        assert "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, run.describe()
        if run.returncode:
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("bt: error: "), run.describe()
    assert runs[0].returncode == runs[1].returncode, runs[0].describe() + runs[1].describe()
    if runs[1].returncode == 0:
        json.loads(runs[1].stdout)


def test_duplicated_threads_and_backtraces_are_refused(bt_bin, original, write):
    doc = original.snap.doc
    for key in ("threads", "backtraces"):
        bad = copy.deepcopy(doc)
        bad[key].append(copy.deepcopy(bad[key][0]))
        expect_error(write(pack(bad, original.snap.slices)), BAD_INPUT, mentions="twice" if key == "threads" else "two backtraces")


def test_contradictions_get_the_same_answer_in_python(bt_bin, original, write):
    """The refusal is the reader's: btengine.open raises FormatError with the same message."""
    bad = copy.deepcopy(original.snap.doc)
    bad["crashed_tid"] = 123456
    path = write(pack(bad, original.snap.slices))
    code = f"""
import btengine
try:
    btengine.open({str(path)!r})
except btengine.FormatError as e:
    print("FormatError", e)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("FormatError"), run.stdout + run.stderr
    assert "crashed_tid 123456 names no thread" in run.stdout



# --------------------------------------------------------------------------
# The analysis' inputs and outputs (engine/analysis)


@pytest.mark.parametrize("code", [b"\x0f\xff" * 8, b"\xff" * 15, b"\x00" * 15, b"\xf3" * 15],
                         ids=["invalid-opcode", "all-ff", "zeros", "prefixes-only"])
def test_garbage_code_at_the_pc(bt_bin, original, write, code):
    """The bytes a snapshot keeps around the pc are what bt show decodes again: garbage there
    gives no instruction or a garbage one, never a crash, and the stored analysis stands."""
    pc = int(json.loads(original.show_json)["analysis"]["instruction"]["pc"], 16)
    slices = []
    for addr, data in original.snap.slices:
        if addr <= pc < addr + len(data):
            off = pc - addr
            data = data[:off] + code[: len(data) - off] + data[off + len(code):]
        slices.append((addr, data))
    path = write(pack(original.snap.doc, slices))
    doc = expect_shown(path)
    want = json.loads(original.show_json)["analysis"]
    assert doc["analysis"]["classifications"] == want["classifications"]
    ins = doc["analysis"]["instruction"]
    assert ins is None or (ins["pc"] == hex(pc) and ins["length"] <= 15)
    run = u.run_python(f"import btengine\nwith btengine.open({str(path)!r}) as p:\n"
                       f"    print(p.analysis.kind, p.instruction is None)")
    assert run.returncode == 0 and run.stdout.split()[0] == str(want["class"]), run.stderr


DAMAGED_ANALYSIS = [
    ("evidence-not-array", ["classifications"], [{"kind": "x", "evidence": {"a": "b"}}]),
    ("evidence-mixed", ["classifications"], [{"kind": "x", "evidence": [1, None, {"fact": 2}, {"value": "v"},
                                                                         {"fact": "f", "value": "v"}]}]),
    ("breakpad-not-string", ["classifications"], [{"kind": "x", "breakpad_rating": 3}]),
    ("highlighted-not-string", F0 + ["variables", 0, "highlighted"], 5),
    ("highlighted-long", F0 + ["variables", 0, "highlighted"], "w" * 100000),
]


@pytest.mark.parametrize("path,value", [c[1:] for c in DAMAGED_ANALYSIS], ids=[c[0] for c in DAMAGED_ANALYSIS])
def test_damaged_analysis_fields(bt_bin, original, write, path, value):
    """Stored analysis fields of the wrong shape are skipped or kept as text, never a crash."""
    doc = edit(original.snap.doc, path, value)
    shown = expect_shown(write(pack(doc, original.snap.slices)))
    assert isinstance(shown["analysis"]["classifications"], list)
