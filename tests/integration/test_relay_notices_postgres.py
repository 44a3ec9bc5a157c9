"""The relay woken by PostgreSQL's notices of committed events (LISTEN/NOTIFY), on a real
database: a commit wakes it, a rollback does not, and a lost listening connection is replaced."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from connectors.publisher import RecordingPublisher
from connectors.store_notices import CHANNEL, StoreNotices
from hub.bootstrap import Hub
from hub.services.intake import IntakeService
from hub.streaming.relay import build_relay, store_notices
from tests.contracts.factories import NOW, fixed_clock, submit_order
from tests.support.running_hub import embedded_hub
from tests.unit.test_relay_wakeups import until as _until

pytestmark = pytest.mark.postgres


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    # A long fallback: only a notice can wake the relay within these tests' waits.
    made = embedded_hub(tmp_path / "hub", fixed_clock(NOW), database_url, relay_fallback_seconds=60)
    try:
        yield made
    finally:
        made.close()


def _place(hub: Hub, *external_ids: str) -> None:
    IntakeService(hub.store, fixed_clock(NOW)).place_orders(
        [submit_order(external_id=e) for e in external_ids]
    )


def _listening_pids(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE %s",
            (f'LISTEN "{CHANNEL}"%',),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.asyncio
async def test_a_commit_wakes_the_relay_which_publishes_it(hub: Hub) -> None:
    notices = await asyncio.to_thread(store_notices, hub)
    assert isinstance(notices, StoreNotices)
    publisher, stop = RecordingPublisher(), asyncio.Event()
    listening = asyncio.create_task(notices.run(stop))
    relaying = asyncio.create_task(build_relay(hub, publisher, notices).run(stop))
    await _until(lambda: notices.listening)
    await asyncio.sleep(0.2)  # the relay idle, waiting for a notice
    published = len(publisher.records)

    await asyncio.to_thread(_place, hub, "WEB-1", "WEB-2")

    await _until(lambda: len(publisher.records) >= published + 4)  # placed + accepted, twice
    assert notices.notices >= 1
    stop.set()
    await asyncio.wait_for(asyncio.gather(listening, relaying), 5)


@pytest.mark.asyncio
async def test_a_rolled_back_insert_sends_no_notice(hub: Hub, database_url: str) -> None:
    notices = await asyncio.to_thread(store_notices, hub)
    assert notices is not None
    stop = asyncio.Event()
    listening = asyncio.create_task(notices.run(stop))
    await _until(lambda: notices.listening)
    await asyncio.sleep(0.2)
    before = notices.notices

    def insert_and_roll_back() -> None:
        table = hub.store.recorder.events_table_name  # type: ignore[attr-defined]
        with psycopg.connect(database_url) as conn:
            conn.execute(
                f'INSERT INTO "{table}" (originator_id, originator_version, topic, state) '
                "VALUES (gen_random_uuid(), 1, 'x', '\\x00')"
            )
            conn.rollback()

    await asyncio.to_thread(insert_and_roll_back)
    await asyncio.to_thread(_place, hub, "WEB-1")
    await _until(lambda: notices.notices > before)
    await asyncio.sleep(0.3)
    assert notices.notices == before + 1  # the commit's, not the rollback's
    stop.set()
    await asyncio.wait_for(listening, 5)


@pytest.mark.asyncio
async def test_a_lost_listening_connection_is_replaced_and_nothing_is_missed(
    hub: Hub, database_url: str
) -> None:
    notices = await asyncio.to_thread(store_notices, hub)
    assert notices is not None
    notices._reconnect_seconds = 0.2
    publisher, stop = RecordingPublisher(), asyncio.Event()
    listening = asyncio.create_task(notices.run(stop))
    relaying = asyncio.create_task(build_relay(hub, publisher, notices).run(stop))
    await _until(lambda: notices.listening)
    (pid,) = await asyncio.to_thread(_listening_pids, database_url)

    def kill_listener_then_commit() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        _place(hub, "WEB-9")  # committed while nobody listens

    await asyncio.to_thread(kill_listener_then_commit)

    await _until(lambda: len(publisher.records) == 2)  # on reconnecting, or by polling meanwhile
    await _until(lambda: notices.listening and _listening_pids(database_url) != [pid])
    await asyncio.to_thread(_place, hub, "WEB-10")
    await _until(lambda: len(publisher.records) == 4)
    stop.set()
    await asyncio.wait_for(asyncio.gather(listening, relaying), 5)
