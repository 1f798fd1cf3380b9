"""btengine's exception classes. Defined here, in Python, so that ``import btengine`` does not
have to load the engine's extension (which defines none of its own: it raises these)."""

from __future__ import annotations



class Error(Exception):
    """Base class of btengine's own exceptions."""


class FormatError(Error, ValueError):
    """Bad or truncated input: not a core, snapshot or minidump, corrupt data, memory that
    cannot be read (see MemoryError)."""


class ClosedError(Error, ValueError):
    """An object of a Process that was closed (or whose ``with`` block ended)."""


class MemoryError(FormatError, LookupError):  # noqa: A001 - btengine.MemoryError, as drgn's FaultError
    """Target memory that cannot be read: `address` (the first unreadable byte), `size` (how
    many bytes were asked for from there) and `mapped`: True when the address is mapped in the
    process but the source does not hold it (memory a snapshot did not capture, or a core left
    out), False for an address the process never mapped (a wild or null pointer).

    Not Python's builtin MemoryError (out of memory): catch ``btengine.MemoryError``."""

    def __init__(self, message: str, address: int, size: int, mapped: bool) -> None:
        super().__init__(message)
        self.address: int = address
        self.size: int = size
        self.mapped: bool = mapped

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (str(self), self.address, self.size, self.mapped))



