"""Shared fixtures: the PostgreSQL server CI starts, and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL server; skips (or fails under ``CI=true``) without one."""
    url = os.environ.get("PRIOQ_TEST_POSTGRES_URL", "")
    if not url:
        reason = "no PostgreSQL server: set PRIOQ_TEST_POSTGRES_URL or run scripts/pg.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url
