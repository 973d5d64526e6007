"""``certdesk up`` under yappi (CPU time, every thread: the worker's activities run in a thread pool),
for ``bench/e2e.py --profile``: the stats are saved in pstats form when it stops.

    .venv/bin/python bench/profiled_up.py OUT.pstat      (pip install yappi)
"""

import sys
from pathlib import Path

import yappi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from certdesk.stack import up
    from domain.settings import load_settings

    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    try:
        return up(load_settings())
    finally:
        yappi.stop()
        yappi.get_func_stats().save(sys.argv[1], type="pstat")


if __name__ == "__main__":
    sys.exit(main())
