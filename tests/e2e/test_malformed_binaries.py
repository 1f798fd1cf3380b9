"""bt on binaries whose unwind or debug data is corrupt: the backtrace still
comes out (exit 0, JSON that parses), frames that could not be found by CFI
are marked suspect, and bt neither crashes nor hangs.  CI also runs this file
with the AddressSanitizer build of bt (BT_BIN=build-asan/bin/bt)."""

from __future__ import annotations

import json
import random
import shutil
import struct

import pytest

import e2e_util as u


def _entry(manifest, name):
    for e in manifest["binaries"]:
        if e["name"] == name:
            return e
    pytest.fail(f"fixture {name} missing from the manifest")


def _section_range(path: str, name: str):
    """(file offset, size) of an ELF64 section."""
    data = open(path, "rb").read()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdr = lambda i: struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab = hdr(shstrndx)[4]
    for i in range(shnum):
        sh_name, _t, _f, _a, off, size = hdr(i)
        end = data.index(b"\0", strtab + sh_name)
        if data[strtab + sh_name:end].decode() == name:
            return off, size
    raise AssertionError(f"{path} has no {name}")


def _corrupt_section(src: str, dst, section: str, seed: int, whole: bool):
    """Copy src to dst with the bytes of `section` overwritten by noise."""
    shutil.copyfile(src, dst)
    off, size = _section_range(src, section)
    rng = random.Random(seed)
    data = bytearray(open(dst, "rb").read())
    if whole:
        data[off:off + size] = bytes(rng.randrange(256) for _ in range(size))
    else:
        for _ in range(max(1, size // 16)):
            data[off + rng.randrange(size)] = rng.randrange(256)
    open(dst, "wb").write(bytes(data))


# deep_c built with -fomit-frame-pointer at -O2: without CFI only the stack scan is left.
NAME = "deep_c.gcc-O2-dwarf5-pie-nofp"


@pytest.mark.parametrize("section,whole,seed", [
    (".eh_frame", True, 1), (".eh_frame", False, 2), (".eh_frame_hdr", True, 3),
    (".debug_info", False, 4), (".debug_line", True, 5), (".debug_abbrev", True, 6),
])
def test_corrupt_binary_still_gives_a_backtrace(bt_bin, manifest, cores, tmp_path, section, whole, seed):
    entry = _entry(manifest, NAME)
    core = cores.core(entry)
    bad = tmp_path / "deep_c.corrupt"
    _corrupt_section(entry["path"], bad, section, seed, whole)
    run = u.run_bt(["--json", "--no-cache", str(core), "--exe", str(bad)], timeout=60)
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    crashed = [t for t in doc["threads"] if t["crashed"]]
    assert crashed and crashed[0]["frames"], run.describe()
    frames = crashed[0]["frames"]
    # Frame 0 always comes from the thread's registers.
    assert frames[0]["how"] == "context"
    assert int(frames[0]["pc"], 16) != 0
    for f in frames:
        assert f["suspect"] == (f["how"] in ("fp", "scan")), f
    if section.startswith(".eh_frame") and whole:
        # Without CFI for the executable, its caller frames can only come from heuristics.
        exe_callers = [f for f in frames[1:] if f["module"] and f["module"].endswith("deep_c.corrupt")
                       and f["how"] != "tailcall" and not f["inlined"]]
        assert all(f["suspect"] for f in exe_callers), run.describe()


def _sections(path: str):
    data = open(path, "rb").read()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdr = lambda i: struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    strtab = hdr(shstrndx)[4]
    out = {}
    for i in range(shnum):
        sh_name, _t, _f, _a, off, size = hdr(i)
        out[data[strtab + sh_name:data.index(b"\0", strtab + sh_name)].decode()] = (off, size)
    return data, out


# Seeds of a random corruption of the debug and unwind sections (1-3 sections, 1-20 bytes
# each). 243 made LLVM's line-table parser dereference null, 1393 tripped glibc's stack protector
# inside LLVM's error path (bt now survives LLVM faults and aborts, and
# falls back to the symbol table); the others are a sample of the same recipe.
@pytest.mark.parametrize("seed", [243, 1393] + list(range(0, 1200, 40)))
def test_random_corruption_never_crashes(bt_bin, manifest, cores, tmp_path, seed):
    entry = _entry(manifest, NAME)
    core = cores.core(entry)
    bad = tmp_path / "deep_c.fuzzed"
    bad.write_bytes(corrupted_debug_and_unwind_sections(entry["path"], seed))
    run = u.run_bt(["--json", "--no-cache", str(core), "--exe", str(bad)], timeout=60)
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    assert doc["threads"] and doc["threads"][0]["frames"], run.describe()


def corrupted_debug_and_unwind_sections(path: str, seed: int) -> bytes:
    """The file at `path` with 1-20 random bytes changed in each of 1-3 of its .debug* and
    .eh_frame* sections, chosen by `seed` (the recipe test_breakpad_writer.py reuses)."""
    data, secs = _sections(path)
    targets = [s for s in secs if s.startswith(".debug") or s.startswith(".eh_frame")]
    rng = random.Random(seed)
    d = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        off, size = secs[rng.choice(targets)]
        if size == 0:
            continue
        for _ in range(rng.randint(1, 20)):
            d[off + rng.randrange(size)] = rng.randrange(256)
    return bytes(d)


def _section_header_offset(data: bytes, name: str) -> int:
    """File offset of the section header of `name`."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    strtab = struct.unpack_from("<IIQQQQ", data, shoff + shstrndx * shentsize)[4]
    for i in range(shnum):
        sh_name = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
        if data[strtab + sh_name:data.index(b"\0", strtab + sh_name)].decode() == name:
            return shoff + i * shentsize
    raise AssertionError(f"no {name}")


@pytest.mark.parametrize("section,size", [(".dynsym", 2**64 - 1), (".symtab", 0x7FFFFFFF)])
def test_symbol_table_larger_than_the_file_is_ignored_with_a_warning(bt_bin, manifest, cores, tmp_path,
                                                                       section, size):
    """A symbol table whose sh_size claims more than the file holds (found by fuzzing: bt walked
    every claimed symbol, 25 s and more) is ignored, quickly, with a warning naming it; the
    backtrace still comes out."""
    entry = _entry(manifest, "deep_c.gcc-O0-dwarf5-pie-fp")
    core = cores.core(entry)
    data = bytearray(open(entry["path"], "rb").read())
    struct.pack_into("<Q", data, _section_header_offset(data, section) + 0x20, size)  # sh_size
    bad = tmp_path / "deep_c.bigsyms"
    bad.write_bytes(bytes(data))
    run = u.run_bt(["--no-cache", str(core), "--exe", str(bad)], timeout=60)
    assert run.returncode == 0, run.describe()
    assert run.seconds < 10, run.describe()
    assert f"{section} claims {size} bytes" in run.stderr and "its symbols are ignored" in run.stderr
    assert "#0" in run.stdout
