"""Many rows in one statement on PostgreSQL (projections/multirow.py through SqlDatabase): the
same rows as one statement per row, and nothing written when any row of a batch fails."""

import random

import psycopg
import pytest

from projections import multirow
from projections.positions import read_positions, save_positions
from projections.sqldb import SqlDatabase

pytestmark = pytest.mark.postgres

_TABLE = "CREATE TABLE {t} (k TEXT, j INT, v INT NOT NULL, n INT DEFAULT 0, PRIMARY KEY (k, j))"
_UPSERT = (
    "INSERT INTO {t} (k, j, v) VALUES (?, ?, ?) ON CONFLICT (k, j) DO UPDATE "
    "SET v = excluded.v, n = {t}.n + 1 WHERE excluded.v > {t}.v"
)


def _rows(seed: int) -> list[tuple[str, int, int]]:
    r = random.Random(seed)
    return [(r.choice("abc"), r.randint(1, 3), r.randint(0, 50)) for _ in range(60)]


@pytest.mark.parametrize("seed", range(5))
def test_an_upsert_with_repeated_keys_ends_as_one_statement_a_row(
    database_url: str, seed: int
) -> None:
    """Each later row of a key sees the earlier ones (the `WHERE` and the counter `n` tell),
    as `executemany` one row at a time would."""
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            for t in ("rowwise", "together"):
                cur.execute(_TABLE.format(t=t))
                cur.execute(f"INSERT INTO {t} (k, j, v) VALUES ('a', 1, 25)")
        rows = _rows(seed)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.cursor().executemany(_UPSERT.format(t="rowwise").replace("?", "%s"), rows)
        with db.transaction() as cur:
            cur.executemany(_UPSERT.format(t="together"), rows)
        together = multirow.statements(_UPSERT.format(t="together"), rows)
        assert together is not None and 1 < len(together) < len(rows)
        with db.transaction() as cur:
            cur.execute("SELECT k, j, v, n FROM rowwise ORDER BY k, j")
            expected = cur.fetchall()
            cur.execute("SELECT k, j, v, n FROM together ORDER BY k, j")
            assert cur.fetchall() == expected
            assert any(n > 0 for *_, n in expected)  # some rows were updated more than once
    finally:
        db.close()


def test_a_row_failing_in_a_later_statement_leaves_nothing_of_the_batch(database_url: str) -> None:
    """The statements of one `executemany` are in the caller's transaction: a row refused in
    the second statement (after a repeated key split the batch) rolls back the first one's
    rows and the positions written with them."""
    db = SqlDatabase(database_url)
    try:
        with db.schema_transaction() as cur:
            cur.execute(_TABLE.format(t="view"))
            cur.execute(
                "CREATE TABLE orderhub_positions (follower TEXT, stream TEXT, position BIGINT, "
                "PRIMARY KEY (follower, stream))"
            )
        with db.transaction() as cur:
            save_positions(cur, "view", {"s": 10})
        rows: list[tuple[str, int, int | None]] = [("a", 1, 1), ("b", 1, 2), ("a", 1, 3)]
        rows.append(("c", 1, None))  # NOT NULL: refused, in the second statement
        with pytest.raises(psycopg.errors.NotNullViolation), db.transaction() as cur:
            cur.executemany(_UPSERT.format(t="view"), rows)
            save_positions(cur, "view", {"s": 20})
        with db.transaction() as cur:
            cur.execute("SELECT count(*) FROM view")
            assert cur.fetchone() == (0,)
            assert read_positions(cur, "view") == {"s": 10}
    finally:
        db.close()


def test_a_delete_by_keys_removes_the_same_rows(database_url: str) -> None:
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute(_TABLE.format(t="d"))
            cur.executemany(
                "INSERT INTO d (k, j, v) VALUES (?, ?, ?)",
                [(k, j, 0) for k in "abc" for j in (1, 2)],
            )
            cur.executemany("DELETE FROM d WHERE k = ? AND j = ?", [("a", 2), ("c", 1), ("x", 1)])
            cur.execute("SELECT k, j FROM d ORDER BY k, j")
            assert cur.fetchall() == [("a", 1), ("b", 1), ("b", 2), ("c", 2)]
    finally:
        db.close()


def test_values_that_look_like_placeholders_are_written_as_they_are(database_url: str) -> None:
    """The rows go as parameters of a `$n` text sent unparsed (a raw cursor): a value holding
    `%s`, `$1` or `?` is data, in the view as given."""
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute(_TABLE.format(t="odd"))
            rows = [("%s", 1, 1), ("$1", 2, 2), ("?", 3, 3), ("%s", 1, 4)]
            cur.executemany(_UPSERT.format(t="odd"), rows)
            cur.execute("SELECT k, j, v, n FROM odd ORDER BY j")
            assert cur.fetchall() == [("%s", 1, 4, 1), ("$1", 2, 2, 0), ("?", 3, 3, 0)]
    finally:
        db.close()
