"""The snapshot container read in Python, independently of bt (docs/snapshot-format.md):
header, zstd payload, JSON document and memory slices. Used by the snapshot, bad-input and
btserve tests."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import zstandard

HEADER = 32
MAGIC = b"BTSNAP\r\n"


@dataclass
class Snap:
    version: int
    flags: int
    csize: int
    usize: int
    frame: bytes
    doc: dict
    slices: list = field(default_factory=list)  # [(address, bytes)]


def parse_container(data: bytes) -> Snap:
    assert data[:8] == MAGIC
    version, flags, csize, usize = struct.unpack_from("<IIQQ", data, 8)
    frame = data[HEADER:]
    payload = zstandard.ZstdDecompressor().decompress(frame)
    assert len(payload) == usize
    (jsize,) = struct.unpack_from("<Q", payload, 0)
    doc = json.loads(payload[8:8 + jsize])
    pos = 8 + jsize
    (count,) = struct.unpack_from("<Q", payload, pos)
    pos += 8
    slices = []
    for _ in range(count):
        addr, size = struct.unpack_from("<QQ", payload, pos)
        pos += 16
        slices.append((addr, payload[pos:pos + size]))
        pos += size
    assert pos == len(payload)
    return Snap(version, flags, csize, usize, frame, doc, slices)


def read_snapshot(path: Union[str, Path]) -> Snap:
    return parse_container(Path(path).read_bytes())
