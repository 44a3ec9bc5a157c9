"""How often the orchestrator and billing write their positions: with every batch when
embedded delivery resumes from them, at most every few seconds on a worker (its Kafka offsets
are where it resumes), never going back and never losing a stream's highest position in
between."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

import pytest

from hub.services.followers import BillingFollower, OrchestrationFollower
from projections import positions


class Orchestration:
    def orchestrate_many(self, order_ids: list[UUID]) -> list[Any]:
        return []


class Fulfillment:
    def __init__(self) -> None:
        self.asked: list[tuple[UUID, str]] = []

    def invoice_shipments(self, shipments: Iterator[tuple[UUID, str]]) -> int:
        self.asked += list(shipments)
        return 0


class Database:
    """The positions table as rows; a write can be made to fail."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.writes: list[dict[str, int]] = []
        self.failing = False

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        yield self

    def executemany(self, sql: str, rows: list[tuple[str, str, int]]) -> None:
        if self.failing:
            raise OSError("the database is gone")
        self.writes.append({stream: position for _, stream, position in rows})
        for _, stream, position in rows:
            self.rows[stream] = max(position, self.rows.get(stream, position))

    def execute(self, sql: str, params: Any = ()) -> None:
        pass

    def fetchall(self) -> list[tuple[str, int]]:
        return list(self.rows.items())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    the_clock = Clock()
    monkeypatch.setattr(positions.time, "monotonic", the_clock)
    return the_clock


Follower = OrchestrationFollower | BillingFollower


@pytest.fixture(params=["orchestrator", "billing"])
def make(request: pytest.FixtureRequest) -> Any:
    def follower(db: Database, every: float) -> Follower:
        if request.param == "billing":
            return BillingFollower(cast(Any, Fulfillment()), cast(Any, db), every)
        return _follower(db, every)

    return follower


def _follower(db: Database, every: float) -> OrchestrationFollower:
    return OrchestrationFollower(
        cast(Any, Orchestration()), cast(Any, None), cast(Any, db), ["standard"], every
    )


def test_embedded_every_batch_writes_its_positions(clock: Clock, make: Any) -> None:
    db = Database()
    follower = make(db, 0.0)

    follower.apply([], {"log": 3})
    follower.apply([], {"log": 5})

    assert db.writes == [{"log": 3}, {"log": 5}]
    assert follower.positions() == {"log": 5}


def test_on_a_worker_the_batches_between_two_writes_go_with_the_next(
    clock: Clock, make: Any
) -> None:
    db = Database()
    follower = make(db, 1.0)

    follower.apply([], {"orders:0": 10})
    clock.now += 0.4
    follower.apply([], {"orders:0": 12, "orders:1": 4})
    clock.now += 0.4
    follower.apply([], {"stock:0": 7})
    follower.apply([], {"orders:0": 11})  # an older batch read again: never back
    assert db.writes == [{"orders:0": 10}]
    # Asked meanwhile, the follower answers what it has applied, written or not.
    assert follower.positions() == {"orders:0": 12, "orders:1": 4, "stock:0": 7}

    clock.now += 0.3
    follower.apply([], {"orders:1": 5})

    assert db.writes == [{"orders:0": 10}, {"orders:0": 12, "orders:1": 5, "stock:0": 7}]
    assert db.rows == {"orders:0": 12, "orders:1": 5, "stock:0": 7}


def test_positions_a_failed_write_did_not_store_go_with_the_next_one(
    clock: Clock, make: Any
) -> None:
    db = Database()
    follower = make(db, 1.0)
    db.failing = True

    with pytest.raises(OSError):
        follower.apply([], {"orders:0": 10})  # the batch is handled again (at least once)
    db.failing = False
    follower.apply([], {"stock:0": 2})

    assert db.writes == [{"orders:0": 10, "stock:0": 2}]


def test_a_batch_without_events_is_noted_on_the_loop_until_a_write_is_due(clock: Clock) -> None:
    db = Database()
    follower = _follower(db, 1.0)

    assert not follower.noted({"orders:0": 3})  # never written yet: `apply` it
    follower.apply([], {"orders:0": 3})
    clock.now += 0.5
    assert follower.noted({"orders:0": 9, "stock:0": 2})
    assert follower.noted({"orders:0": 8})  # never back
    assert db.writes == [{"orders:0": 3}]
    assert follower.positions() == {"orders:0": 9, "stock:0": 2}

    clock.now += 0.5
    assert not follower.noted({"stock:0": 4})  # due: `apply` writes what was noted with it
    follower.apply([], {"stock:0": 4})
    assert db.writes == [{"orders:0": 3}, {"orders:0": 9, "stock:0": 4}]


def test_embedded_nothing_is_noted(clock: Clock) -> None:
    follower = _follower(Database(), 0.0)
    follower.apply([], {"log": 3})
    assert not follower.noted({"log": 4})
