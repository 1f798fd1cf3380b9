"""Pretty-printers for the libstdc++ container adaptors, which the built-in summaries do not cover,
in the text gdb's own libstdc++ printers give them (/usr/share/gcc/python/libstdcxx/v6/printers.py):

    std::stack<int>             std::stack wrapping: std::deque with 2 elements = {1, 2}
    std::queue<std::string>     std::queue wrapping: std::deque with 2 elements = {"a", "b"}
    std::priority_queue<int>    std::priority_queue wrapping: std::vector of length 3, capacity 4 = {9, 3, 1}

An example of btengine.plugins.pretty_printer: a printer gets the Value, walks it with the
engine's API and returns the text (or None for the built-in rendering); nested values are
rendered with Value.format(), so they use the built-in summaries and the other printers too.
"""

import re

from btengine.plugins import pretty_printer


@pretty_printer(re.compile(r"std::(?:stack|queue|priority_queue)<.*>"))
def adaptor_printer(value):
    # An adaptor holds its container in the member `c` (std::deque unless told otherwise).
    kind = value.type_info.unaliased.name.split("<", 1)[0]
    try:
        container = value["c"]
    except (KeyError, TypeError):
        return None
    return f"{kind} wrapping: {container.format(type_prefix=False)}"
