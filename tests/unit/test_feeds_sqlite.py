"""The projections role's one consumer on SQLite views (no services): the contract of
tests/contracts/feeds_contract.py (tests/integration/test_feeds_postgres.py: on PostgreSQL)."""

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from benchmarks.route_profile import NOW
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from tests.contracts.feeds_contract import FeedsContract, MakeHub

NO_BROKER = "127.0.0.1:1"  # distributed settings: no in-process delivery; nothing connects


class TestFeedsOnSqlite(FeedsContract):
    @pytest.fixture
    def make_hub(self, tmp_path: Path) -> Iterator[MakeHub]:
        hubs: list[Hub] = []
        numbers = count()

        def make() -> Hub:
            folder = tmp_path / f"hub-{next(numbers)}"
            settings = Settings(data_dir=folder, kafka_bootstrap=NO_BROKER, topic_prefix="t.")
            hubs.append(bootstrap(settings, clock=lambda: NOW))
            return hubs[-1]

        yield make
        for hub in hubs:
            hub.close()
