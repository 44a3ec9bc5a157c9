"""OrderStore.get_many (one query for many aggregates) gives what repository.get gives for each,
on SQLite and PostgreSQL: orders of an earlier release, long histories, events of an earlier
class version (upcast), snapshots, the library's cache, and ids that are not stored."""

import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

import hub.multi_get
from aggregates.stock import StockItem
from hub.settings import Settings
from hub.store import OrderStore
from tests.integration.test_release_data import RELEASE

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
Opener = Callable[..., OrderStore]


class Widget(Aggregate):
    """An aggregate whose created event gained a field: version 1 events lack it."""

    def __init__(self, name: str, colour: str) -> None:
        self.name = name
        self.colour = colour

    class Created(Aggregate.Created):
        name: str
        colour: str
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["colour"] = "unpainted"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one event store (the release's events copied in); closes them after."""
    opened: list[OrderStore] = []
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(RELEASE / "events.sqlite3", data_dir / "events.sqlite3")
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None

    def open_(**env: str) -> OrderStore:
        settings = Settings(data_dir=data_dir, kafka_bootstrap=None, database_url=url)
        store = OrderStore(env=settings.eventsourcing_env() | env)
        opened.append(store)
        return store

    if url is not None:  # the release's stored events, byte for byte, in PostgreSQL
        release = OrderStore(
            env=Settings(data_dir=data_dir, kafka_bootstrap=None).eventsourcing_env()
        )
        stored = [
            StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
            for n in release.recorder.select_notifications(start=None, limit=100_000)
        ]
        release.close()
        open_().recorder.insert_events(stored)
    yield open_
    for store in opened:
        store.close()


def _same(many: dict[UUID, Any], store: OrderStore, ids: list[UUID]) -> None:
    assert list(many) == [i for i in ids if i in many]  # in the order asked
    for aggregate_id in ids:
        one = store.repository.get(aggregate_id)
        got = many[aggregate_id]
        assert type(got) is type(one)
        assert (got.id, got.version) == (one.id, one.version)
        assert vars(got) == vars(one)


def _stored_ids(store: OrderStore) -> list[UUID]:
    notifications = store.recorder.select_notifications(start=None, limit=100_000)
    return list(dict.fromkeys(n.originator_id for n in notifications))


def test_the_release_s_aggregates_and_missing_ids(open_store: Opener) -> None:
    store = open_store()
    ids = _stored_ids(store)
    assert len(ids) > 5
    missing = [uuid4(), uuid4()]
    asked = [missing[0], *ids, missing[1], ids[0]]  # a repeated id is read once

    many = store.get_many(asked)

    assert set(many) == set(ids)
    _same(many, store, ids)
    assert store.get_many([]) == {}
    assert store.get_many(missing) == {}


def test_long_histories_and_many_ids_in_chunks(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    busy = StockItem("wh-1", "LONG", 10_000, 0, NOW)
    quiet = [StockItem("wh-1", f"SKU-{n}", n, 0, NOW) for n in range(30)]
    store.save(*quiet)
    # Saved in steps, so that the store snapshots the item more than once on the way.
    for step in range(3):
        for n in range(100):
            busy.reserve(f"o{step}-{n}", 1, at=NOW)
        store.save(busy)
    assert store.snapshots is not None
    assert len(list(store.snapshots.get(busy.id))) >= 2
    ids = [busy.id, *(q.id for q in quiet)]
    # SQLite's statements take a bounded number of ids: more ids are several queries.
    monkeypatch.setattr(hub.multi_get, "SQLITE_IDS_PER_QUERY", 7)

    many = store.get_many(ids, StockItem)

    assert many[busy.id].version == 301 and many[busy.id].reserved == 300
    _same(many, store, ids)
    # Of the snapshots, only each item's last is read.
    snapshots = list(store.snapshots.get(busy.id))
    latest = hub.multi_get.select_events_of_many(
        store.snapshots.recorder, {busy.id: 0, quiet[0].id: 0}, latest=True
    )
    assert [s.originator_version for s in latest[busy.id]] == [snapshots[-1].originator_version]
    assert quiet[0].id not in latest


def test_events_of_an_earlier_class_version_are_upcast(open_store: Opener) -> None:
    store = open_store()
    current = Widget("chair", "red")
    old = Widget("table", "blue")
    store.save(current)
    # `old` as a release before `colour` stored it: class version 1, no colour.
    (created,) = old.collect_events()
    stored = store.mapper.to_stored_event(created)
    state = store.mapper.transcoder.decode(stored.state)
    del state["colour"], state["class_version"]
    store.recorder.insert_events(
        [
            StoredEvent(
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                store.mapper.transcoder.encode(state),
            )
        ]
    )

    many = store.get_many([current.id, old.id])

    assert (many[current.id].colour, many[old.id].colour) == ("red", "unpainted")
    _same(many, store, [current.id, old.id])


def test_from_snapshots_when_snapshotting_is_on(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(IS_SNAPSHOTTING_ENABLED="y")
    item = StockItem("wh-1", "SNAP", 100, 0, NOW)
    for n in range(5):
        item.reserve(f"o{n}", 1, at=NOW)
    store.save(item)
    store.take_snapshot(item.id)
    snapped = StockItem("wh-1", "SNAPPED-ONLY", 5, 0, NOW)
    store.save(snapped)
    store.take_snapshot(snapped.id)
    later = store.repository.get(item.id)
    later.reserve("o-late", 2, at=NOW)
    store.save(later)
    asked: list[dict[UUID, int]] = []
    select = hub.multi_get.select_events_of_many

    def spy(recorder: Any, after: Mapping[UUID, int], latest: bool = False) -> Any:
        asked.append(dict(after))
        return select(recorder, after, latest)

    monkeypatch.setattr(hub.multi_get, "select_events_of_many", spy)

    many = store.get_many([item.id, snapped.id], StockItem)

    assert many[item.id].version == 7 and many[item.id].reserved == 7
    _same(many, store, [item.id, snapped.id])
    # Snapshots first (all of them), then only the events after each one's snapshot.
    assert asked == [{item.id: 0, snapped.id: 0}, {item.id: 6, snapped.id: 1}]


def test_with_the_library_s_aggregate_cache(open_store: Opener) -> None:
    store = open_store(AGGREGATE_CACHE_MAXSIZE="100")
    ids = _stored_ids(store)
    missing = uuid4()

    many = store.get_many([*ids, missing])

    assert missing not in many
    _same(many, store, ids)
