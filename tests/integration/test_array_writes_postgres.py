"""The views' rows written and read as arrays on PostgreSQL (projections/multirow.py's `arrays`,
projections/sqldb.py's `_as_array`): the same rows as the statements they replace, whatever the
values hold, one prepared text whatever the row count, and a batch applied twice changes
nothing the second time."""

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import multirow
from projections.sqldb import SqlDatabase, _any_form
from tests.harness.services import create_database, drop_database

pytestmark = pytest.mark.postgres

_TABLE = (
    'CREATE TABLE {t} (k TEXT COLLATE "C", j INTEGER, b BOOLEAN, f DOUBLE PRECISION, '
    "d NUMERIC, s TEXT, n BIGINT DEFAULT 0, PRIMARY KEY (k, j))"
)
_UPSERT = (
    "INSERT INTO {t} (k, j, b, f, d, s) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (k, j) DO UPDATE "
    "SET b = excluded.b, f = excluded.f, d = excluded.d, s = excluded.s, n = {t}.n + 1 "
    "WHERE excluded.j >= 0"
)
# Texts an array literal must quote or escape: its delimiters, quotes, backslashes, spaces,
# the word NULL, empty strings, non-ASCII.
_ODD = st.sampled_from(
    ["", " ", "NULL", "null", '"', "\\", '\\"', "{", "}", ",", "a,b", "{a}", "é", "☃", " x "]
)
_TEXT = st.one_of(_ODD, st.text(st.characters(blacklist_categories=["Cs"], min_codepoint=1)))
_ROW = st.tuples(
    st.one_of(_ODD, st.text(alphabet="ab", max_size=2)),
    st.integers(-3, 3),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.decimals(allow_nan=False, places=3, min_value=-1e6, max_value=1e6)),
    st.one_of(st.none(), _TEXT),
)


_FIXTURE = [HealthCheck.function_scoped_fixture]


def _contents(conn: psycopg.Connection[Any], table: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(f"SELECT k, j, b, f, d, s, n FROM {table} ORDER BY k, j").fetchall()
    # NaN is not equal to itself: compared by its text.
    return [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


@pytest.fixture(scope="module")
def shared_db(postgres_server_url: str) -> Any:
    url = create_database(postgres_server_url)
    db = SqlDatabase(url)
    try:
        yield url, db
    finally:
        db.close()
        drop_database(postgres_server_url, url)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_ROW, min_size=1, max_size=25))
def test_rows_as_arrays_end_as_one_statement_a_row(shared_db: Any, rows: list[Any]) -> None:
    """Every value written through the arrays reads back as the same value written as a
    parameter one row at a time (repeated keys: later rows after earlier ones)."""
    url, db = shared_db
    with psycopg.connect(url, autocommit=True) as conn:
        for t in ("rowwise", "arrays"):
            conn.execute(f"DROP TABLE IF EXISTS {t}")
            conn.execute(_TABLE.format(t=t))
        conn.cursor().executemany(_UPSERT.format(t="rowwise").replace("?", "%s"), rows)
    db.columns.clear()  # the tables were made again
    assert multirow.arrays(_UPSERT.format(t="arrays"), rows, lambda _: _COLUMNS) is not None
    with db.transaction() as cur:
        cur.executemany(_UPSERT.format(t="arrays"), rows)
    with psycopg.connect(url, autocommit=True) as conn:
        assert _contents(conn, "arrays") == _contents(conn, "rowwise")


_COLUMNS = [
    ("k", "text"),
    ("j", "integer"),
    ("b", "boolean"),
    ("f", "double precision"),
    ("d", "numeric"),
    ("s", "text"),
    ("n", "bigint"),
]


def test_a_value_whose_text_could_read_otherwise_keeps_the_values_form() -> None:
    """A bool into TEXT would be `t` as an array's element but `true` as a parameter; a float
    into NUMERIC is rounded otherwise; an int into BOOLEAN is refused as a parameter."""
    sql = "INSERT INTO t (k, j, b, f, d, s) VALUES (?, ?, ?, ?, ?, ?)"
    good = ("a", 1, True, 0.5, Decimal("1.5"), "x")
    assert multirow.arrays(sql, [good], lambda _: _COLUMNS) is not None
    for bad in [
        ("a", 1, True, 0.5, Decimal("1.5"), True),
        ("a", 1, True, 0.5, 0.1, "x"),
        ("a", 1, 1, 0.5, Decimal("1.5"), "x"),
        ("a", 1, True, Decimal("0.5"), Decimal("1.5"), "x"),
        ("a", 1.0, True, 0.5, Decimal("1.5"), "x"),
    ]:
        assert multirow.arrays(sql, [good, bad], lambda _: _COLUMNS) is None, bad
    assert multirow.arrays(sql, [good], lambda _: None) is None  # the table's columns unknown


def test_one_text_serves_every_row_count_and_is_prepared(database_url: str) -> None:
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute(_TABLE.format(t="p"))
        sql = _UPSERT.format(t="p")
        texts = set()
        with db.transaction() as cur:  # one connection: its prepared statements are its own
            for count in range(1, 12):
                rows = [(f"k{i}", 0, None, None, None, "v") for i in range(count)]
                found = multirow.arrays(sql, rows, lambda _: _COLUMNS)
                assert found is not None and len(found) == 1
                texts.add(found[0][0])
                cur.executemany(sql, rows)
            cur.execute(
                "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE ?",
                ["INSERT INTO p %"],
            )
            # one statement prepared, run by all eleven calls
            assert [int(n) for (n,) in cur.fetchall()] == [11]
            cur.execute("SELECT count(*), sum(n) FROM p")
            assert cur.fetchone() == (11, sum(range(1, 11)))
        assert len(texts) == 1
    finally:
        db.close()


def test_a_batch_written_twice_changes_nothing_the_second_time(database_url: str) -> None:
    """An upsert guarded by the row's version, as the views write theirs: a redelivered batch
    (the same rows again) leaves the rows as the first delivery left them."""
    db = SqlDatabase(database_url)
    sql = (
        "INSERT INTO r (k, j, s) VALUES (?, ?, ?) ON CONFLICT (k, j) DO UPDATE "
        "SET s = excluded.s, n = r.n + 1 WHERE excluded.s > r.s"
    )
    rows = [("a", 1, "v2"), ("b", 1, "v1"), ("a", 1, "v3"), ("c", 2, "v1")]
    try:
        with db.transaction() as cur:
            cur.execute(_TABLE.format(t="r"))
        seen = []
        for _ in range(2):
            with db.transaction() as cur:
                cur.executemany(sql, rows)
                cur.execute("SELECT k, j, s, n FROM r ORDER BY k, j")
                seen.append(cur.fetchall())
        assert seen[0] == seen[1] == [("a", 1, "v3", 1), ("b", 1, "v1", 0), ("c", 2, "v1", 0)]
    finally:
        db.close()


def _read(db: SqlDatabase, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with db.transaction() as cur:
        cur.execute(sql, params)
        return sorted(tuple(r) for r in cur.fetchall())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(keys=st.lists(st.one_of(_TEXT, _ODD), min_size=2, max_size=12))
def test_a_list_of_keys_read_as_an_array_finds_the_rows_the_list_finds(
    shared_db: Any, keys: list[str]
) -> None:
    url, db = shared_db
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS keyed")
        conn.execute('CREATE TABLE keyed (k TEXT COLLATE "C" PRIMARY KEY, v INTEGER)')
        present = [*sorted(set(keys))[::2], "other"]
        conn.cursor().executemany(
            "INSERT INTO keyed VALUES (%s, 1) ON CONFLICT DO NOTHING", [(k,) for k in present]
        )
        marks = ", ".join("%s" for _ in keys)
        expected = sorted(
            tuple(r)
            for r in conn.execute(
                f"SELECT k, v FROM keyed WHERE v = %s AND k IN ({marks}) AND v < %s", [1, *keys, 5]
            ).fetchall()
        )
    marks = ", ".join("?" for _ in keys)
    sql = f"SELECT k, v FROM keyed WHERE v = ? AND k IN ({marks}) AND v < ?"
    assert _read(db, sql, [1, *keys, 5]) == expected


def test_only_one_list_of_text_keys_is_read_as_an_array(database_url: str) -> None:
    assert _any_form("SELECT a FROM t WHERE k IN (?, ?) AND v = ?") == (
        "SELECT a FROM t WHERE k = ANY(?::text[]) AND v = ?",
        0,
        2,
    )
    assert _any_form("SELECT a FROM t WHERE s NOT IN (?, ?)") is None
    assert _any_form("SELECT a FROM t WHERE (a, b) IN ((?, ?), (?, ?))") is None
    assert _any_form("SELECT a FROM t WHERE a IN (?, ?) OR b IN (?, ?)") is None
    assert _any_form("SELECT a FROM t WHERE a IN (?)") is None  # one text already
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute("CREATE TABLE n (k INTEGER PRIMARY KEY, s TEXT)")
            cur.execute("INSERT INTO n VALUES (1, 'x'), (2, 'y'), (3, 'z')")
        # integer keys keep the list (their array would be text[])
        assert _read(db, "SELECT k FROM n WHERE k IN (?, ?)", [1, 3]) == [(1,), (3,)]
        assert _read(db, "SELECT k FROM n WHERE s NOT IN (?, ?)", ["x", "z"]) == [(2,)]
        assert _read(db, "SELECT k FROM n WHERE s IN (?, ?, ?)", ["x", None, "q"]) == [(1,)]
    finally:
        db.close()


def test_key_lists_and_deletes_are_planned_per_call(database_url: str) -> None:
    """Only the INSERTs are prepared: a read or DELETE whose plan was made while its table was
    small (a scan) would keep it as the table grows (in a flow run such reads took ~4 ms a call)."""
    db = SqlDatabase(database_url)
    try:
        with db.transaction() as cur:
            cur.execute(_TABLE.format(t="q"))
            for count in range(2, 10):
                rows = [(f"k{i}", 0, None, None, None, "v") for i in range(count)]
                cur.executemany(_UPSERT.format(t="q"), rows)
                cur.execute("SELECT k FROM q WHERE k IN (?, ?)", ["k0", "k1"])
                cur.executemany("DELETE FROM q WHERE k = ? AND j = ?", [("k0", 0), ("k1", 0)])
            cur.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [statement for (statement,) in cur.fetchall()]
        assert len(prepared) == 1 and prepared[0].startswith("INSERT INTO q")
    finally:
        db.close()
