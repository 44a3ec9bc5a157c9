"""The audit trail: every event of one order, as a readable line with who did it and when.

It shows the order's own events and the exception cases raised about it, so an auditor sees
one history per order. Each line is written once per event id, however often it is delivered.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson

from projections.base import SqlView, advance
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from projections.summaries import summarize
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, types_of

FOLLOWER = "audit_trail"
ORDER_EVENTS = EventFamily.ORDER
CASE_EVENTS = EventFamily.EXCEPTION_CASE
FAMILIES = (ORDER_EVENTS, CASE_EVENTS)


@dataclass(frozen=True)
class AuditEntry:
    order_id: str
    event_id: str
    sequence: int
    time: str
    actor: str
    actor_kind: str
    type: str
    summary: str
    data: str


def entry_for(env: EventEnvelope) -> AuditEntry | None:
    """The trail line of an event, or None when it belongs to no order's trail."""
    if env.type.startswith(ORDER_EVENTS):
        order_id = env.subject
    elif env.type.startswith(CASE_EVENTS) and env.data.get("order_id"):
        order_id = str(env.data["order_id"])
    else:
        return None
    return AuditEntry(
        order_id=order_id,
        event_id=env.id,
        sequence=env.sequence,
        # Fixed width, so that the text sorts as the instant does.
        time=env.time.astimezone(UTC).isoformat(timespec="microseconds"),
        actor=str(env.actor),
        actor_kind=env.actor.kind.value,
        type=env.type,
        summary=summarize(env),
        data=data_text(env.data),
    )


# One order's own events as the event store holds them, in version order.
StoredEvents = Callable[[str], Sequence[EventEnvelope]]


def data_text(data: dict[str, Any]) -> str:
    """The event's data as sorted JSON text: with orjson (the stdlib's encoder was half of
    the trail's write in the embedded views lane); the stdlib's for what orjson refuses (an
    integer past 64 bits). Read back with json.loads, whichever wrote it."""
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str).decode()
    except TypeError:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)


def trail_order(entry: AuditEntry) -> tuple[str, int, int, str]:
    """Time order; at the same instant the order's own events first, in the order recorded.

    Sorted here rather than in SQL: PostgreSQL's collation would order event ids differently."""
    return (
        entry.time,
        0 if entry.type.startswith(ORDER_EVENTS) else 1,
        entry.sequence,
        entry.event_id,
    )


class InMemoryAuditTrail:
    name = FOLLOWER

    def __init__(self) -> None:
        self._trails: dict[str, dict[str, AuditEntry]] = {}
        self._positions: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        # Touched trails are copied and swapped in, so a batch is applied whole or not at all.
        touched: dict[str, dict[str, AuditEntry]] = {}
        for env in envelopes:
            entry = entry_for(env)
            if entry is None:
                continue
            if entry.order_id not in touched:
                touched[entry.order_id] = dict(self._trails.get(entry.order_id, {}))
            touched[entry.order_id].setdefault(entry.event_id, entry)
        self._trails.update(touched)
        advance(self._positions, positions)

    def trail(self, order_id: str) -> list[AuditEntry]:
        return sorted(self._trails.get(order_id, {}).values(), key=trail_order)

    def positions(self) -> dict[str, int]:
        return dict(self._positions)

    def reset(self) -> None:
        self._trails = {}
        self._positions = {}


_COLUMNS = tuple(AuditEntry.__dataclass_fields__)
# The primary key serves trail(): every lookup is by order id, its leading column.
_DDL = """
CREATE TABLE IF NOT EXISTS audit_trail (
    order_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    type TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (order_id, event_id)
)"""
_INSERT = (
    f"INSERT INTO audit_trail ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (order_id, event_id) DO NOTHING"
)


class SqlAuditTrail(SqlView):
    """SQLite or PostgreSQL; a batch's lines and positions are written in one transaction.

    Given `stored_events`, the view keeps no line of an order's own events: trail() makes
    them from the order's events in the event store, which holds every one of them before
    any view sees it, and the table keeps the exception cases' lines only. Those lines were
    the most rows the projections role wrote (about five per routed order, each an index
    entry), for a read that loaded the order's stored events anyway (their data was not
    copied). Order lines written by earlier releases are left out when reading (the store's
    stand for them); without the store they are written and read as before."""

    name = FOLLOWER
    rebuilt_as = FOLLOWER
    # The types whose lines it writes (the lane decodes those only for it); with the store,
    # the exception cases' only.
    event_types: frozenset[str] = types_of(*FAMILIES)

    def __init__(self, db: SqlDatabase, stored_events: StoredEvents | None = None) -> None:
        self._db = db
        self._stored_events = stored_events
        if stored_events is not None:
            self.event_types = types_of(CASE_EVENTS)
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            create_positions_table(cur)
        # Lines of exception cases, and of order events written by earlier releases, carry
        # their event's data (2-5 kB for Placed and Routed).
        db.prefer_lz4([("audit_trail", "data")])

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        # With the store, an order's own events are its to show (of whatever type).
        skipped = ORDER_EVENTS if self._stored_events is not None else None
        entries = [
            e
            for e in (entry_for(env) for env in envelopes if not _of(env, skipped))
            if e is not None
        ]
        if entries:
            cur.executemany(_INSERT, [_params(e) for e in entries])
        save_positions(cur, FOLLOWER, positions)

    def trail(self, order_id: str) -> list[AuditEntry]:
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM audit_trail WHERE order_id = ?", (order_id,)
            )
            entries = [_entry(record) for record in cur.fetchall()]
        if self._stored_events is not None:
            entries = [e for e in entries if not e.type.startswith(ORDER_EVENTS)]
            for env in self._stored_events(order_id):
                entry = entry_for(env)
                if entry is not None and env.type.startswith(ORDER_EVENTS):
                    entries.append(entry)
        return sorted(entries, key=trail_order)

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)

    def reset(self) -> None:
        with self._db.transaction(writing_view=FOLLOWER) as cur:
            # TRUNCATE frees a large table at once, and is transactional in PostgreSQL.
            if self._db.dialect == "postgres":
                cur.execute("TRUNCATE audit_trail")
            else:
                cur.execute("DELETE FROM audit_trail")
            cur.execute("DELETE FROM orderhub_positions WHERE follower = ?", (FOLLOWER,))


def _of(env: EventEnvelope, family: str | None) -> bool:
    return family is not None and env.type.startswith(family)


def _params(entry: AuditEntry) -> tuple[object, ...]:
    # Not astuple(): it deep-copies every field (flat strings and an int here).
    return tuple(getattr(entry, c) for c in _COLUMNS)


def _entry(record: Sequence[object]) -> AuditEntry:
    order_id, event_id, sequence, time, actor, actor_kind, type_, summary, data = record
    return AuditEntry(
        str(order_id),
        str(event_id),
        int(str(sequence)),
        str(time),
        str(actor),
        str(actor_kind),
        str(type_),
        str(summary),
        str(data),
    )
