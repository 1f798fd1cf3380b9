"""ELF symbol tables, to tell whether two function names are aliases (several
symbols at one address, as glibc has everywhere: `pause`/`__libc_pause`,
`read`/`__libc_read`/`__read`, `raise`/`gsignal`, `__GI_raise`/`raise`).

Symbols come from the module itself (.symtab and .dynsym) and from its
separate debug file, found by build-id under the given debug directories
(libc.so.6 has only .dynsym; its local symbols are in libc6-dbg's file)."""

from __future__ import annotations

import functools
import os
import struct
from typing import Dict, Iterable, Optional, Set

from e2e_util import build_id

STT_NOTYPE, STT_FUNC, STT_GNU_IFUNC = 0, 2, 10


def _read_symbols(path: str) -> Dict[str, Set[int]]:
    out: Dict[str, Set[int]] = {}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return out
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return out
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        (_n, sh_type, _fl, _a, sh_offset, sh_size, sh_link, _inf, _al, sh_entsize) = struct.unpack_from(
            "<IIQQQQIIQQ", data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    for sh_type, sh_offset, sh_size, sh_link, sh_entsize in sections:
        if sh_type not in (2, 11) or not sh_entsize:  # SHT_SYMTAB, SHT_DYNSYM
            continue
        if sh_offset + sh_size > len(data):  # NOBITS in a debug file, or truncated
            continue
        str_off = sections[sh_link][1]
        for k in range(sh_size // sh_entsize):
            st_name, st_info, _other, st_shndx, st_value, _size = struct.unpack_from(
                "<IBBHQQ", data, sh_offset + k * sh_entsize)
            if st_shndx == 0 or st_info & 0xF not in (STT_NOTYPE, STT_FUNC, STT_GNU_IFUNC):
                continue
            end = data.find(b"\0", str_off + st_name)
            name = data[str_off + st_name : end].decode(errors="replace")
            if name:
                out.setdefault(name, set()).add(st_value)
    return out


@functools.lru_cache(maxsize=64)
def module_symbols(module: str, debug_dirs: tuple) -> Dict[str, Set[int]]:
    syms = dict(_read_symbols(module))
    bid = build_id(module) if os.path.isfile(module) else None
    if bid:
        for d in debug_dirs:
            dbg = os.path.join(d, ".build-id", bid[:2], bid[2:] + ".debug")
            if os.path.isfile(dbg):
                for name, addrs in _read_symbols(dbg).items():
                    syms.setdefault(name, set()).update(addrs)
                break
    return syms


def are_aliases(module: Optional[str], a: Optional[str], b: Optional[str],
                debug_dirs: Iterable[str] = ("/usr/lib/debug",)) -> bool:
    """True if `a` and `b` are both symbols of `module` at a common address."""
    if not module or not a or not b or a == b:
        return False
    syms = module_symbols(module, tuple(debug_dirs))
    return bool(syms.get(a, set()) & syms.get(b, set()))
