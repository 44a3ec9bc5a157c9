"""Stock items are snapshotted: a load stays short however long the item's history grows."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aggregates.stock import StockItem
from hub.store import STOCK_SNAPSHOT_EVERY, OrderStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class ReplayingStore(OrderStore):
    """The same event store read without snapshots: every load replays the whole history."""

    name = OrderStore.name  # the same tables (the library names them after the class)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def busy_item(store: OrderStore, events: int) -> StockItem:
    """An item with about `events` events, saved a few at a time as routing saves them."""
    item = StockItem(source_id="dc-fr", sku="RED-CHAIR", on_hand=10_000, safety_stock=2, at=T0)
    n = 0
    while item.version < events:
        at = T0 + timedelta(minutes=n)
        item.reserve(f"order-{n}", 1 + n % 3, at)
        if n % 3 == 0:
            item.release(f"order-{n}", at, "cancelled")
        if n % 11 == 0:
            item.count(10_000 - n, None, at, "cycle count")
        n += 1
        if n % 4 == 0:
            store.save(item)
    store.save(item)
    return item


def state(item: StockItem) -> dict[str, Any]:
    return {k: v for k, v in vars(item).items() if k != "_pending_events"}


def test_a_long_history_loads_from_its_last_snapshot_and_equals_a_full_replay(
    tmp_path: Path,
) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    item = busy_item(store, 5 * STOCK_SNAPSHOT_EVERY + 7)
    assert store.snapshots is not None

    snapshots = list(store.snapshots.get(item.id, desc=True, limit=1))
    read_after: list[int | None] = []
    read = store.events.get

    def reading(*args: Any, **kwargs: Any) -> Any:
        read_after.append(kwargs.get("gt"))
        return read(*args, **kwargs)

    store.events.get = reading  # type: ignore[method-assign]
    loaded: StockItem = store.repository_for(StockItem).get(item.id)
    replaying = ReplayingStore(env=env(tmp_path / "events.sqlite3"))
    replayed: StockItem = replaying.repository.get(item.id)

    assert snapshots, "a history past the interval has a snapshot"
    assert item.version - snapshots[0].originator_version < 2 * STOCK_SNAPSHOT_EVERY
    assert read_after == [snapshots[0].originator_version], "only the events after it are read"
    assert state(loaded) == state(replayed) == state(item)


def test_orders_load_without_asking_for_a_snapshot(tmp_path: Path) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))

    assert store.repository.snapshot_store is None
    assert store.repository_for(StockItem).snapshot_store is store.snapshots


def test_snapshots_stay_out_of_the_log_that_consumers_follow(tmp_path: Path) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    item = busy_item(store, 2 * STOCK_SNAPSHOT_EVERY + 1)

    logged = store.recorder.select_notifications(start=None, limit=10_000)

    assert [n.originator_version for n in logged] == list(range(1, item.version + 1))


def test_a_snapshot_that_cannot_be_written_loses_no_event_and_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = OrderStore(env=env(tmp_path / "events.sqlite3"))
    assert store.snapshots is not None

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.snapshots, "put", refuse)
    with caplog.at_level(logging.ERROR, logger="hub.store"):
        item = busy_item(store, STOCK_SNAPSHOT_EVERY + 3)

    assert store.repository.get(item.id).version == item.version
    assert "could not write" in caplog.text
