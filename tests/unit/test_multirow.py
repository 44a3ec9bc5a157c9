"""The rewriting of an `executemany` into multi-row statements (projections/multirow.py)."""

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from projections import multirow

UPSERT = (
    "INSERT INTO t (k, j, v) VALUES (?, ?, ?) "
    "ON CONFLICT (k, j) DO UPDATE SET v = excluded.v WHERE excluded.v > t.v"
)


def test_an_insert_of_many_rows_is_one_statement_with_the_rows_in_order() -> None:
    got = multirow.statements(
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING", [(1, "x"), (2, "y")]
    )
    assert got == [
        ("INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING", [1, "x", 2, "y"])
    ]


def test_an_insert_without_a_column_list() -> None:
    got = multirow.statements("INSERT INTO t VALUES (?, ?)", [(1, 2), (3, 4), (5, 6)])
    assert got == [("INSERT INTO t VALUES (?, ?), (?, ?), (?, ?)", [1, 2, 3, 4, 5, 6])]


def test_an_upsert_starts_a_new_statement_where_a_key_comes_again() -> None:
    rows = [("a", 1, 5), ("b", 1, 6), ("a", 2, 7), ("a", 1, 8), ("c", 1, 9)]
    got = multirow.statements(UPSERT, rows)
    assert got is not None
    assert [params for _, params in got] == [
        ["a", 1, 5, "b", 1, 6, "a", 2, 7],  # ("a", 2) is another key than ("a", 1)
        ["a", 1, 8, "c", 1, 9],  # the second ("a", 1) after the first
    ]
    assert got[0][0].count("(?, ?, ?)") == 3 and got[1][0].count("(?, ?, ?)") == 2


def test_chunks_stay_within_the_parameter_limit() -> None:
    rows = [(i, i) for i in range(2_500)]
    got = multirow.statements("INSERT INTO t (a, b) VALUES (?, ?)", rows)
    assert got is not None
    assert [len(params) // 2 for _, params in got] == [1_000, 1_000, 500]
    assert [p for _, params in got for p in params] == [v for row in rows for v in row]


def test_a_delete_by_key_is_one_statement() -> None:
    got = multirow.statements("DELETE FROM t WHERE a = ? AND b = ?", [(1, "x"), (2, "y")])
    assert got == [("DELETE FROM t WHERE (a, b) IN ((?, ?), (?, ?))", [1, "x", 2, "y"])]
    one = multirow.statements("DELETE FROM t WHERE a = ?", [(1,), (2,)])
    assert one == [("DELETE FROM t WHERE a IN (?, ?)", [1, 2])]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE t SET a = ? WHERE b = ?",
        "INSERT INTO t (a) VALUES (?) RETURNING a",
        "INSERT INTO t (a, b) VALUES (?, 1)",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET a = ?",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT ON CONSTRAINT t_pkey DO UPDATE SET a = 1",
        "INSERT INTO t VALUES (?) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (b) DO UPDATE SET a = excluded.a",
        "DELETE FROM t WHERE a = ? OR b = ?",
        "DELETE FROM t WHERE a > ?",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = '100%'",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = $$x$$",
    ],
)
def test_other_shapes_are_left_to_executemany(sql: str) -> None:
    width = sql.count("?")
    assert multirow.statements(sql, [tuple(range(width)), tuple(range(width))]) is None


def test_nothing_to_write_is_no_statement() -> None:
    assert multirow.statements("INSERT INTO t (a) VALUES (?)", []) == []


def test_numbered_statements_are_the_same_with_postgresql_placeholders() -> None:
    rows = [("a", 1, 5), ("b", 1, 6), ("a", 1, 8)]
    got = multirow.statements(UPSERT, rows, numbered=True)
    assert got == [
        (
            "INSERT INTO t (k, j, v) VALUES ($1, $2, $3), ($4, $5, $6) "
            "ON CONFLICT (k, j) DO UPDATE SET v = excluded.v WHERE excluded.v > t.v",
            ["a", 1, 5, "b", 1, 6],
        ),
        (
            "INSERT INTO t (k, j, v) VALUES ($1, $2, $3) "
            "ON CONFLICT (k, j) DO UPDATE SET v = excluded.v WHERE excluded.v > t.v",
            ["a", 1, 8],
        ),
    ]
    assert multirow.statements("DELETE FROM t WHERE a = ?", [(1,), (2,)], numbered=True) == [
        ("DELETE FROM t WHERE a IN ($1, $2)", [1, 2])
    ]
    # The `?` texts of the same shape and row counts, kept beside the numbered ones, unchanged.
    plain = multirow.statements(UPSERT, rows)
    assert plain is not None and [p for _, p in plain] == [p for _, p in got]
    assert plain[0][0].count("(?, ?, ?)") == 2


class _Text(str):
    """A str subclass: `_element` does not take it, so neither may the joined path."""


_ODD_TEXT = st.sampled_from(['"', "\\", 'a\\"b', "a,b", "{x}", "NULL", "", " "])


@example(["a", "\\"], "text")
@example(['"', "b"], "text")
@example([_Text("a")], "text")
@given(
    st.one_of(
        st.lists(st.one_of(st.text(), _ODD_TEXT), max_size=8),  # texts only: the joined way
        st.lists(
            st.one_of(
                st.text(),
                _ODD_TEXT,
                st.none(),
                st.integers(),
                st.builds(_Text, st.text(max_size=3)),
            ),
            max_size=8,
        ),
    ),
    st.sampled_from(["text", "integer", "boolean"]),
)
def test_an_array_literal_is_its_elements_quoted_one_by_one(values: list[Any], kind: str) -> None:
    """The texts joined at once (no quote nor backslash in them) give the literal that quoting
    each value gives, and anything else takes the element-by-element way."""
    parts = [multirow._element(value, kind) for value in values]
    expected = None if None in parts else "{" + ",".join(parts) + "}"  # type: ignore[arg-type]
    assert multirow.array_literal(values, kind) == expected
