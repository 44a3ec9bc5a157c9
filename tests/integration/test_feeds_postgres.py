"""The projections role's one consumer on PostgreSQL views: the contract of
tests/contracts/feeds_contract.py, and the upgrade from one consumer per view."""

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from benchmarks.projection_events import batches
from benchmarks.route_profile import NOW
from connectors.consumed import ConsumedMessage
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from tests.contracts.feeds_contract import (
    BATCH,
    FeedsContract,
    MakeHub,
    consumer,
    dump,
    feed_all,
    role_feeds,
)
from tests.harness.services import create_database, drop_database

pytestmark = pytest.mark.postgres
NO_BROKER = "127.0.0.1:1"  # distributed settings: no in-process delivery; nothing connects


class TestFeedsOnPostgres(FeedsContract):
    @pytest.fixture
    def make_hub(self, tmp_path: Path, postgres_server_url: str) -> Iterator[MakeHub]:
        made: list[tuple[Hub, str]] = []
        numbers = count()

        def make() -> Hub:
            url = create_database(postgres_server_url)
            settings = Settings(
                data_dir=tmp_path / f"hub-{next(numbers)}",
                database_url=url,
                kafka_bootstrap=NO_BROKER,
                topic_prefix="t.",
            )
            made.append((bootstrap(settings, clock=lambda: NOW), url))
            return made[-1][0]

        yield make
        for hub, url in made:
            hub.close()
            drop_database(postgres_server_url, url)

    def test_views_fed_by_one_consumer_each_go_on_from_the_groups_committed_offsets(
        self,
        recorded: tuple[Hub, list[ConsumedMessage]],
        reference: dict[str, list[tuple[str, ...]]],
    ) -> None:
        """The upgrade: the role's group and topics stay, so the new consumer starts at the
        offsets the group committed, the slowest view's (faust acks a record once every agent
        did). Views that were further on get those events again and must not change; the
        positions they stored stay theirs (same follower and stream keys)."""
        hub, records = recorded
        parts = batches(records, BATCH)
        slowest = len(parts) // 3
        for n, feed in enumerate(role_feeds(hub)):
            # Before the upgrade: each view on its own, some further than others.
            ahead = [r for b in parts[: slowest + n % 3] for r in b]
            feed_all(consumer(hub, [feed]), ahead)
        feed_all(consumer(hub), [r for b in parts[slowest:] for r in b])
        assert dump(hub) == reference
