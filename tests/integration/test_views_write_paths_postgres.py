"""The SQL views' cheaper writes on PostgreSQL (and the exceptions' also on SQLite) keep the
contents of the writes they replaced, on the same events (tests/unit/test_views_write_paths.py's
histories: the release fixture's and a generated one whose orders change SKUs):

- the stock levels' rows read by their keys (two arrays joined to the table), not by SKU,
  equal the pure fold;
- the exception view's SKU rows written by difference (a gone key deleted by its primary key,
  a new or moved one upserted) equal the delete-by-exception-id and insert-all of before."""

import select
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from projections.base import write_together
from projections.exception_rules import Book, ExceptionRow
from projections.exceptions import SqlExceptionQueue
from projections.positions import save_positions
from projections.sqldb import Cursor, SqlDatabase
from projections.stock_levels import InMemoryStockLevels, SqlStockLevels
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.support.views import in_schema
from tests.unit.test_positions_later import Rows
from tests.unit.test_views_write_paths import (  # noqa: F401
    _batches,
    _contents,
    apply_both,
    history,
)

EXCEPTION_TABLES = ("exception_queue", "exception_skus", "exception_context")


class DeleteAndInsertExceptions(SqlExceptionQueue):
    """The SKU rows as they were written: every changed exception's deleted, all inserted."""

    def _save(self, cur: Cursor, book: Book, before: dict[str, ExceptionRow]) -> None:
        cur.executemany(
            "DELETE FROM exception_skus WHERE exception_id = ?",
            [(i,) for i in sorted(book.changed_rows)],
        )
        super()._save(cur, book, {})


def _compare_exceptions(
    events: Sequence[tuple[int, EventEnvelope]],
    new_db: SqlDatabase,
    old_db: SqlDatabase,
    size: int,
) -> dict[str, list[tuple[object, ...]]]:
    apply_both(events, size, SqlExceptionQueue(new_db), DeleteAndInsertExceptions(old_db))
    contents = _contents(new_db, EXCEPTION_TABLES)
    assert contents == _contents(old_db, EXCEPTION_TABLES)
    assert len(contents["exception_skus"]) >= 3
    return contents


@pytest.mark.parametrize("size", [1, 7])
def test_exception_sku_rows_by_difference_on_sqlite(
    size: int,
    history: list[tuple[int, EventEnvelope]],  # noqa: F811
    tmp_path: Path,
) -> None:
    contents = _compare_exceptions(
        history,
        SqlDatabase(f"sqlite:///{tmp_path}/new"),
        SqlDatabase(f"sqlite:///{tmp_path}/old"),
        size,
    )
    if history[-1][1].type != EventType.ORDER_CHANGED:  # the release fixture
        # Exceptions resolved after they were written: their SKU rows were moved.
        assert any(not row[2] for row in contents["exception_skus"])


@pytest.mark.postgres
@pytest.mark.parametrize("size", [1, 7])
def test_exception_sku_rows_by_difference_on_postgres(
    size: int,
    history: list[tuple[int, EventEnvelope]],  # noqa: F811
    database_url: str,
) -> None:
    new_db = SqlDatabase(in_schema(database_url, f"exceptions_new_{size}"))
    old_db = SqlDatabase(in_schema(database_url, f"exceptions_old_{size}"))
    try:
        _compare_exceptions(history, new_db, old_db, size)
    finally:
        new_db.close()
        old_db.close()


@pytest.mark.postgres
@pytest.mark.parametrize("size", [1, 37, 500])
def test_stock_rows_read_by_their_keys_are_the_pure_folds(
    history: list[tuple[int, EventEnvelope]],  # noqa: F811
    database_url: str,
    size: int,
) -> None:
    # One connection: its prepared statements are what the batches left.
    db = SqlDatabase(in_schema(database_url, f"stock_{size}"), pool_size=1)
    try:
        sql, memory = SqlStockLevels(db), InMemoryStockLevels()
        for envelopes, positions in _batches(history, size):
            sql.apply(envelopes, positions)
            memory.apply(envelopes, positions)
        everything = memory.search(limit=1_000_000).rows
        assert everything and sql.search(limit=1_000_000).rows == everything
        with db.transaction() as cur:
            cur.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [statement for (statement,) in cur.fetchall()]
        # The read by key is planned per call: a generic plan made on the young table joined
        # by a scan of every stock row until the next ANALYZE.
        assert prepared and not [p for p in prepared if "JOIN stock_levels" in p]
    finally:
        db.close()


class Refusing(Rows):
    """A view whose rows the server refuses when `refuse` is set (NULL in a NOT NULL column),
    after it wrote its positions: in pipeline mode the error comes back only at a later sync."""

    refuse = False

    def write(self, cur: Cursor, envelopes: Sequence[Any], positions: dict[str, int]) -> None:
        save_positions(cur, self.name, positions)
        cur.executemany(
            f"INSERT INTO {self.name} (subject) VALUES (?)",
            [(None if self.refuse else s,) for s in envelopes],
        )


@pytest.mark.postgres
def test_pipelined_views_refused_by_the_server_mid_batch_leave_nothing(database_url: str) -> None:
    db = SqlDatabase(in_schema(database_url, "pipelined"))
    try:
        a, b, c = Rows(db, "view_a"), Refusing(db, "view_b"), Rows(db, "view_c")
        b.refuse = True
        batch = [(a, ["o1"], {"t:0": 1}), (b, ["o2", "o3"], {"t:0": 1}), (c, ["o4"], {"t:0": 1})]
        with pytest.raises(psycopg.errors.NotNullViolation):
            write_together(batch)  # type: ignore[arg-type]
        assert [v.rows() for v in (a, b, c)] == [[], [], []]
        assert [v.positions() for v in (a, b, c)] == [{}, {}, {}]
        b.refuse = False
        write_together(batch)  # type: ignore[arg-type]
        assert [v.rows() for v in (a, b, c)] == [["o1"], ["o2", "o3"], ["o4"]]
        assert [v.positions() for v in (a, b, c)] == [{"t:0": 1}] * 3
    finally:
        db.close()


def _answers_arrive_now(cur: Cursor) -> None:
    """What the server owes for the statements sent so far reaches the client before the next
    is sent: as when its send buffer fills (a batch's read of hundreds of rows) or the writing
    thread is late (a busy machine), which made the views' shared write fail now and then."""
    conn = cur._cur._cursor.connection  # type: ignore[attr-defined]  # PositionsLater, _Translating
    conn.pgconn.send_flush_request()
    conn.pgconn.flush()
    select.select([conn.pgconn.socket], [], [], 5.0)


class AnsweredEarly(SqlStockLevels):
    def write(self, cur: Cursor, envelopes: Sequence[Any], positions: dict[str, int]) -> None:
        _answers_arrive_now(cur)
        super().write(cur, envelopes, positions)


class WrittenFirst(Rows):
    """A view before the stock levels in the group, whose write reads nothing back."""

    def write(self, cur: Cursor, envelopes: Sequence[Any], positions: dict[str, int]) -> None:
        cur.execute(f"INSERT INTO {self.name} (subject) VALUES (?)", (envelopes[0],))
        save_positions(cur, self.name, positions)
        _answers_arrive_now(cur)


@pytest.mark.postgres
@pytest.mark.parametrize("before", ["the views' locks", "another view's write"])
def test_a_read_in_a_shared_write_gets_its_own_rows_whenever_earlier_answers_arrive(
    history: list[tuple[int, EventEnvelope]],  # noqa: F811
    database_url: str,
    before: str,
) -> None:
    # In pipeline mode psycopg hands an answer to the cursor that sent its statement, even if
    # that cursor has sent another since: on one shared cursor, a read could return the rows of
    # the statement before it (the views' lock: "zip() argument 2 is shorter than argument 1"
    # in the stock levels' read of its rows) or its status ("didn't produce records").
    db = SqlDatabase(in_schema(database_url, "answered_early"))
    try:
        sql, memory, first = AnsweredEarly(db), InMemoryStockLevels(), WrittenFirst(db, "first")
        for n, (envelopes, positions) in enumerate(_batches(history, 50)):
            group: list[Any] = [(sql, envelopes, positions)]
            if before == "another view's write":
                group.insert(0, (first, [f"o{n}"], positions))
            write_together(group)
            memory.apply(envelopes, positions)
        everything = memory.search(limit=1_000_000).rows
        assert everything and sql.search(limit=1_000_000).rows == everything
    finally:
        db.close()
