"""Orders waiting for stock, by SKU, in the order they should be served when stock arrives.

Each line says what it waits for: stock (`held` 0, `unfulfillable` NULL); a person, the order
being held (`held` 1: only a release moves it, no restock); or a source at all
(`unfulfillable`: why no holder of its SKU may ship it, as the order's `Routed` says; stock
registered at a new holder may still move it). Operations read the table as the backlog.
"""

from collections.abc import Sequence
from typing import Any

from projections.base import SqlView
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

FOLLOWER = "backorders"
_CHUNK = 500  # order ids per IN (...) list: well under both databases' parameter limits
_DDL = """
CREATE TABLE IF NOT EXISTS backorder_lines (
    order_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    demand_class TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    unfulfillable TEXT,
    PRIMARY KEY (order_id, line_id)
)"""
# Added to a table made by a release before them (`_migrate`).
_ADDED = {"held": "INTEGER NOT NULL DEFAULT 0", "unfulfillable": "TEXT"}
_REPLACING = frozenset({EventType.ORDER_ROUTED, EventType.ORDER_CANCELLATION_REQUESTED})
_HOLDS: dict[str, int] = {EventType.ORDER_HELD: 1, EventType.ORDER_HOLD_RELEASED: 0}


class SqlBackorderView(SqlView):
    """Filled from `Routed` events: each routing replaces the order's waiting lines; a
    cancellation drops them (an order whose rest was cancelled after it shipped in part
    waits no more, and no `Routed` follows to say so). A hold marks them held, its release
    waiting again."""

    # The only ones it reads.
    event_types = frozenset({*_REPLACING, *_HOLDS})
    reads_explanations = False  # a decision's waiting lines only (connectors.unread_explanation)

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            _migrate(cur, db.dialect)
            cur.execute("CREATE INDEX IF NOT EXISTS backorder_lines_sku ON backorder_lines (sku)")
            create_positions_table(cur)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        # An order's last routing in the batch decides its waiting lines (each routing
        # replaces the lines of the one before): one DELETE and one INSERT per batch, where a
        # statement each per Routed event was a sixth of the projections role's CPU (py-spy).
        # A hold or release after it sets the lines' `held`.
        last, held = _last_of(envelopes)
        _by_order_ids(cur, "DELETE FROM backorder_lines WHERE", list(last))
        rows = [row for env in last.values() for row in _rows(env, held.get(env.subject, 0))]
        if rows:
            cur.executemany(
                "INSERT INTO backorder_lines (order_id, line_id, sku, quantity, demand_class, "
                "placed_at, held, unfulfillable) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        # A hold or release without a routing after it: a statement per flag, not per order
        # (most orders are held or released in passing: 0.8 UPDATEs per order, benchmarks/
        # README.md, pg11), and rows already so are not rewritten.
        for flag in (0, 1):
            flagged = [o for o, f in held.items() if f == flag and o not in last]
            _by_order_ids(
                cur, f"UPDATE backorder_lines SET held = {flag} WHERE held <> {flag} AND", flagged
            )
        save_positions(cur, FOLLOWER, positions)

    def waiting_for(self, sku: str, class_rank: dict[str, int]) -> list[str]:
        """Order ids waiting for this SKU: higher demand classes first, then oldest first."""
        return self.waiting_for_many([sku], class_rank).get(sku, [])

    def waiting_for_many(
        self, skus: Sequence[str], class_rank: dict[str, int]
    ) -> dict[str, list[str]]:
        """`waiting_for` of each of these SKUs that has waiting orders, from one transaction:
        a stock load's batch names hundreds of SKUs, and a transaction each was a sixth of the
        orchestration role's CPU (py-spy, benchmarks/README.md)."""
        return {
            sku: [order_id for order_id, _ in waiters]
            for sku, waiters in self.waiters_of(skus, class_rank).items()
        }

    def waiters_of(
        self, skus: Sequence[str], class_rank: dict[str, int]
    ) -> dict[str, list[tuple[str, frozenset[str]]]]:
        """`waiting_for_many`, each order with every SKU it waits for (as `all_waiting` gives
        them): what tells a waiting order that nothing changed for it (hub.services
        .waiting_orders), read in the same statement."""
        found: dict[str, set[tuple[str, str, str]]] = {}
        waits: dict[str, set[str]] = {}
        wanted = sorted(set(skus))
        with self._db.transaction() as cur:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                cur.execute(
                    "SELECT b.sku, b.order_id, b.demand_class, b.placed_at, o.sku "
                    "FROM backorder_lines b JOIN backorder_lines o ON o.order_id = b.order_id "
                    f"WHERE b.sku IN ({', '.join('?' for _ in chunk)}) AND b.held = 0",
                    chunk,
                )
                for sku, order_id, demand_class, placed_at, other in cur.fetchall():
                    found.setdefault(sku, set()).add((order_id, demand_class, placed_at))
                    waits.setdefault(order_id, set()).add(other)
        worst = len(class_rank)
        return {
            sku: [
                (r[0], frozenset(waits[r[0]]))
                for r in sorted(rows, key=lambda r: (class_rank.get(r[1], worst), r[2], r[0]))
            ]
            for sku, rows in found.items()
        }

    def all_waiting(self, class_rank: dict[str, int]) -> list[tuple[str, frozenset[str]]]:
        """Every order with a waiting line and the SKUs it waits for, in the order they should
        be served; not held orders (a release, not stock, moves them)."""
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT order_id, sku, demand_class, placed_at FROM backorder_lines WHERE held = 0"
            )
            rows = cur.fetchall()
        skus: dict[str, set[str]] = {}
        first: dict[str, tuple[int, str]] = {}
        worst = len(class_rank)
        for order_id, sku, demand_class, placed_at in rows:
            skus.setdefault(order_id, set()).add(sku)
            first[order_id] = (class_rank.get(demand_class, worst), placed_at)
        ordered = sorted(skus, key=lambda o: (*first[o], o))
        return [(o, frozenset(skus[o])) for o in ordered]

    def lines_of(self, order_id: str) -> list[tuple[str, str, int, bool, str | None]]:
        """An order's lines in the view: line id, SKU, units, held, why no source may ship it."""
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT line_id, sku, quantity, held, unfulfillable FROM backorder_lines "
                "WHERE order_id = ? ORDER BY line_id",
                (order_id,),
            )
            return [(r[0], r[1], int(r[2]), bool(r[3]), r[4]) for r in cur.fetchall()]

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)


def _by_order_ids(cur: Cursor, statement: str, order_ids: list[str]) -> None:
    """`statement` (ending in WHERE or AND) for these orders, `_CHUNK` of them at a time."""
    for start in range(0, len(order_ids), _CHUNK):
        chunk = order_ids[start : start + _CHUNK]
        cur.execute(f"{statement} order_id IN ({', '.join('?' for _ in chunk)})", chunk)


def _last_of(
    envelopes: Sequence[EventEnvelope],
) -> tuple[dict[str, EventEnvelope], dict[str, int]]:
    """Each order's last routing or cancellation in the batch, and whether a hold (1) or a
    release (0) came after it."""
    last: dict[str, EventEnvelope] = {}
    held: dict[str, int] = {}
    for env in envelopes:
        if env.type in _REPLACING:
            last[env.subject] = env
            held.pop(env.subject, None)
        elif env.type in _HOLDS:
            held[env.subject] = _HOLDS[env.type]
    return last, held


def _rows(env: EventEnvelope, held: int) -> list[tuple[Any, ...]]:
    """A `Routed` event's waiting lines as rows (none for a cancellation or an unroutable
    order); `unfulfillable` absent before 2026-12-05."""
    data = env.data
    if env.type != EventType.ORDER_ROUTED or data.get("unroutable_reason") is not None:
        return []
    stuck = data.get("unfulfillable") or {}
    return [
        (
            env.subject,
            w["line_id"],
            w["sku"],
            w["quantity"],
            data["demand_class"],
            data["placed_at"],
            held,
            stuck.get(w["line_id"]),
        )
        for w in data.get("waiting_lines", [])
    ]


def _migrate(cur: Cursor, dialect: str) -> None:
    """A table made by an earlier release gains the columns, its rows kept (waiting for stock
    until their order's next event; those of orders held now are marked so, where the order
    view shares the database, as it does in both modes)."""
    if dialect == "sqlite":
        cur.execute("SELECT name FROM pragma_table_info('backorder_lines')")
    else:
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'backorder_lines'"
        )
    present = {r[0] for r in cur.fetchall()}
    missing = [c for c in _ADDED if c not in present]
    for column in missing:
        cur.execute(f"ALTER TABLE backorder_lines ADD COLUMN {column} {_ADDED[column]}")
    if "held" in missing and _has_table(cur, dialect, "order_status"):
        cur.execute(
            "UPDATE backorder_lines SET held = 1 WHERE order_id IN "
            "(SELECT order_id FROM order_status WHERE status = 'held')"
        )


def _has_table(cur: Cursor, dialect: str, table: str) -> bool:
    if dialect == "sqlite":
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    else:
        cur.execute("SELECT to_regclass(?) IS NOT NULL", (table,))
        return bool(cur.fetchone()[0])
    return cur.fetchone() is not None
