"""Shipments requested per source and (UTC) day: the "capacity left today" of each source."""

from collections.abc import Sequence
from datetime import date

from projections.base import SqlView
from projections.positions import create_positions_table, read_positions, save_positions
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

FOLLOWER = "source_load"
_DDL = """
CREATE TABLE IF NOT EXISTS source_shipments (
    shipment_id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    day TEXT NOT NULL
)"""


class SqlSourceLoadView(SqlView):
    """One row per shipment, so a re-delivered event counts once."""

    event_types = frozenset({EventType.ORDER_FULFILLMENT_REQUESTED})  # the only ones it reads

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        with db.schema_transaction() as cur:
            cur.execute(_DDL)
            cur.execute("CREATE INDEX IF NOT EXISTS source_shipments_day ON source_shipments (day)")
            create_positions_table(cur)

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        rows = [
            (env.data["shipment_id"], env.data["source_id"], env.time.date().isoformat())
            for env in envelopes
            if env.type == EventType.ORDER_FULFILLMENT_REQUESTED
        ]
        if rows:
            cur.executemany(
                "INSERT INTO source_shipments (shipment_id, source_id, day) VALUES (?, ?, ?) "
                "ON CONFLICT (shipment_id) DO NOTHING",
                rows,
            )
        save_positions(cur, FOLLOWER, positions)

    def shipments_on(self, day: date) -> dict[str, int]:
        with self._db.transaction() as cur:
            cur.execute(
                "SELECT source_id, COUNT(*) FROM source_shipments WHERE day = ? GROUP BY source_id",
                (day.isoformat(),),
            )
            return {source_id: int(count) for source_id, count in cur.fetchall()}

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, FOLLOWER)
