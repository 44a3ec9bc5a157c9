"""Supply view checkpoints, on SQLite and PostgreSQL: a view started from a checkpoint and the
log after it is the view a full rebuild gives; it reads only what came after the checkpoint;
anything wrong with a checkpoint means a full rebuild, never a wrong view."""

import logging
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from hub.bootstrap import Hub
from hub.services.supply_checkpoint import FORMAT, VIEW, SupplyCheckpoints, decode, encode
from hub.services.supply_view import TOPICS, SupplyState, SupplyView
from hub.store import OrderStore
from hub.view_checkpoints import CheckpointTable, StoredCheckpoint, checkpoint_table
from tests.contracts.factories import NOW, source_definition
from tests.support.running_hub import Clock, embedded_hub
from tests.support.supply_history import (
    ADMIN,
    POLICY,
    SKUS,
    SOURCES,
    STEPS,
    CountingStore,
    History,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("database_url") if request.param == "postgres" else None


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def hub(tmp_path: Path, clock: Clock, database: str | None) -> Iterator[Hub]:
    the_hub = embedded_hub(tmp_path, clock, database)
    for n, source_id in enumerate(SOURCES):
        the_hub.catalog.register_source(source_definition(source_id, lat=45.0 + n), actor=ADMIN)
    the_hub.policies.publish(POLICY.format(version=1), actor=ADMIN)
    yield the_hub
    the_hub.close()


def rebuilt(store: OrderStore) -> SupplyState:
    view = SupplyView(store)
    view.refresh()
    return view.export()


def started(
    store: Any, table: CheckpointTable | None = None
) -> tuple[SupplyView, SupplyCheckpoints]:
    view = SupplyView(store)
    return view, SupplyCheckpoints(view, store, table)


def written(hub: Hub) -> int:
    """A checkpoint of the hub's own (live) view, now (unless one as new is stored); its
    position."""
    live = hub.orchestration.supply
    live.refresh()
    SupplyCheckpoints(live, hub.store).write()
    assert [c.position for c in _table(hub.store).read(VIEW)] == [live.position]
    return live.position


# --- exact ----------------------------------------------------------------------------------


@settings(
    max_examples=8,
    deadline=None,
    # The hub outlives the examples on purpose: each one goes on from the history before it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=STEPS, after=STEPS)
def test_a_view_from_a_checkpoint_and_the_log_after_it_equals_a_full_rebuild(
    hub: Hub, clock: Clock, before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    history = History(hub, clock)
    history.run(before)
    position = written(hub)
    history.run(after)

    view, checkpoints = started(hub.store)
    report = checkpoints.start_view()

    assert report.checkpoint == position
    assert view.export() == rebuilt(hub.store)  # every source, stock, shipments, ...
    assert view.position == hub.store.max_position()
    # Sources in the order routing has always listed them: as they were registered.
    assert [s.source_id for s in view.sources()] == SOURCES


def test_a_state_survives_its_encoding_whole(hub: Hub, clock: Clock) -> None:
    History(hub, clock).run(
        [("stock", 0, 0, 5), ("order", 0, 2), ("next_day",), ("order", 0, 1), ("toggle", 1)]
    )
    state = rebuilt(hub.store)
    assert state.shipments and state.stock and state.sources

    assert decode(encode(state)) == state


def test_the_start_reads_only_the_events_after_the_checkpoint(hub: Hub, clock: Clock) -> None:
    history = History(hub, clock)
    history.run([("stock", s, k, 9) for s in range(len(SOURCES)) for k in range(len(SKUS))])
    history.run([("order", k % 3, 1) for k in range(6)])
    position = written(hub)
    history.run([("receive", 0, 0, 2), ("order", 1, 1), ("toggle", 2)])
    after = hub.store.recorder.select_notifications(position, 10_000, inclusive_of_start=False)
    expected = sum(1 for n in after if n.topic in TOPICS)
    counted = CountingStore(hub.store)

    view, checkpoints = started(counted, _table(hub.store))
    report = checkpoints.start_view()

    assert (report.checkpoint, report.events_read) == (position, expected)
    assert counted.read == expected > 0
    assert counted.lowest_start == position  # nothing at or before the checkpoint was read
    assert view.export() == rebuilt(hub.store)


# --- never a wrong view ----------------------------------------------------------------------


def _changed(good: bytes, **fields: Any) -> bytes:
    """A checkpoint's document with some fields changed, encoded as a checkpoint is."""
    return zlib.compress(orjson.dumps(orjson.loads(zlib.decompress(good)) | fields))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda good: b"not a checkpoint", "unreadable"),
        (lambda good: good[: len(good) // 2], "unreadable"),  # cut short
        (lambda good: good[:-6] + bytes(6), "unreadable"),  # zlib's checksum no longer matches
        (lambda good: _changed(good, stock_keys=[["wh-x", 1]]), "unreadable"),
        (lambda good: _changed(good, stock_levels=[5, 0, 0]), "unreadable"),  # rows cut off
        (lambda good: _changed(good, stock={}), "unreadable"),  # another writer's field
        (lambda good: _changed(good, format=2), "unreadable"),
        # Well-formed, but a source definition routing cannot read.
        (lambda good: _changed(good, sources=[["wh-x", {"bogus": 1}, True]]), "not usable"),
        (
            # A checkpoint of a log that is not this one (a restored database?): past its end.
            lambda good: _changed(good, position=10**9),
            "does not fit",
        ),
    ],
)
def test_a_damaged_checkpoint_is_a_full_rebuild_and_says_so(
    hub: Hub,
    clock: Clock,
    damage: Any,
    why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    History(hub, clock).run([("stock", 0, 0, 5), ("order", 0, 2), ("toggle", 3)])
    written(hub)
    table = _table(hub.store)
    (good,) = table.read(VIEW)
    _replace(table, good, damage(good.state))

    view, checkpoints = started(hub.store)
    with caplog.at_level(logging.INFO, logger="hub.services.supply_checkpoint"):
        report = checkpoints.start_view()

    assert report.checkpoint is None
    assert report.events_read == SupplyView(hub.store).refresh() > 0  # from the beginning
    assert why in caplog.text and "rebuilding from the log" in caplog.text
    assert view.export() == rebuilt(hub.store)


def test_a_checkpoint_of_an_older_format_is_ignored_and_the_next_write_drops_it(
    hub: Hub, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    History(hub, clock).run([("stock", 0, 0, 5), ("order", 0, 1)])
    table = _table(hub.store)
    hub.orchestration.supply.refresh()
    end = hub.orchestration.supply.position
    # What an earlier release wrote: another format, unreadable here whatever its bytes.
    table.write(StoredCheckpoint(VIEW, FORMAT - 1, end, NOW, b"older"))

    view, checkpoints = started(hub.store)
    with caplog.at_level(logging.INFO, logger="hub.services.supply_checkpoint"):
        report = checkpoints.start_view()

    assert report.checkpoint is None
    assert f"only of formats [{FORMAT - 1}]" in caplog.text
    assert view.export() == rebuilt(hub.store)
    assert checkpoints.write()
    assert [c.format for c in table.read(VIEW)] == [FORMAT]


def test_without_a_checkpoint_the_view_is_rebuilt_and_the_first_write_makes_one(
    hub: Hub, clock: Clock
) -> None:
    History(hub, clock).run([("stock", 1, 2, 4)])

    view, checkpoints = started(hub.store)
    report = checkpoints.start_view()

    assert report.checkpoint is None and report.events_read > 0
    assert checkpoints.due()  # a rebuild's events count: a checkpoint is written soon after
    assert checkpoints.write()
    assert [c.position for c in _table(hub.store).read(VIEW)] == [view.position]


def test_only_a_newer_checkpoint_replaces_the_stored_one(hub: Hub, clock: Clock) -> None:
    """Several processes keep the view and write: a slower one's older state never wins."""
    History(hub, clock).run([("stock", 0, 0, 5)])
    table = _table(hub.store)
    stale = SupplyView(hub.store).export()  # nothing applied: an older position
    newest = written(hub)
    assert stale.position < newest

    late = StoredCheckpoint(VIEW, FORMAT, stale.position, NOW, encode(stale))
    assert table.write(late) is False
    assert [c.position for c in table.read(VIEW)] == [newest]


# --- under load and through a crash ----------------------------------------------------------


def test_checkpoints_written_while_events_are_appended_are_each_exact(
    hub: Hub, clock: Clock
) -> None:
    history = History(hub, clock)
    history.run([("stock", s, k, 50) for s in range(len(SOURCES)) for k in range(len(SKUS))])
    stop = threading.Event()

    def append() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            history.receive(n % len(SOURCES), n % len(SKUS), 1)

    appender = threading.Thread(target=append)
    appender.start()
    live, checkpoints = started(hub.store)
    taken: list[SupplyState] = []
    try:
        while len(taken) < 6:
            live.refresh()
            if checkpoints.write():
                (stored,) = _table(hub.store).read(VIEW)
                taken.append(decode(stored.state))
    finally:
        stop.set()
        appender.join()

    assert len({s.position for s in taken}) == len(taken)  # the log moved between them
    for state in taken:
        assert state == rebuilt(CountingStore(hub.store, until=state.position))


CRASH = """
import os, sys
from pathlib import Path
import psycopg
from eventsourcing import sqlite
from hub.services.supply_checkpoint import SupplyCheckpoints
from hub.services.supply_view import SupplyView
from hub.settings import Settings
from hub.store import OrderStore

def dies_after(execute):
    def run(cursor, statement, *args, **kwargs):
        result = execute(cursor, statement, *args, **kwargs)
        if "INSERT INTO" in str(statement) and "orderhub_view_checkpoints" in str(statement):
            os._exit(9)  # the row is written, not committed: the process is gone
        return result
    return run

sqlite.SQLiteCursor.execute = dies_after(sqlite.SQLiteCursor.execute)
psycopg.Cursor.execute = dies_after(psycopg.Cursor.execute)
url = sys.argv[2] or None
settings = Settings(data_dir=Path(sys.argv[1]), kafka_bootstrap=None, database_url=url)
store = OrderStore(env=settings.eventsourcing_env())
view = SupplyView(store)
checkpoints = SupplyCheckpoints(view, store)
checkpoints.start_view()
checkpoints.write()
print("not killed")
"""


def test_a_crash_while_writing_leaves_the_previous_checkpoint_usable(
    hub: Hub, clock: Clock, tmp_path: Path, database: str | None
) -> None:
    history = History(hub, clock)
    history.run([("stock", 0, 0, 5), ("order", 0, 1)])
    position = written(hub)
    history.run([("receive", 0, 0, 3), ("order", 0, 2), ("toggle", 1)])

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path), database or ""],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert crashed.returncode == 9, crashed.stderr
    assert [c.position for c in _table(hub.store).read(VIEW)] == [position]
    view, checkpoints = started(hub.store)
    assert checkpoints.start_view().checkpoint == position
    assert view.export() == rebuilt(hub.store)


def test_the_hub_writes_a_checkpoint_when_it_closes_and_starts_from_it(
    tmp_path: Path, clock: Clock, database: str | None
) -> None:
    first = embedded_hub(tmp_path, clock, database)
    try:
        first.catalog.register_source(source_definition("wh-lyon"), actor=ADMIN)
        assert first.start_supply().checkpoint is None  # nothing yet: rebuilt
        History(first, clock).run([("stock", 0, 0, 5), ("stock", 0, 1, 2)])
        first.orchestration.supply.refresh()
        position = first.orchestration.supply.position
    finally:
        first.close()

    second = embedded_hub(tmp_path, clock, database)
    try:
        report = second.start_supply()
        assert (report.checkpoint, report.events_read) == (position, 0)
        assert second.orchestration.supply.export() == rebuilt(second.store)
    finally:
        second.close()


def test_the_hub_checkpoints_as_often_as_its_settings_say(
    tmp_path: Path, clock: Clock, database: str | None
) -> None:
    hub = embedded_hub(tmp_path, clock, database, supply_checkpoint_events=3)
    try:
        hub.catalog.register_source(source_definition("wh-lyon"), actor=ADMIN)
        hub.start_supply()
        checkpoints = hub.supply_checkpoints
        assert checkpoints is not None
        assert checkpoints.due()  # rebuilt at the start: worth one at once
        assert checkpoints.write()
        view, start = hub.orchestration.supply, hub.orchestration.supply.applied
        seen = []
        for sku in range(3):
            History(hub, clock).run([("stock", 0, sku, 5)])
            view.refresh()
            seen.append((view.applied - start >= 3, checkpoints.due()))
        assert seen[0] == (False, False)  # a few events, but fewer than three: not yet
        assert seen[-1] == (True, True)
        assert all(enough == due for enough, due in seen)
    finally:
        hub.close()


# --- helpers ---------------------------------------------------------------------------------


def _table(store: OrderStore) -> CheckpointTable:
    table = checkpoint_table(store.recorder)
    assert table is not None
    return table


def _replace(table: CheckpointTable, good: StoredCheckpoint, state: bytes) -> None:
    """Store other bytes as the checkpoint, at its position."""
    table.clear(VIEW)
    table.write(StoredCheckpoint(VIEW, FORMAT, good.position, NOW, state))
    (stored,) = table.read(VIEW)
    assert stored.state == state
