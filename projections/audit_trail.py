"""The audit trail: every event of one order, as a readable line with who did it and when.

It keeps the order's own events and the exception cases raised about it, so an auditor sees
one history per order. Each line is written once per event id, however often it is delivered.
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

import orjson

from projections.base import SqlView, advance
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from projections.summaries import summarize
from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, types_of

_log = logging.getLogger(__name__)
FOLLOWER = "audit_trail"
ORDER_EVENTS = EventFamily.ORDER
CASE_EVENTS = EventFamily.EXCEPTION_CASE
# What a line keeps for data it does not copy: never a copy, data_text writes at least "{}".
NOT_COPIED = ""


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


def entry_for(env: EventEnvelope, copy_order_data: bool = True) -> AuditEntry | None:
    """The trail line of an event, or None when it belongs to no order's trail. Without
    `copy_order_data`, a line of an order's own event keeps no copy of its data (NOT_COPIED:
    the event store holds it), and the data is not encoded at all (`Routed` carries kB)."""
    if env.type.startswith(ORDER_EVENTS):
        order_id = env.subject
        copied = copy_order_data
    elif env.type.startswith(CASE_EVENTS) and env.data.get("order_id"):
        order_id = str(env.data["order_id"])
        copied = True
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
        data=data_text(env.data) if copied else NOT_COPIED,
    )


# An order's events' data by version (sequence), read from the event store that holds them.
StoredData = Callable[[str], dict[int, dict[str, Any]]]


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

    Given `stored_data`, a line of an order's own event keeps no copy of the event's data: the
    event store holds it under (order id, sequence), and trail() reads it from there. The
    copies were ~12 % of the distributed flow's WAL per order (`Placed` and `Routed` carry
    2-5 kB) and the projections role encoded each one. Lines written with a copy (earlier
    releases, exception cases, a view built without the store) read as they were."""

    name = FOLLOWER
    event_types = types_of(ORDER_EVENTS, CASE_EVENTS)  # the trail's; the lane decodes those only
    rebuilt_as = FOLLOWER

    def __init__(self, db: SqlDatabase, stored_data: StoredData | None = None) -> None:
        self._db = db
        self._stored_data = stored_data
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            create_positions_table(cur)
        # The entries of Placed and Routed carry their event's data (2-5 kB).
        db.prefer_lz4([("audit_trail", "data")])

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        # Lines of order events keep no copy of the data when the store holds it: not encoded
        # only to be dropped (its sorted JSON was most of a line's cost for Placed and Routed).
        copy = self._stored_data is None
        entries = [e for e in (entry_for(env, copy) for env in envelopes) if e is not None]
        if entries:
            cur.executemany(_INSERT, [_params(e) for e in entries])
        save_positions(cur, FOLLOWER, positions)

    def trail(self, order_id: str) -> list[AuditEntry]:
        with self._db.transaction() as cur:
            cur.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM audit_trail WHERE order_id = ?", (order_id,)
            )
            records = cur.fetchall()
        entries = self._with_data(order_id, [_entry(record) for record in records])
        return sorted(entries, key=trail_order)

    def _with_data(self, order_id: str, entries: list[AuditEntry]) -> list[AuditEntry]:
        """The lines that keep no copy, with their event's data from the event store."""
        if not any(e.data == NOT_COPIED for e in entries):
            return entries
        stored = self._stored_data(order_id) if self._stored_data is not None else {}
        missing = [e.sequence for e in entries if e.data == NOT_COPIED and e.sequence not in stored]
        if missing:
            # Not expected (the store is the trail's source): an empty object, not a failure.
            _log.warning("audit trail of %s: no stored event at %s", order_id, missing)
        return [
            replace(e, data=data_text(stored.get(e.sequence, {}))) if e.data == NOT_COPIED else e
            for e in entries
        ]

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
