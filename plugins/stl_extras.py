"""Pretty-printers for libstdc++ types the built-in summaries do not cover, in the text gdb's own
libstdc++ printers give them (/usr/share/gcc/python/libstdcxx/v6/printers.py):

    std::tuple<int, double>   std::tuple containing = {[1] = 7, [2] = 2.5}   (empty std::tuple)
    std::bitset<16>           std::bitset = {[0] = 1, [3] = 1}               (the set bits)
    std::atomic<int>          std::atomic<int> = { 5 }

An example of btengine.plugins.pretty_printer: a printer gets the Value, walks it with the
engine's API and returns the text (or None for the built-in rendering); nested values are
rendered with Value.format(), so they use the other printers too.
"""

import re

from btengine.plugins import pretty_printer

_MAX_ELEMENTS = 200  # gdb's "print elements"


@pretty_printer(re.compile(r"std::tuple<.*>"))
def tuple_printer(value):
    # libstdc++: tuple<A, B, C> derives from _Tuple_impl<0, A, B, C>, which derives from
    # _Tuple_impl<1, B, C> and _Head_base<0, A> (holding _M_head_impl), and so on.
    items = []
    node = value
    for _ in range(_MAX_ELEMENTS):
        bases = [f for f in node.type_info.unaliased.fields if f.is_base]
        impl = next((f for f in bases if f.type.unaliased.name.startswith("std::_Tuple_impl<")), None)
        head = next((f for f in bases if f.type.unaliased.name.startswith("std::_Head_base<")), None)
        if node is value:  # the tuple itself: step into its _Tuple_impl
            if impl is None:
                return "empty std::tuple"
            node = node[f"<{impl.type.unaliased.name}>"]
            continue
        if head is None:
            break
        items.append(f"[{len(items) + 1}] = {node[f'<{head.type.unaliased.name}>']['_M_head_impl'].format(type_prefix=False)}")
        if impl is None:
            break
        node = node[f"<{impl.type.unaliased.name}>"]
    return "std::tuple containing = {" + ", ".join(items) + "}"


@pretty_printer(re.compile(r"std::bitset<\d+>"))
def bitset_printer(value):
    base = next((f for f in value.type_info.unaliased.fields if f.is_base), None)
    if base is None:
        return "std::bitset"
    words = value[f"<{base.type.unaliased.name}>"]["_M_w"]
    word_bits = (words.type_info.unaliased.target.size if words.kind == "array" else words.type_info.size) * 8
    values = [int(w) for w in words] if words.kind == "array" else [int(words)]
    bits = [f"[{i * word_bits + b}] = 1" for i, w in enumerate(values) for b in range(word_bits) if w >> b & 1]
    return "std::bitset" + (" = {" + ", ".join(bits[:_MAX_ELEMENTS]) +
                            (", ..." if len(bits) > _MAX_ELEMENTS else "") + "}" if bits else "")


@pretty_printer(re.compile(r"std::atomic<.*>"))
def atomic_printer(value):
    # The value is _M_i (integers, through __atomic_base), _M_base._M_i (bool), _M_fp (floating
    # point) or _M_b._M_p (pointers), as gdb's StdAtomicPrinter reads it.
    for path in (("_M_i",), ("_M_base", "_M_i"), ("_M_fp",), ("_M_b", "_M_p")):
        v = value
        try:
            for member in path:
                v = v[member]
        except (KeyError, TypeError):
            continue
        args = value.type_info.unaliased.template_args
        name = f"std::atomic<{_gdb_name(args[0].name)}>" if args else value.type_info.unaliased.name
        return f"{name} = {{ {v.format(type_prefix=False)} }}"
    return None


# gdb names C's integer types the short way in type names it prints ("long", not DWARF's "long int").
_GDB_NAMES = {"long int": "long", "long unsigned int": "unsigned long", "short int": "short",
              "short unsigned int": "unsigned short", "long long int": "long long",
              "long long unsigned int": "unsigned long long"}


def _gdb_name(name):
    return _GDB_NAMES.get(name, name)
