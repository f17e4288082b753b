"""Run every benchmark script in this folder, one after another (``make bench``).

Extra arguments (e.g. ``--toy``) are passed to each script. Each script prints
its own table of ratios measured side by side in one run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = [
    "bench_queue.py", "bench_scheduler.py", "bench_backlog.py", "bench_preemption.py", "bench_contention.py",
    "bench_storage.py", "bench_pages.py", "bench_fairshare.py", "bench_aio.py",
]


def main() -> int:
    here = Path(__file__).parent
    failed = 0
    for name in SCRIPTS:
        print(f"=== {name} {' '.join(sys.argv[1:])}", flush=True)
        failed |= subprocess.call([sys.executable, str(here / name), *sys.argv[1:]])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
