"""Positions written at most every so many seconds (a worker's orchestrator and billing), on
SQL: with no interval every call writes; a follower reads its own, written or not. (The
interval itself: tests/unit/test_orchestrator_positions.py.)"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.positions import SparsePositions, create_positions_table, read_positions
from projections.sqldb import SqlDatabase

STREAM = "orderhub.orders.events:0"
OTHER = "orderhub.orders.events:1"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
    with database.schema_transaction() as cur:
        create_positions_table(cur)
    yield database
    database.close()


def saved(db: SqlDatabase, follower: str = "billing") -> dict[str, int]:
    with db.transaction() as cur:
        return read_positions(cur, follower)


def test_every_call_writes_when_every_is_zero(db: SqlDatabase) -> None:
    positions = SparsePositions(db, "billing")

    positions.save({STREAM: 4})
    assert saved(db) == {STREAM: 4}
    positions.save({STREAM: 9, OTHER: 2})
    assert saved(db) == {STREAM: 9, OTHER: 2}


def test_a_follower_reads_only_its_own(db: SqlDatabase) -> None:
    SparsePositions(db, "orchestrator").save({STREAM: 5})
    billing = SparsePositions(db, "billing", every=60.0)
    billing.save({OTHER: 3})

    assert billing.read() == {OTHER: 3}
    assert saved(db, "orchestrator") == {STREAM: 5}
