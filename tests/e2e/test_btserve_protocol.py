"""btserve's GDB remote serial protocol, spoken by a small test client over stdio (subprocess
pipes) and TCP: framing and acks, the queries gdb and lldb use (checked against the core file
itself, parsed here), refused writes, resume requests, and robustness against broken input —
bad checksums, truncated and oversized packets, garbage, run-length encoding, interrupts —
after each of which the server must still answer `?` correctly, alive and within bounded time
and memory. Protocol reference: the GDB manual, appendix "Remote Protocol"."""

from __future__ import annotations

import os
import random
import re
import select
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import e2e_util as u

BTSERVE = Path(os.environ.get("BTSERVE_BIN", u.build_dir() / "bin" / "btserve"))
ONE = "vars_c.gcc-O0-dwarf5-pie-fp"
THREADS = "threads_cpp.gcc-O0-dwarf5-pie-fp"
REPLY_TIMEOUT = 5.0  # every reply must come within this

pytestmark = pytest.mark.skipif(
    not BTSERVE.is_file(), reason=f"{BTSERVE} is not built (cmake --build build --target btserve)")


# --------------------------------------------------------------------------
# The core, read independently of btserve


class Core:
    """Threads (NT_PRSTATUS), auxv, and memory (PT_LOAD) of an ELF core file."""

    def __init__(self, path: Path):
        self.path = path
        self.data = path.read_bytes()
        d = self.data
        assert d[:4] == b"\x7fELF" and struct.unpack_from("<H", d, 16)[0] == 4
        (phoff,) = struct.unpack_from("<Q", d, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
        self.loads, self.threads, self.auxv = [], [], b""
        for i in range(phnum):
            p_type, _f, off, vaddr, _pa, filesz, memsz = struct.unpack_from("<IIQQQQQ", d, phoff + i * phentsize)
            if p_type == 1:
                self.loads.append((vaddr, memsz, off, filesz))
            elif p_type == 4:
                self._notes(off, filesz)

    def _notes(self, off, size):
        d, pos, end = self.data, off, off + size
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", d, pos)
            desc = pos + 12 + ((namesz + 3) & ~3)
            body = d[desc:desc + descsz]
            if ntype == 1:  # NT_PRSTATUS: pr_pid at 32, pr_reg (user_regs_struct) at 112
                names = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax",
                         "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
                         "fs_base", "gs_base", "ds", "es", "fs", "gs"]
                regs = dict(zip(names, struct.unpack_from("<27Q", body, 112)))
                self.threads.append((struct.unpack_from("<i", body, 32)[0], regs))
            elif ntype == 6:  # NT_AUXV
                self.auxv = body
            pos = desc + ((descsz + 3) & ~3)

    @property
    def pid(self):
        return self.threads[0][0]

    def read(self, addr, n):
        for vaddr, memsz, off, filesz in self.loads:
            if vaddr <= addr and addr + n <= vaddr + filesz:
                return self.data[off + addr - vaddr: off + addr - vaddr + n]
        return None

    def segment(self, addr):
        for seg in self.loads:
            if seg[0] <= addr < seg[0] + seg[3]:
                return seg
        return None


# --------------------------------------------------------------------------
# The client


def checksum(payload: bytes) -> bytes:
    return b"%02x" % (sum(payload) & 0xFF)


def frame(payload) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return b"$" + payload + b"#" + checksum(payload)


def unescape(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x7D:
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


class Rsp:
    """One connection to btserve: stdio pipes or a TCP socket."""

    def __init__(self, proc=None, sock=None):
        self.proc, self.sock = proc, sock
        self.rfd = sock.fileno() if sock else proc.stdout.fileno()
        self.buf = b""
        self.ack = True

    def send(self, raw: bytes):
        if self.sock:
            self.sock.sendall(raw)
        else:
            self.proc.stdin.write(raw)
            self.proc.stdin.flush()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        r, _, _ = select.select([self.rfd], [], [], max(left, 0))
        if not r:
            raise TimeoutError(f"no data within the timeout (buffered {self.buf[:200]!r})")
        chunk = self.sock.recv(65536) if self.sock else os.read(self.rfd, 65536)
        if not chunk:
            raise EOFError(f"btserve closed the stream (buffered {self.buf[:200]!r})")
        self.buf += chunk

    def read_byte(self, timeout=REPLY_TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while not self.buf:
            self._fill(deadline)
        c, self.buf = self.buf[0], self.buf[1:]
        return c

    def read_packet(self, timeout=REPLY_TIMEOUT, skip_acks=True) -> bytes:
        """The next packet's payload (checksum verified); acks before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while self.buf and self.buf[:1] != b"$":
                if not skip_acks or self.buf[:1] not in b"+":
                    raise AssertionError(f"unexpected bytes before a packet: {self.buf[:100]!r}")
                self.buf = self.buf[1:]
            end = self.buf.find(b"#")
            if self.buf[:1] == b"$" and end >= 0 and len(self.buf) >= end + 3:
                payload, cs = self.buf[1:end], self.buf[end + 1:end + 3]
                self.buf = self.buf[end + 3:]
                assert cs == checksum(payload), f"bad checksum {cs!r} on {payload[:100]!r}"
                if self.ack:
                    self.send(b"+")
                return payload
            self._fill(deadline)

    def request(self, payload, timeout=REPLY_TIMEOUT) -> bytes:
        """Send a packet, check its ack (ack mode), return the reply payload."""
        self.send(frame(payload))
        if self.ack:
            c = self.read_byte(timeout)
            assert c == ord("+"), f"expected an ack for {payload!r}, got {bytes([c])!r}"
        return self.read_packet(timeout)

    def no_ack(self):
        assert self.request("QStartNoAckMode") == b"OK"
        self.ack = False

    def drain(self, quiet=0.3) -> bytes:
        """Everything the server sends until it has been quiet for `quiet` seconds."""
        got = self.buf
        self.buf = b""
        while True:
            r, _, _ = select.select([self.rfd], [], [], quiet)
            if not r:
                return got
            chunk = self.sock.recv(65536) if self.sock else os.read(self.rfd, 65536)
            if not chunk:
                return got
            got += chunk

    def stop_reply_ok(self, expected: bytes):
        """`?` answers `expected`; in ack mode, a nack ('-') is answered by retransmitting,
        as a client does."""
        self.drain(0.2)
        for _ in range(3):
            self.send(frame("?"))
            if self.ack:
                c = self.read_byte()
                if c == ord("-"):
                    continue
                assert c == ord("+"), bytes([c])
            reply = self.read_packet()
            assert reply == expected, (reply, expected)
            return
        raise AssertionError("`?` was nacked three times")

    def xfer(self, obj, annex, chunk) -> bytes:
        out, off = b"", 0
        while True:
            r = self.request(f"qXfer:{obj}:read:{annex}:{off:x},{chunk:x}")
            assert r[:1] in (b"m", b"l"), r[:100]
            data = unescape(r[1:])
            assert len(data) <= chunk, (len(data), chunk)
            out += data
            off += len(data)
            if r[:1] == b"l":
                return out
            assert data, "an 'm' reply must carry data"


class Server:
    """btserve FILE on pipes."""

    def __init__(self, path, extra=()):
        self.proc = subprocess.Popen([str(BTSERVE), *map(str, extra), str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self.rsp = Rsp(proc=self.proc)

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def close(self, timeout=10):
        """EOF on stdin: btserve must exit 0 promptly."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"btserve did not exit within {timeout}s of EOF")
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, err


@pytest.fixture(scope="module")
def files(manifest, cores, tmp_path_factory):
    """name -> (entry, Core, snapshot path)."""
    base = tmp_path_factory.mktemp("btserve-protocol")
    made = {}

    def get(name):
        if name not in made:
            entry = next(e for e in manifest["binaries"] if e["name"] == name)
            core = cores.core(entry)
            snap = base / f"{name}.btsnap"
            run = u.run_bt(["snapshot", str(core), "--exe", entry["path"], "-o", str(snap)])
            assert run.returncode == 0, run.describe()
            made[name] = (entry, Core(core), snap)
        return made[name]

    return get


@pytest.fixture
def server(files):
    """Factory: server(name, kind='core'|'snapshot') -> Server, closed (EOF, exit 0) at teardown."""
    started = []

    def start(name=ONE, kind="core", extra=()):
        entry, core, snap = files(name)
        s = Server(core.path if kind == "core" else snap, extra)
        s.entry, s.core = entry, core
        started.append(s)
        return s

    yield start
    for s in started:
        if s.alive():
            rc, err = s.close()
            assert rc == 0, (rc, err)


def expected_stop(core: Core) -> bytes:
    """`?` for a single-SIGSEGV core: gdb's SIGSEGV (11), the crashed thread, rbp rsp rip."""
    pid, regs = core.threads[0]
    reg = lambda n: struct.pack("<Q", regs[n]).hex()
    return (f"T0bthread:p{pid:x}.{pid:x};06:{reg('rbp')};07:{reg('rsp')};10:{reg('rip')};").encode()


GDB_QSUPPORTED = ("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;"
                  "vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;"
                  "memory-tagging+;xmlRegisters=i386")
# gdb's list without its last feature: what the tests below use, so that they do not all trip
# over the lldb detection bug test_gdb_is_not_taken_for_lldb shows.
QSUPPORTED = GDB_QSUPPORTED.rsplit(";", 1)[0]


# --------------------------------------------------------------------------
# Framing, acks, queries


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_framing_acks_and_no_ack_mode(server, kind):
    s = server(kind=kind)
    r = s.rsp
    s.rsp.send(frame("?"))
    assert r.read_byte() == ord("+")
    reply = r.drain(0.3)
    m = re.match(rb"^\$([^#]*)#([0-9a-f]{2})$", reply)
    assert m and m.group(2) == checksum(m.group(1)), reply
    # A nack makes the server send its last reply again.
    r.send(b"-")
    assert r.drain(0.3) == reply
    r.send(b"+")
    # Bad checksum -> '-', nothing else.
    r.send(b"$?#00")
    assert r.drain(0.3) == b"-"
    assert r.request("QStartNoAckMode") == b"OK"
    r.ack = False
    r.send(frame("?"))
    assert r.drain(0.3) == reply  # no '+' any more
    r.send(b"$?#00")  # no nacks in no-ack mode either
    assert r.drain(0.3) == b""


def test_qsupported_and_stop_reply(server):
    s = server()
    feats = s.rsp.request(QSUPPORTED).decode().split(";")
    assert "QStartNoAckMode+" in feats and "multiprocess+" in feats
    size = [f for f in feats if f.startswith("PacketSize=")]
    assert size and int(size[0].split("=")[1], 16) >= 0x1000, feats
    for x in ["features", "threads", "auxv", "exec-file", "libraries-svr4"]:
        assert f"qXfer:{x}:read+" in feats, feats
    s.rsp.no_ack()
    # gdb's stop reply format (the GDB manual: "T AA n1:r1;n2:r2;...", thread:p<pid>.<tid>).
    assert s.rsp.request("?") == expected_stop(s.core)
    assert s.rsp.request("qC") == f"QCp{s.core.pid:x}.{s.core.pid:x}".encode()
    assert s.rsp.request("qAttached") == b"1"


# gdb's `g` layout on amd64 (notes/gdb-remote.md): 16 GPRs, rip, eflags, 6 segments, ...
G_ORDER = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
           "r12", "r13", "r14", "r15", "rip"]


def _check_g(g: bytes, regs):
    assert len(g) == 560 * 2, len(g)
    raw = bytes.fromhex(g.decode().replace("xx", "00"))
    for i, n in enumerate(G_ORDER):
        assert struct.unpack_from("<Q", raw, 8 * i)[0] == regs[n], n
    assert struct.unpack_from("<I", raw, 136)[0] == regs["eflags"]
    segs = struct.unpack_from("<6I", raw, 140)
    assert segs == tuple(regs[n] for n in ["cs", "ss", "ds", "es", "fs", "gs"])
    orig_rax, fs_base, gs_base = struct.unpack_from("<3Q", raw, 536)
    assert (orig_rax, fs_base, gs_base) == (regs["orig_rax"], regs["fs_base"], regs["gs_base"])


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_registers_g_and_p(server, kind):
    s = server(THREADS, kind)
    r = s.rsp
    r.no_ack()
    assert r.request(QSUPPORTED).startswith(b"PacketSize=")
    for tid, regs in s.core.threads:
        assert r.request(f"Hgp{s.core.pid:x}.{tid:x}") == b"OK"
        g = r.request("g")
        _check_g(g, regs)
        # `p` of each g-block register is its slice of the g block.
        off = 0
        sizes = [8] * 17 + [4] * 7 + [10] * 8 + [4] * 8 + [16] * 16 + [4] + [8] * 3
        for regno, size in enumerate(sizes):
            assert r.request(f"p{regno:x}") == g[off:off + 2 * size], regno
            off += 2 * size
    assert r.request("Hgp1.7fffffff").startswith(b"E")  # no such thread
    assert r.request("p3e8").startswith(b"E")  # no register 1000
    assert r.request("pzz").startswith(b"E")


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_memory_reads(server, kind):
    s = server(kind=kind)
    r, core = s.rsp, s.core
    r.no_ack()
    rsp_ = core.threads[0][1]["rsp"]
    want = core.read(rsp_, 256)
    assert want is not None
    assert bytes.fromhex(r.request(f"m{rsp_:x},100").decode()) == want
    # Unreadable: nothing -> an error.
    for addr in [0, 0x10, 0xFFFFFFFFFFFFF000]:
        assert re.match(rb"^E[0-9a-fA-F]{2}$", r.request(f"m{addr:x},8")), addr
    # Partial: from the last 16 bytes of the stack's segment into the unmapped gap after it,
    # fewer bytes than asked (the GDB manual: "the reply may contain fewer addressable memory
    # units than requested").
    vaddr, memsz, _off, filesz = core.segment(rsp_)
    end = vaddr + filesz
    assert not any(v <= end < v + m for v, m, _o, _f in core.loads), "stack segment is not followed by a gap"
    got = bytes.fromhex(r.request(f"m{end - 16:x},40").decode())
    assert got == core.read(end - 16, 16)
    # Zero length: empty (nothing to read is not an error).
    assert r.request(f"m{rsp_:x},0") in (b"", b"OK")
    # Malformed.
    for bad in ["m", "mzz,4", f"m{rsp_:x}", f"m{rsp_:x},", "m,4"]:
        assert r.request(bad).startswith(b"E"), bad


def test_snapshot_memory_it_does_not_hold(server, files):
    """What a core holds and the snapshot deliberately lacks (libc's writable data, the far
    end of a stack): an error, as for unmapped memory."""
    s = server(kind="snapshot")
    r, core = s.rsp, s.core
    r.no_ack()
    rsp_ = core.threads[0][1]["rsp"]
    vaddr = core.segment(rsp_)[0]
    assert core.read(vaddr, 8) is not None
    assert re.match(rb"^E[0-9a-fA-F]{2}$", r.request(f"m{vaddr:x},8"))
    # The top of the stack is in the snapshot.
    assert bytes.fromhex(r.request(f"m{rsp_:x},40").decode()) == core.read(rsp_, 64)


def test_thread_list(server):
    s = server(THREADS)
    r = s.rsp
    r.no_ack()
    r.request(QSUPPORTED)
    first = r.request("qfThreadInfo")
    assert first.startswith(b"m"), first
    ids = first[1:].decode().split(",")
    nxt = r.request("qsThreadInfo")
    while nxt != b"l":
        assert nxt.startswith(b"m"), nxt
        ids += nxt[1:].decode().split(",")
        nxt = r.request("qsThreadInfo")
    pid = s.core.pid
    assert sorted(ids) == sorted(f"p{pid:x}.{tid:x}" for tid, _ in s.core.threads)
    for tid, _ in s.core.threads:
        assert r.request(f"Tp{pid:x}.{tid:x}") == b"OK"
    assert r.request(f"Tp{pid:x}.7ffffff0").startswith(b"E")


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_qxfer_objects_in_chunks(server, kind):
    s = server(THREADS, kind)
    r = s.rsp
    r.no_ack()
    r.request(QSUPPORTED)
    docs = {}
    for obj, annex in [("features", "target.xml"), ("threads", ""), ("auxv", ""),
                       ("exec-file", f"{s.core.pid:x}"), ("libraries-svr4", "")]:
        whole = r.xfer(obj, annex, 0x1000)
        for chunk in [1, 7, 0x40, 0x3FF]:
            assert r.xfer(obj, annex, chunk) == whole, (obj, chunk)
        # Past the end: "l" and no data.
        assert r.request(f"qXfer:{obj}:read:{annex}:{len(whole) + 10:x},10") == b"l"
        docs[obj] = whole
    target = ET.fromstring(docs["features"])
    assert target.findtext("architecture") == "i386:x86-64"
    regs = [e.get("name") for e in target.iter("reg")]
    assert regs[:17] == G_ORDER and "orig_rax" in regs and "fs_base" in regs
    threads = ET.fromstring(docs["threads"])
    pid = s.core.pid
    assert sorted(t.get("id") for t in threads.iter("thread")) == \
        sorted(f"p{pid:x}.{tid:x}" for tid, _ in s.core.threads)
    assert docs["exec-file"].decode() == s.entry["path"]
    # auxv: the core's, without AT_SYSINFO_EHDR (33) for gdb (notes/gdb-remote.md), ending in AT_NULL.
    core_auxv = [struct.unpack_from("<QQ", s.core.auxv, i) for i in range(0, len(s.core.auxv), 16)]
    served = [struct.unpack_from("<QQ", docs["auxv"], i) for i in range(0, len(docs["auxv"]), 16)]
    assert served[-1] == (0, 0) and len(docs["auxv"]) % 16 == 0
    assert [kv for kv in served if kv[0] != 33] == [kv for kv in core_auxv if kv[0] != 33]
    libs = ET.fromstring(docs["libraries-svr4"])
    names = [l.get("name") for l in libs.iter("library")]
    assert any("libc.so.6" in n for n in names) and s.entry["path"] not in names, names
    for lib in libs.iter("library"):
        for attr in ["lm", "l_addr", "l_ld", "lmid"]:
            assert re.match(r"^0x[0-9a-f]+$", lib.get(attr) or ""), (attr, lib.attrib)
    # Unknown object: not supported (empty); malformed: an error.
    assert r.request("qXfer:nosuchobject:read::0,100") == b""
    assert r.request("qXfer:features:read:target.xml:zz,100").startswith(b"E")
    assert r.request("qXfer:features:write:target.xml:0:abc").startswith(b"E")


def test_gdb_is_not_taken_for_lldb(server):
    s = server()
    r = s.rsp
    r.no_ack()
    r.request(GDB_QSUPPORTED)
    assert r.request("?") == expected_stop(s.core)
    auxv = r.xfer("auxv", "", 0x1000)
    keys = [struct.unpack_from("<Q", auxv, i)[0] for i in range(0, len(auxv), 16)]
    assert 33 not in keys, "AT_SYSINFO_EHDR served to gdb"


def _vfile_open(r, path, flags=0):
    return r.request(f"vFile:open:{path.encode().hex()},{flags:x},0")


def test_vfile_is_off_over_stdio_when_the_files_here_match(server):
    # gdb then reads this machine's files itself: no transfer, no "Reading ... from remote
    # target" line per module. The files are the fixture's own: the same builds.
    s = server()
    r = s.rsp
    r.no_ack()
    r.request(QSUPPORTED)
    assert _vfile_open(r, s.entry["path"]) == b""
    assert r.request("vFile:setfs:0") == b""


def test_vfile_serves_modules_only(server):
    s = server(extra=["--serve-files"])
    r = s.rsp
    r.no_ack()
    r.request(QSUPPORTED)
    exe = s.entry["path"]
    reply = _vfile_open(r, exe)
    assert re.match(rb"^F[0-9a-f]+$", reply), reply
    fd = int(reply[1:], 16)
    content = Path(exe).read_bytes()
    got, off = b"", 0
    while True:
        rep = r.request(f"vFile:pread:{fd:x},{0x3000:x},{off:x}")
        m = re.match(rb"^F([0-9a-f]+);", rep, re.S)
        assert m, rep[:100]
        data = unescape(rep[m.end():])
        assert len(data) == int(m.group(1), 16)
        if not data:
            break
        got += data
        off += len(data)
    assert got == content
    st = r.request(f"vFile:fstat:{fd:x}")
    m = re.match(rb"^F([0-9a-f]+);", st)
    assert m and int(m.group(1), 16) == 64
    assert struct.unpack_from(">Q", unescape(st[m.end():]), 28)[0] == len(content)  # st_size
    assert r.request(f"vFile:close:{fd:x}") == b"F0"
    assert r.request(f"vFile:close:{fd:x}").startswith(b"F-1,")  # already closed
    assert r.request(f"vFile:pread:{fd:x},10,0").startswith(b"F-1,")
    # Not a module of the target: refused, whatever it is.
    for path in ["/etc/passwd", "/proc/self/environ", "/nonexistent", exe + "/../../" + Path(exe).name,
                 "/lib/x86_64-linux-gnu/libz.so.1"]:
        assert re.match(rb"^F-1,[0-9a-f]+$", _vfile_open(r, path)), path
    # A module, but opened for writing: refused.
    assert re.match(rb"^F-1,[0-9a-f]+$", _vfile_open(r, exe, flags=1))
    assert re.match(rb"^F-1,[0-9a-f]+$", _vfile_open(r, exe, flags=2))
    # Unsupported vFile operations: empty.
    assert r.request(f"vFile:unlink:{exe.encode().hex()}") == b""


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_writes_are_refused(server, kind):
    s = server(kind=kind)
    r = s.rsp
    r.no_ack()
    rsp_ = s.core.threads[0][1]["rsp"]
    before = r.request(f"m{rsp_:x},10")
    g = r.request("g")
    for pkt in [f"M{rsp_:x},4:01020304", f"X{rsp_:x},4:abcd", "G" + "00" * 560, "P10=0000000000000000",
                "P0=0100000000000000", f"Z0,{rsp_:x},1", f"z0,{rsp_:x},1", f"Z2,{rsp_:x},4"]:
        assert re.match(rb"^E[0-9a-fA-F]{2}$", r.request(pkt)), pkt
    assert r.request(f"m{rsp_:x},10") == before and r.request("g") == g


@pytest.mark.parametrize("kind", ["core", "snapshot"])
def test_resume_answers_the_same_stop(server, kind):
    s = server(kind=kind)
    r = s.rsp
    r.no_ack()
    r.request(QSUPPORTED)
    stop = expected_stop(s.core)
    pid = s.core.pid
    assert r.request("vCont?").startswith(b"vCont")
    for pkt in ["c", "s", "C0b", "S0b", "vCont;c", "vCont;s", f"vCont;s:p{pid:x}.{pid:x};c", "c7fffffff0000"]:
        t0 = time.monotonic()
        assert r.request(pkt, timeout=3) == stop, pkt
        assert time.monotonic() - t0 < 3
    # The interrupt byte: the stop again.
    r.send(b"\x03")
    assert r.read_packet(3) == stop


def test_unknown_packets_get_the_empty_reply(server):
    s = server()
    r = s.rsp
    for pkt in ["qNoSuchQuery", "vNoSuchThing", "QNoSuchSet:1", "jNoSuchJSON", "_", "!", "bc", "e",
                "qXfer", "vFile:nosuchop:0", "qTStatus", "vMustReplyEmpty", "x" * 1000]:
        assert r.request(pkt) == b"", pkt
    r.stop_reply_ok(expected_stop(s.core))


# --------------------------------------------------------------------------
# Robustness: after each, `?` is answered correctly


def _robust(server, feed, kind="core", ack=True, name=ONE):
    s = server(name, kind)
    if not ack:
        s.rsp.no_ack()
    feed(s)
    assert s.alive(), f"btserve exited ({s.proc.returncode}) on bad input"
    s.rsp.stop_reply_ok(expected_stop(s.core))
    assert s.alive()
    return s


@pytest.mark.parametrize("ack", [True, False], ids=["ack", "noack"])
def test_bad_checksums(server, ack):
    def feed(s):
        for bad in [b"$?#00", b"$?#zz", b"$?#3", b"$g#6", b"$qSupported#00", b"$m0,8#ff"]:
            s.rsp.send(bad)
        got = s.rsp.drain(0.3)
        if ack:
            assert got.count(b"-") >= 4, got  # at least the complete ones are nacked
            assert b"$" not in got, got
        else:
            assert got == b"", got
    _robust(server, feed, ack=ack)


@pytest.mark.parametrize("ack", [True, False], ids=["ack", "noack"])
def test_truncated_packets_then_more_data(server, ack):
    def feed(s):
        r = s.rsp
        # One packet split into single bytes, with pauses: answered once complete.
        for b in frame("qAttached"):
            r.send(bytes([b]))
            time.sleep(0.002)
        if ack:
            assert r.read_byte() == ord("+")
        assert r.read_packet() == b"1"
        # A checksum split from its packet.
        r.send(b"$qC#")
        time.sleep(0.05)
        r.send(checksum(b"qC"))
        if ack:
            assert r.read_byte() == ord("+")
        assert r.read_packet().startswith(b"QC")
        # A packet that never ends, then valid ones: the broken one is nacked (ack mode) or
        # dropped, the client's retransmission is answered.
        r.send(b"$qSupported:multipro")
        time.sleep(0.05)
    _robust(server, feed, ack=ack)


@pytest.mark.parametrize("ack", [True, False], ids=["ack", "noack"])
def test_oversized_packet_without_end(server, ack):
    def feed(s):
        s.rsp.send(b"$" + b"m" * (200 * 1024))
        time.sleep(0.2)
        s.rsp.drain(0.3)
        s.rsp.send(b"$" + b"q" * (70 * 1024) + b"#00")  # oversized with an end
        s.rsp.drain(0.3)
    _robust(server, feed, ack=ack)


@pytest.mark.parametrize("kind,ack", [("core", True), ("snapshot", False)])
def test_binary_garbage_seeded(server, kind, ack):
    rng = random.Random(20261128)

    def feed(s):
        for _ in range(20):
            s.rsp.send(bytes(rng.getrandbits(8) for _ in range(4096)))
            s.rsp.drain(0.01)
        s.rsp.drain(0.3)
    _robust(server, feed, kind=kind, ack=ack)


def test_ten_megabytes_of_garbage_bounded_time_and_memory(server):
    """10 MB of random bytes (no '#', so no packet can complete; '$' starts and 0x03 interrupts
    included): the server keeps up, its memory stays bounded, and it still serves."""
    rng = random.Random(7)
    block = bytes(b for b in rng.randbytes(1 << 20) if b != ord("#"))
    s = server()  # ack mode: a stray '$' swallowing the final `?` is nacked, then retransmitted
    s.rsp.stop_reply_ok(expected_stop(s.core))  # loaded and serving
    rss0 = s.rss_kb()
    drained = []
    stop = threading.Event()

    def drain():  # interrupts get stop replies: read them, or the pipes fill up
        while not stop.is_set():
            r, _, _ = select.select([s.rsp.rfd], [], [], 0.05)
            if r:
                chunk = os.read(s.rsp.rfd, 1 << 16)
                if not chunk:
                    return
                drained.append(len(chunk))

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    t0 = time.monotonic()
    peak = rss0
    try:
        for _ in range(10):
            s.proc.stdin.write(block)
            peak = max(peak, s.rss_kb())
    finally:
        time.sleep(0.3)
        stop.set()
        t.join(5)
    elapsed = time.monotonic() - t0
    assert elapsed < 20, f"10 MB of garbage took {elapsed:.1f}s"
    assert peak - rss0 < 16 * 1024, f"RSS grew from {rss0} kB to {peak} kB"
    assert sum(drained) > 0  # the interrupts were answered
    print(f"10 MB garbage: {elapsed:.2f}s, RSS {rss0} -> {peak} kB, {sum(drained)} bytes of replies")
    s.rsp.stop_reply_ok(expected_stop(s.core))


def test_run_length_encoded_input(server):
    s = server()
    r = s.rsp
    r.no_ack()
    plain = r.request("qXfer:features:read:target.xml:0,10000")
    # "0* " = '0' and 3 more: ",10000" (the GDB manual: "Run-Length Encoding").
    assert r.request(b"qXfer:features:read:target.xml:0,10* ") == plain
    rsp_ = s.core.threads[0][1]["rsp"]
    assert r.request(f"m{rsp_:x},40") == r.request(f"m{rsp_:x},4" + "0")
    # Malformed encodings: '*' first, or a count below 3 or above 97: dropped, still serving.
    for bad in [b"*#qC", b"qC*\x1d", b"q*C"]:
        r.send(frame(bad))
    r.drain(0.3)
    r.stop_reply_ok(expected_stop(s.core))


@pytest.mark.parametrize("ack", [True, False], ids=["ack", "noack"])
def test_lone_hash_empty_packet_interrupt(server, ack):
    def feed(s):
        r = s.rsp
        r.send(b"#")
        r.send(b"##")
        assert r.drain(0.2) == b""
        r.send(b"$#00")  # the empty packet: the empty reply
        if ack:
            assert r.read_byte() == ord("+")
        assert r.read_packet() == b""
        r.send(b"\x03")
        assert r.read_packet() == expected_stop(s.core)
        r.send(b"+++---" if not ack else b"+++")
        r.drain(0.3)
    _robust(server, feed, ack=ack)


# --------------------------------------------------------------------------
# TCP, EOF, bad files


def test_tcp(files):
    entry, core, snap = files(ONE)
    proc = subprocess.Popen([str(BTSERVE), "--listen", "127.0.0.1:0", str(snap)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stderr], [], [], 1)
            if r:
                line += os.read(proc.stderr.fileno(), 4096)
        m = re.match(rb"^btserve: listening on (\d+)\n$", line)
        assert m, line
        sock = socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10)
        c = Rsp(sock=sock)
        assert c.request(QSUPPORTED).startswith(b"PacketSize=")
        c.no_ack()
        c.stop_reply_ok(expected_stop(core))
        assert c.request("D") == b"OK"
        assert proc.wait(timeout=10) == 0
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_eof_exits_0_promptly(files):
    entry, core, snap = files(ONE)
    for path in (core.path, snap):
        s = Server(path)
        s.rsp.stop_reply_ok(expected_stop(core))
        t0 = time.monotonic()
        rc, err = s.close(timeout=5)
        assert (rc, err) == (0, ""), (rc, err)
        assert time.monotonic() - t0 < 2
    # EOF in the middle of a packet.
    s = Server(snap)
    s.rsp.send(b"$qSupp")
    assert s.close(timeout=5) == (0, "")


def test_kill_and_vkill_end_the_session(files):
    entry, core, snap = files(ONE)
    for pkt, reply in [("k", None), ("vKill;1", b"OK"), ("D", b"OK"), (f"D;{core.pid:x}", b"OK")]:
        s = Server(core.path)
        s.rsp.no_ack()
        s.rsp.send(frame(pkt))
        if reply is not None:
            assert s.rsp.read_packet() == reply
        assert s.proc.wait(timeout=5) == 0, pkt
        s.close()


def _bad_file_run(path):
    p = subprocess.run([str(BTSERVE), str(path)], input=frame("?"), capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def test_bad_files_are_refused_before_any_protocol(files, tmp_path):
    entry, core, snap = files(ONE)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(random.Random(1).randbytes(100000))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    raw = snap.read_bytes()
    truncated = tmp_path / "truncated.btsnap"
    truncated.write_bytes(raw[: len(raw) // 2])
    header_only = tmp_path / "header.btsnap"
    header_only.write_bytes(raw[:20])
    corrupt = tmp_path / "corrupt.btsnap"
    corrupt.write_bytes(raw[:40] + bytes(b ^ 0x5A for b in raw[40:80]) + raw[80:])
    truncated_core = tmp_path / "truncated.core"  # cut inside the program headers
    truncated_core.write_bytes(core.path.read_bytes()[:100])
    for path in [tmp_path / "missing", garbage, empty, truncated, header_only, corrupt, truncated_core,
                 tmp_path]:
        rc, out, err = _bad_file_run(path)
        assert rc not in (0, 1) and rc > 0, (path, rc, err)  # not a signal, not success
        assert out == b"", (path, out[:100])  # no protocol at all
        assert err.startswith("btserve: error: ") and err.count("\n") == 1, (path, err)
    # Usage errors: exit 2.
    for args in [[], ["--listen"], ["--bogus", str(snap)], [str(snap), str(snap)]]:
        p = subprocess.run([str(BTSERVE)] + args, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and p.stderr.startswith(b"btserve: ") and p.stdout == b"", (args, p)
