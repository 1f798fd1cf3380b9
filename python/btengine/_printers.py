"""Pretty-printers by type name: the registry Value.format consults (btengine.plugins registers
into it, as gdb's pretty_printers list). A printer gets the Value and returns its text (or None to
leave the built-in rendering); it is asked about the value and every value nested in it, so a
std::map of durations prints each duration with the duration printer."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Pattern, Set, Tuple

if TYPE_CHECKING:
    from . import Process, Value


@dataclass(frozen=True)
class Printer:
    """A registered printer: the `plugin` that registered it, a type-name `pattern` (full
    match), the `function`."""

    plugin: str
    pattern: Pattern[str]
    function: Callable[["Value"], Any]


@dataclass
class PrinterError:
    plugin: str
    function: str
    type: str
    message: str


registered: List[Printer] = []
errors: List[PrinterError] = []  # printers that raised (the built-in text was used instead)
fired: List[int] = [0]           # how many values a printer rendered, for callers that care
_busy = threading.local()        # (type name, address) being rendered: a printer that formats
                                 # its own value gets the built-in text, not endless recursion


def register(printer: Printer) -> None:
    if printer not in registered:
        registered.append(printer)


def clear() -> None:
    """Forgets every registered printer (and the errors recorded)."""
    registered.clear()
    errors.clear()


def _find(names: Tuple[str, ...]) -> Optional[Printer]:
    for p in registered:
        if any(p.pattern.fullmatch(n) for n in names):
            return p
    return None


def hooks(process: "Process") -> Tuple[Optional[Callable[[str], bool]], Optional[Callable[[Any], Any]]]:
    """The (wants, render) callbacks the engine's printer takes; (None, None) when no printer is
    registered, so formatting costs nothing extra."""
    if not registered:
        return None, None
    from . import Value

    def wants(name: str) -> bool:
        return _find((name,)) is not None

    def render(raw: Any) -> Optional[str]:
        value = Value(process, raw)
        t = value.type_info
        names = (t.name, t.unaliased.name)
        printer = _find(names)
        if printer is None:
            return None
        key = (names[0], value.address)
        busy: Set[Tuple[str, Optional[int]]] = getattr(_busy, "keys", None) or set()
        _busy.keys = busy
        if key in busy:
            return None
        busy.add(key)
        try:
            text = printer.function(value)
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
            where = f" ({tb[0].filename}:{tb[0].lineno})" if tb else ""
            errors.append(PrinterError(printer.plugin, getattr(printer.function, "__name__", "?"),
                                       names[0], f"{type(e).__name__}: {e}{where}"))
            return None
        finally:
            busy.discard(key)
        if text is None:
            return None
        fired[0] += 1
        return str(text)
    return wants, render
