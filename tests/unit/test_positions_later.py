"""Several views' batch in one transaction (projections.base.write_together): their positions in
one statement at the end, still atomic with their rows; a view that fails leaves nothing."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from projections.base import SqlView, write_together
from projections.positions import (
    PositionsLater,
    create_positions_table,
    read_positions,
    save_positions,
)
from projections.sqldb import Cursor, SqlDatabase


class Counting:
    """A cursor that counts the statements that write positions."""

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur
        self.position_writes = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        self.position_writes += "orderhub_positions" in sql
        return self._cur.executemany(sql, params)

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def fetchone(self) -> Any:
        return self._cur.fetchone()


class Rows(SqlView):
    """A view that keeps the subjects it saw; `fail` makes its write raise after writing."""

    def __init__(self, db: SqlDatabase, name: str, fail: bool = False) -> None:
        self._db, self.name, self.fail = db, name, fail
        with db.transaction() as cur:
            create_positions_table(cur)
            cur.execute(f"CREATE TABLE IF NOT EXISTS {name} (subject TEXT PRIMARY KEY)")

    def write(self, cur: Cursor, envelopes: Sequence[Any], positions: dict[str, int]) -> None:
        cur.executemany(
            f"INSERT INTO {self.name} (subject) VALUES (?) ON CONFLICT DO NOTHING",
            [(s,) for s in envelopes],
        )
        save_positions(cur, self.name, positions)
        if self.fail:
            raise RuntimeError("view failed mid-batch")

    def rows(self) -> list[str]:
        with self._db.transaction() as cur:
            cur.execute(f"SELECT subject FROM {self.name} ORDER BY subject")
            return [r[0] for r in cur.fetchall()]

    def positions(self) -> dict[str, int]:
        with self._db.transaction() as cur:
            return read_positions(cur, self.name)


def _db(tmp_path: Path) -> SqlDatabase:
    return SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")


def test_positions_of_every_view_in_one_statement_equal_to_one_by_one(tmp_path: Path) -> None:
    db = _db(tmp_path)
    a, b = Rows(db, "view_a"), Rows(db, "view_b")
    write_together(
        [(a, ["o1", "o2"], {"t:0": 5, "t:1": 2}), (b, ["o3"], {"t:0": 5, "u:0": 9})]  # type: ignore[list-item]
    )
    assert (a.rows(), b.rows()) == (["o1", "o2"], ["o3"])
    assert a.positions() == {"t:0": 5, "t:1": 2}
    assert b.positions() == {"t:0": 5, "u:0": 9}
    # Only forward, as before: an older batch again changes no position.
    write_together([(a, ["o1"], {"t:0": 3}), (b, [], {"u:0": 10})])  # type: ignore[list-item]
    assert a.positions() == {"t:0": 5, "t:1": 2}
    assert b.positions() == {"t:0": 5, "u:0": 10}

    with db.transaction() as cur:
        counting = Counting(cur)
        later = PositionsLater(counting)
        a.write(later, ["o4"], {"t:0": 6})
        b.write(later, ["o5"], {"t:0": 6})
        assert counting.position_writes == 0  # held back until the end
        later.flush()
        assert counting.position_writes == 1
    assert a.positions()["t:0"] == b.positions()["t:0"] == 6


def test_a_view_failing_mid_batch_leaves_no_view_and_no_position_written(tmp_path: Path) -> None:
    db = _db(tmp_path)
    a, b = Rows(db, "view_a"), Rows(db, "view_b", fail=True)
    with pytest.raises(RuntimeError, match="mid-batch"):
        write_together([(a, ["o1"], {"t:0": 1}), (b, ["o2"], {"t:0": 1})])  # type: ignore[list-item]
    assert (a.rows(), b.rows(), a.positions(), b.positions()) == ([], [], {}, {})
    b.fail = False
    write_together([(a, ["o1"], {"t:0": 1}), (b, ["o2"], {"t:0": 1})])  # type: ignore[list-item]
    assert (a.rows(), b.rows(), a.positions(), b.positions()) == (
        ["o1"],
        ["o2"],
        {"t:0": 1},
        {"t:0": 1},
    )
