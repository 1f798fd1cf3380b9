import collections, drgn, sys
groups = collections.defaultdict(list)
for path in sys.argv[1:]:
    prog = drgn.Program()
    prog.set_core_dump(path)
    try:
        prog.load_default_debug_info()
    except drgn.MissingDebugInfoError:
        pass
    top = prog.crashed_thread().stack_trace()[0]
    groups[(top.name, top.source()[1])].append(path)
for site, members in groups.items():
    print(site, len(members))
