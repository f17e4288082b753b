"""Opening a store by URL: the scheme chooses the backend, which reads its own options."""

from __future__ import annotations

from prioq._validate import wrong_type
from prioq.errors import InvalidValue, StoreError
from prioq.storage._memory import MemoryStore
from prioq.storage._options import redact_url
from prioq.storage._protocol import Store

__all__ = ["open_store"]

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def open_store(url: str) -> Store:
    """A store by URL. O(1) for a new store; opening an older schema migrates it.

    * ``memory://`` — :class:`MemoryStore`, nothing survives the process.
    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
      ``sqlite:///:memory:`` — :class:`prioq.storage.sqlite.SQLiteStore`;
      options ``?synchronous=FULL|NORMAL|EXTRA``, ``busy_timeout=<seconds>``, ``mode=ro``.
    * ``postgresql://user:pass@host:port/db`` — :class:`prioq.storage.postgres.PostgresStore`
      (psycopg 3); options ``?schema=prioq&replica=<name>&lease_seconds=10``, other
      query parameters go to libpq.

    Raises :class:`prioq.InvalidType` for a URL that is not a string,
    :class:`prioq.InvalidValue` for a bad or unknown option, and
    :class:`prioq.StoreError` for an unknown scheme, a file that is not a prioq
    store or is unreadable, or a schema newer than this library knows; nothing is
    written in those cases.
    """
    if not isinstance(url, str):
        raise wrong_type(InvalidValue, f"store URL must be a string, got {url!r}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if url in ("memory://", "memory:"):
        return MemoryStore()
    if scheme == "sqlite":
        from prioq.storage.sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in _POSTGRES_SCHEMES:
        from prioq.storage.postgres import PostgresStore

        return PostgresStore.from_url(url)
    shown = scheme or url.split(":", 1)[0]
    raise StoreError(
        f"unknown store URL scheme {shown!r} in {redact_url(url)!r}; "
        "use memory://, sqlite:///path or postgresql://..."
    )
