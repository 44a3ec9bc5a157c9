"""What-if over a stored history (SQLite and PostgreSQL): the service reads the log as the engine
reads the same history in memory, each decision's inputs from the log itself, and each event's
fields exactly as the store's mapper gives them, for events of an earlier release too."""

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from aggregates.stock import StockItem
from benchmarks.network import OrderMaker, generate_network
from benchmarks.what_if import DRAFT, START, generate, packed, read_back
from benchmarks.what_if_store import History, Writer, relabel
from hub.services import what_if
from hub.services.what_if import _DECISIONS, _STOCK, WhatIfService, Window, _movement
from hub.services.what_if_log import LogReader, loads, no_long_numbers
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies import load_policy
from orchestration_policies.what_if import RecordedDecision, StockMovement, run_what_if

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
NETWORK = generate_network(8, 120, seed=3)
SEED = 3
PAGE = what_if.PAGE


@pytest.fixture(scope="module")
def history() -> tuple[History, dict[str, dict[str, Any]]]:
    timeline, definitions = generate(NETWORK, 160, SEED)
    return relabel(timeline), definitions


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    url = None if request.param == "sqlite" else request.getfixturevalue("database_url")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=url)
    opened = OrderStore(env=settings.eventsourcing_env())
    yield opened
    opened.close()


def _window(timeline: History) -> Window:
    last = max(item[3] for item in timeline if not isinstance(item, StockMovement))
    return Window(START.date(), last.date())


@pytest.mark.parametrize("page", [PAGE, 7], ids=["page", "tiny-pages"])
def test_the_stored_history_gives_the_report_of_the_same_history_in_memory(
    store: OrderStore,
    history: tuple[History, dict[str, dict[str, Any]]],
    page: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeline, definitions = history
    # As orchestration saves them: each decision's records after its order and stock items.
    Writer(store, OrderMaker(NETWORK, seed=SEED)).write(timeline, definitions)
    monkeypatch.setattr(what_if, "PAGE", page)  # tiny pages: records beyond the read-ahead
    draft = load_policy(DRAFT)
    window = _window(timeline)

    report = WhatIfService(store).run(draft, window, changes_kept=10_000).to_dict()

    in_memory = read_back(packed(timeline), definitions)
    assert report == run_what_if(in_memory, draft, START, changes_kept=10_000).to_dict()
    assert report["total"]["live"]["decisions"] == 160
    assert 0 < report["total"]["changed"] < 160
    decisions = [
        item for item in WhatIfService(store).timeline(window) if isinstance(item, RecordedDecision)
    ]
    assert len(decisions) == 160 and all(d.inputs is not None for d in decisions)
    if page == PAGE:  # every decision's inputs read from the log, none looked up
        assert all(d.candidates is not None for d in decisions)


def _fields_both_ways(store: OrderStore, notification: Notification) -> tuple[Any, Any]:
    """What-if's view of an event read from its stored JSON, and read through the mapper."""
    direct = LogReader(store).fields(notification, "decision")
    mapped = vars(store.mapper.to_domain_event(notification))
    kind = _STOCK.get(notification.topic)
    if kind is not None:
        return _movement(kind, direct), _movement(kind, mapped)
    keys = ("decision", "inputs_digest", "at", "originator_id")
    return [direct.get(k) for k in keys], [mapped.get(k) for k in keys]


def _read_fields(store: OrderStore) -> tuple[int, int]:
    """Events of what-if's topics read both ways; how many, and how many from their JSON."""
    read = direct = 0
    for notification in store.recorder.select_notifications(start=None, limit=100_000):
        if notification.topic in _STOCK or notification.topic in _DECISIONS:
            # (not from their JSON: the few whose digests hold a run of 19 digits)
            direct += LogReader(store).direct(notification, ("decision",)) is not None
            from_json, mapped = _fields_both_ways(store, notification)
            assert from_json == mapped
            read += 1
    return read, direct


def test_events_of_an_earlier_release_read_as_the_mapper_reads_them(tmp_path: Path) -> None:
    shutil.copy(RELEASE / "events.sqlite3", tmp_path / "events.sqlite3")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None)
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        assert _read_fields(store) == (22 + 15, 22 + 15)  # stock events; Routed and Held
    finally:
        store.close()


def test_events_of_this_release_read_as_the_mapper_reads_them(
    store: OrderStore, history: tuple[History, dict[str, dict[str, Any]]]
) -> None:
    timeline, definitions = history
    Writer(store, OrderMaker(NETWORK, seed=SEED)).write(timeline[:2_000], definitions)
    read, direct = _read_fields(store)
    assert read > 1_000 and direct > 0.99 * read


def test_what_orjson_or_the_top_level_cannot_read_is_read_through_the_mapper(
    store: OrderStore,
) -> None:
    at = datetime(2026, 11, 3, 9, tzinfo=UTC)
    huge = StockItem("wh-lyon", "RED-CHAIR", 2**70, 0, at)  # beyond orjson's 64-bit integers
    nested = StockItem("wh-lyon", "BLUE-CHAIR", 5, 0, at)
    nested.adjust(3, at, {"when": at})  # type: ignore[arg-type]  # a time below the top level
    store.save(huge, nested)
    registered, _, adjusted = store.recorder.select_notifications(start=None, limit=10)
    log = LogReader(store)
    for notification in (registered, adjusted):
        assert log.direct(notification, ()) is None
        direct, mapped = _fields_both_ways(store, notification)
        assert direct == mapped
    assert _movement(_STOCK[registered.topic], log.fields(registered)).on_hand == 2**70


def test_inputs_json_beyond_orjson_is_read_by_the_standard_parser() -> None:
    long = b'{"n": 1180591620717411303424, "x": [1.5, "a"]}'
    assert loads(long) == {"n": 2**70, "x": [1.5, "a"]}
    assert not no_long_numbers(long) and no_long_numbers(b'{"n": 118059162071741130}')
    assert loads(b'{"x": NaN}', digits_checked=True)["x"] != 0  # what orjson refuses, too


def test_the_pages_hold_the_notifications_the_recorder_selects(
    store: OrderStore, history: tuple[History, dict[str, dict[str, Any]]]
) -> None:
    from hub.services.what_if_log import pages
    from hub.services.what_if_pages import TOPICS

    timeline, definitions = history
    Writer(store, OrderMaker(NETWORK, seed=SEED)).write(timeline[:600], definitions)
    selected = store.recorder.select_notifications(start=None, limit=100_000, topics=TOPICS)
    assert len(selected) > 100
    for size in (7, 5_000):
        read = [n for page in pages(store, TOPICS, size) for n in page]
        fields = ("id", "originator_id", "originator_version", "topic", "state")
        assert [tuple(getattr(n, f) for f in fields) for n in read] == [
            tuple(getattr(n, f) for f in fields) for n in selected
        ]
        assert [vars(store.mapper.to_domain_event(n)) for n in read[:50]] == [
            vars(store.mapper.to_domain_event(n)) for n in selected[:50]
        ]
