"""The store saves and loads as the library does, without its runtime protocol checks."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.stock import StockItem
from hub.multi_get import project_events
from hub.store import OrderStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    )


def item_with_history(store: OrderStore) -> StockItem:
    item = StockItem(source_id="dc-fr", sku="RED-CHAIR", on_hand=100, safety_stock=2, at=T0)
    for n in range(7):
        item.reserve(f"order-{n}", 1 + n % 3, T0 + timedelta(minutes=n))
        if n % 2:
            item.release(f"order-{n}", T0 + timedelta(minutes=n), "cancelled")
    store.save(item)
    return item


def state(item: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(item).items() if not k.startswith("_pending")}


def test_a_load_equals_the_library_projection_of_the_same_events(store: OrderStore) -> None:
    saved = item_with_history(store)
    events = list(store.events.get(saved.id))
    by_library = project_aggregate(None, events)
    assert by_library is not None
    assert state(project_events(None, events)) == state(by_library)
    loaded = store.repository.get(saved.id)
    assert state(loaded) == state(by_library)
    assert loaded.version == saved.version == len(events)
    assert state(store.get_many([saved.id])[saved.id]) == state(by_library)
    # and at an earlier version, as the library's get takes it
    assert store.repository.get(saved.id, version=3).version == 3


def test_save_collects_every_pending_event_and_skips_none(store: OrderStore) -> None:
    a = item_with_history(store)
    b = StockItem(source_id="dc-de", sku="RED-CHAIR", on_hand=5, safety_stock=0, at=T0)
    a.reserve("order-x", 1, T0)
    recordings = store.save(a, None, b)
    assert [r.domain_event.originator_id for r in recordings] == [a.id, b.id]
    assert store.repository.get(a.id).version == a.version
    assert store.repository.get(b.id).version == 1
    assert store.save() == []


def test_a_bare_event_is_saved_as_the_library_saves_it(store: OrderStore) -> None:
    item = StockItem(source_id="dc-fr", sku="BLUE-LAMP", on_hand=3, safety_stock=0, at=T0)
    (created,) = item.collect_events()
    store.save(created)  # an event, not an aggregate: the library's own path
    assert store.repository.get(item.id).version == 1


def test_a_stale_save_still_conflicts(store: OrderStore) -> None:
    saved = item_with_history(store)
    first = store.repository.get(saved.id)
    second = store.repository.get(saved.id)
    first.reserve("order-a", 1, T0)
    store.save(first)
    second.reserve("order-b", 1, T0)
    with pytest.raises(IntegrityError):
        store.save(second)


def test_an_unknown_id_is_not_found(store: OrderStore) -> None:
    item = StockItem(source_id="dc-fr", sku="GREEN-RUG", on_hand=1, safety_stock=0, at=T0)
    with pytest.raises(AggregateNotFoundError):
        store.repository.get(item.id)


def test_an_object_that_cannot_mutate_is_refused() -> None:
    with pytest.raises(AttributeError):
        project_events(None, [object()])
