"""Test harness: real Kafka and PostgreSQL for integration tests, and polling helpers.

Fixtures are defined in ``tests/conftest.py``; the logic lives here so it can be reused by
benchmarks or scripts without pytest.
"""

from tests.harness.services import Services, ServiceUnavailable, under_ci
from tests.harness.waiting import async_wait_for, wait_for

__all__ = ["ServiceUnavailable", "Services", "async_wait_for", "under_ci", "wait_for"]
