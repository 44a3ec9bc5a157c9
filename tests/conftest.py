"""Shared pytest configuration: markers and the fixtures that give tests real services.

Fixtures (all lazy: nothing starts unless a test asks for it, so ``pytest tests/unit`` starts
nothing):

- ``kafka_bootstrap`` (session): ``"host:port"`` of a real Kafka broker (KRaft).
- ``postgres_server_url`` (session): ``postgresql://user:password@host:port/db`` of a real
  PostgreSQL server; the role may create databases.
- ``database_url`` (function): URL of a fresh, empty database ``orderhub_t_<hex>`` on that
  server, dropped after the test.
- ``kafka_topic_prefix`` (function): a unique prefix (``t<hex8>.``) for the test's topic and
  consumer-group names, so tests sharing a broker never see each other's records.
- ``distributed_env`` (function): the environment of a distributed hub's processes on those
  services (``tests/support/processes.py``: ``hub_env``), logging at info.
- ``clock`` and ``running_hub`` (function), from ``tests/support/running_hub.py``: a clock at
  ``NOW`` the test moves on, and the embedded app with an httpx client on it, ``(client, hub)``.

Property tests run under a hypothesis profile loaded here, before any test module is
imported: ``dev`` (a tenth of the examples) by default, ``ci`` (the full count) under
``CI=true``, or the one ``HYPOTHESIS_PROFILE`` names; a test scales its own count with
``tests/support/examples.py``: ``examples``.

Where the services come from, and the environment variables that steer it, is described in
``tests/harness/services.py``. A service that cannot be had skips the test locally and FAILS
it under CI (``CI=true``): a green CI run must mean the integration tests ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.harness.services import (
    Services,
    ServiceUnavailable,
    create_database,
    drop_database,
    under_ci,
    unique_topic_prefix,
)
from tests.support.examples import load_profile
from tests.support.processes import hub_env
from tests.support.running_hub import clock, running_hub  # noqa: F401 (fixtures for all tests)

load_profile()

MARKERS = (
    "kafka: needs a real Kafka broker (fixture kafka_bootstrap)",
    "postgres: needs a real PostgreSQL server (fixtures postgres_server_url, database_url)",
    "e2e: whole flows across processes",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def _unavailable(exc: ServiceUnavailable) -> NoReturn:
    if under_ci():
        pytest.fail(f"CI: {exc}", pytrace=False)
    pytest.skip(str(exc))


@pytest.fixture(scope="session")
def orderhub_services(pytestconfig: pytest.Config) -> Iterator[Services]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    services = Services(
        suspend_capture=capture.global_and_fixture_disabled if capture is not None else None
    )
    try:
        yield services
    finally:
        services.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(orderhub_services: Services) -> str:
    try:
        return orderhub_services.kafka().address
    except ServiceUnavailable as exc:
        reason = exc
    # Outside the except block, so the report shows the reason, not a chained traceback.
    _unavailable(reason)


@pytest.fixture(scope="session")
def postgres_server_url(orderhub_services: Services) -> str:
    try:
        return orderhub_services.postgres().address
    except ServiceUnavailable as exc:
        reason = exc
    _unavailable(reason)


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, url)


@pytest.fixture
def kafka_topic_prefix() -> str:
    return unique_topic_prefix()


@pytest.fixture
def distributed_env(
    kafka_bootstrap: str, database_url: str, kafka_topic_prefix: str, tmp_path: Path
) -> dict[str, str]:
    return hub_env(
        kafka_bootstrap,
        database_url,
        kafka_topic_prefix,
        tmp_path / "data",
        ORDERHUB_LOG_LEVEL="info",
    )
