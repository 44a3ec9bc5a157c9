"""The projections role's one consumer (hub.streaming.feeds) against the views of one backend.

A subclass gives `make_hub`: a hub (distributed settings: no in-process delivery) on a fresh
database of that backend. The history is recorded in the hub under test, so that billing, among
the role's followers, finds the orders it invoices. The reference is what the role did before:
one consumer per view, each decoding the records of its own topics and applying them with the
view's own `apply` (one transaction per view and batch), on a second hub's fresh views.
"""

import asyncio
from collections.abc import Callable, Sequence

import pytest

from benchmarks.projection_events import batches, projection_records, record_history
from connectors.codec import record_to_envelope
from connectors.consumed import ConsumedMessage, positions_of
from connectors.publisher import RecordingPublisher
from hub.bootstrap import Hub
from hub.streaming.feeds import Feed, FeedsConsumer, feeds_of
from hub.streaming.roles import Role
from projections.base import SqlView
from projections.promise_news import TABLE as NEWS_TABLE
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.support.uninvoiced import shipments_left_uninvoiced

MakeHub = Callable[[], Hub]
BATCH = 40  # records per consumed batch: the history spans many batches
STORE_TABLES = {"orderhub_events", "orderhub_console_sessions"}


def role_feeds(hub: Hub) -> list[Feed]:
    return feeds_of(hub.settings, (f for f in hub.followers if f.worker_role == Role.PROJECTIONS))


def consumer(hub: Hub, feeds: Sequence[Feed] | None = None) -> FeedsConsumer:
    feeds = role_feeds(hub) if feeds is None else feeds
    return FeedsConsumer("projections", feeds, RecordingPublisher(), hub.settings)


def feed_all(target: FeedsConsumer, records: Sequence[ConsumedMessage]) -> None:
    async def run() -> None:
        for batch in batches(records, BATCH):
            await target.handle(batch)

    asyncio.run(run())


def per_view(hub: Hub, records: Sequence[ConsumedMessage]) -> None:
    """The views fed as the role fed them before: each view its own topics, decoded again."""
    for feed in role_feeds(hub):
        if not isinstance(feed.follower, SqlView):
            continue
        for batch in batches([r for r in records if r.topic in feed.topics], BATCH):
            envelopes = {}
            for m in batch:
                env = record_to_envelope(m.key, m.value, m.headers)
                envelopes.setdefault(env.dedup_key, env)
            feed.follower.apply(list(envelopes.values()), positions_of(batch))


def dump(hub: Hub) -> dict[str, list[tuple[str, ...]]]:
    """Every view's rows and positions (billing's positions aside: the reference has none)."""
    db = hub.views_db
    with db.transaction() as cur:
        found = {}
        for table in sorted(set(_tables(cur, db)) - STORE_TABLES):
            # The clock's promise news: which orders, not how often (batches cut differently
            # note a promise placed and re-planned once or twice) nor their numbers.
            distinct = "DISTINCT order_id" if table == NEWS_TABLE else "*"
            cur.execute(f"SELECT {distinct} FROM {table}")
            rows = [tuple(str(v) for v in row) for row in cur.fetchall()]
            if table == "orderhub_positions":
                rows = [row for row in rows if row[0] != "billing"]
            found[table] = sorted(rows)
    return found


def _tables(cur: Cursor, db: SqlDatabase) -> list[str]:
    if db.dialect == "sqlite":
        cur.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    else:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return [row[0] for row in cur.fetchall()]


def invoices(hub: Hub) -> list[str]:
    after, found = None, []
    while batch := hub.store.read_envelopes(after, 1000):
        after = batch[-1][0]
        found += [e.id for _, e in batch if e.type == EventType.ORDER_INVOICE_ISSUED]
    return found


class Crash(BaseException):
    """The process dies here: not an error any handler catches."""


class Breaking(SqlView):
    """A view that fails (or crashes) on one event, and otherwise writes as the real one."""

    def __init__(self, view: SqlView, event_id: str, error: BaseException) -> None:
        self._db, self._view, self._event_id, self._error = view.database, view, event_id, error
        self.rebuilt_as = view.rebuilt_as  # type: ignore[misc]

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        self._view.write(cur, envelopes, positions)
        if any(env.id == self._event_id for env in envelopes):
            raise self._error


def _order_event(records: Sequence[ConsumedMessage], kind: str, nth: int = 0) -> ConsumedMessage:
    return [r for r in records if r.header("ce_type") == kind][nth]


class FeedsContract:
    @pytest.fixture
    def make_hub(self) -> MakeHub:
        raise NotImplementedError

    @pytest.fixture
    def recorded(self, make_hub: MakeHub) -> tuple[Hub, list[ConsumedMessage]]:
        hub = make_hub()
        with shipments_left_uninvoiced():  # billing's follower has shipments to invoice
            record_history(hub, orders=24, sources=6, skus=40)
        return hub, projection_records(hub)

    @pytest.fixture
    def reference(
        self, make_hub: MakeHub, recorded: tuple[Hub, list[ConsumedMessage]]
    ) -> dict[str, list[tuple[str, ...]]]:
        other = make_hub()
        per_view(other, recorded[1])
        return dump(other)

    def test_one_consumer_leaves_every_view_as_one_consumer_per_view_did(
        self,
        recorded: tuple[Hub, list[ConsumedMessage]],
        reference: dict[str, list[tuple[str, ...]]],
    ) -> None:
        hub, records = recorded
        feed_all(consumer(hub), records)
        assert dump(hub) == reference
        assert reference["order_status"] and reference["stock_levels"]
        assert reference["rejected_submissions"] and reference["exception_context"]
        assert invoices(hub), "billing followed the shipped orders"

    def test_a_redelivered_batch_changes_nothing(
        self, recorded: tuple[Hub, list[ConsumedMessage]]
    ) -> None:
        hub, records = recorded
        feed_all(consumer(hub), records)
        before, billed = dump(hub), invoices(hub)
        middle = batches(records, BATCH)[len(records) // BATCH // 2]
        asyncio.run(consumer(hub).handle(middle))
        feed_all(consumer(hub), records)
        assert dump(hub) == before
        assert invoices(hub) == billed

    def test_a_poison_record_is_parked_once_and_every_view_applies_the_rest(
        self,
        recorded: tuple[Hub, list[ConsumedMessage]],
        reference: dict[str, list[tuple[str, ...]]],
    ) -> None:
        hub, records = recorded
        good = records[BATCH + 3]
        junk = ConsumedMessage(good.topic, good.partition, good.offset, b"k", b"\x00junk", ())
        # At a real record's offset: the positions reached stay the reference's.
        poisoned = [*records[: BATCH + 3], junk, *records[BATCH + 3 :]]
        target = consumer(hub)
        publisher: RecordingPublisher = target._publisher  # type: ignore[assignment]
        feed_all(target, poisoned)
        (parked,) = publisher.records
        assert parked.value == b"\x00junk"
        assert dict(parked.headers)["dlq-consumer"] == b"projections"
        assert dump(hub) == reference

    def test_a_view_failing_on_an_event_parks_it_and_the_others_apply_it(
        self,
        recorded: tuple[Hub, list[ConsumedMessage]],
        reference: dict[str, list[tuple[str, ...]]],
    ) -> None:
        hub, records = recorded
        routed = _order_event(records, EventType.ORDER_ROUTED, 3)
        event_id = str(routed.header("ce_id"))
        feeds = role_feeds(hub)
        i = next(n for n, f in enumerate(feeds) if f.name == "order_status")
        failing = Breaking(feeds[i].follower, event_id, ValueError("cannot apply"))  # type: ignore[arg-type]
        feeds[i] = Feed("order_status", failing, feeds[i].topics)
        target = consumer(hub, feeds)
        publisher: RecordingPublisher = target._publisher  # type: ignore[assignment]
        feed_all(target, records)
        (parked,) = publisher.records
        assert parked.value == routed.value
        assert dict(parked.headers)["dlq-consumer"] == b"order_status"
        found = dump(hub)
        assert {t: rows for t, rows in found.items() if not t.startswith("order_status")} == {
            t: rows for t, rows in reference.items() if not t.startswith("order_status")
        }
        # Only the order whose Routed was parked differs: its row missed that event's facts.
        order_id = str(routed.header("ce_subject"))
        differs = set(reference["order_status"]) ^ set(found["order_status"])
        assert differs and {row[0] for row in differs} == {order_id}

    def test_a_crash_in_the_middle_of_a_batchs_writes_loses_and_doubles_nothing(
        self,
        recorded: tuple[Hub, list[ConsumedMessage]],
        reference: dict[str, list[tuple[str, ...]]],
    ) -> None:
        hub, records = recorded
        parts = batches(records, BATCH)
        crashing_at = next(
            n
            for n, b in enumerate(parts)
            if any(r.header("ce_type") == EventType.ORDER_ROUTED for r in b) and n > 0
        )
        routed = next(
            r for r in parts[crashing_at] if r.header("ce_type") == EventType.ORDER_ROUTED
        )
        feeds = role_feeds(hub)
        middle = len([f for f in feeds if isinstance(f.follower, SqlView)]) // 2
        view = feeds[middle]
        assert isinstance(view.follower, SqlView)
        feeds[middle] = Feed(
            view.name, Breaking(view.follower, str(routed.header("ce_id")), Crash()), view.topics
        )
        crashing = consumer(hub, feeds)
        for batch in parts[:crashing_at]:
            asyncio.run(crashing.handle(batch))
        before = dump(hub)
        with pytest.raises(Crash):
            asyncio.run(crashing.handle(parts[crashing_at]))
        # The views before it in the shared transaction wrote too: all rolled back together.
        assert dump(hub) == before
        # Restarted, the consumer is given the batches after the last acknowledged one again.
        feed_all(consumer(hub), [r for b in parts[crashing_at:] for r in b])
        assert dump(hub) == reference
        billed = invoices(hub)
        assert billed and len(billed) == len(set(billed))
