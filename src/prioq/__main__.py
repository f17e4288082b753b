"""``python -m prioq``: the ``prioq`` command (see :mod:`prioq.sim.cli`)."""

from __future__ import annotations

from prioq.sim.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
