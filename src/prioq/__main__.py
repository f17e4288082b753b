"""``python -m prioq``: the ``prioq`` command (see :mod:`prioq.cli`)."""

from __future__ import annotations

from prioq.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
