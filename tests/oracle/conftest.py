"""The oracle libraries' own tests: tests/oracle (the libraries) and tests/e2e (e2e_util, which
elfsyms uses) on sys.path."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for d in (HERE, HERE.parent / "e2e"):
    if str(d) not in sys.path:
        sys.path.insert(0, str(d))
