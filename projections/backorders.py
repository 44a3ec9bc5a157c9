"""Orders waiting for stock, by SKU, in the order they should be served when stock arrives."""

from collections.abc import Sequence

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
    PRIMARY KEY (order_id, line_id)
)"""


class SqlBackorderView(SqlView):
    """Filled from `Routed` events: each routing replaces the order's waiting lines; a
    cancellation drops them (an order whose rest was cancelled after it shipped in part
    waits no more, and no `Routed` follows to say so)."""

    # The only ones it reads.
    event_types = frozenset({EventType.ORDER_ROUTED, EventType.ORDER_CANCELLATION_REQUESTED})

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            cur.execute("CREATE INDEX IF NOT EXISTS backorder_lines_sku ON backorder_lines (sku)")
            create_positions_table(cur)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        # An order's last routing in the batch decides its waiting lines (each routing
        # replaces the lines of the one before): one DELETE and one INSERT per batch, where a
        # statement each per Routed event was a sixth of the projections role's CPU (py-spy).
        last: dict[str, EventEnvelope] = {}
        for env in envelopes:
            if env.type in self.event_types:
                last[env.subject] = env
        order_ids = list(last)
        for start in range(0, len(order_ids), _CHUNK):
            chunk = order_ids[start : start + _CHUNK]
            cur.execute(
                f"DELETE FROM backorder_lines WHERE order_id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
        rows = [
            (
                env.subject,
                w["line_id"],
                w["sku"],
                w["quantity"],
                env.data["demand_class"],
                env.data["placed_at"],
            )
            for env in last.values()
            if env.type == EventType.ORDER_ROUTED and env.data.get("unroutable_reason") is None
            for w in env.data.get("waiting_lines", [])
        ]
        if rows:
            cur.executemany("INSERT INTO backorder_lines VALUES (?, ?, ?, ?, ?, ?)", rows)
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
                    f"WHERE b.sku IN ({', '.join('?' for _ in chunk)})",
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
        be served."""
        with self._db.transaction() as cur:
            cur.execute("SELECT order_id, sku, demand_class, placed_at FROM backorder_lines")
            rows = cur.fetchall()
        skus: dict[str, set[str]] = {}
        first: dict[str, tuple[int, str]] = {}
        worst = len(class_rank)
        for order_id, sku, demand_class, placed_at in rows:
            skus.setdefault(order_id, set()).add(sku)
            first[order_id] = (class_rank.get(demand_class, worst), placed_at)
        ordered = sorted(skus, key=lambda o: (*first[o], o))
        return [(o, frozenset(skus[o])) for o in ordered]

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)
