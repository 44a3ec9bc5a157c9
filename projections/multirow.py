"""One statement for many rows: an `executemany` of INSERTs or DELETEs written as one INSERT of
many VALUES rows (or one DELETE of a list of keys), for PostgreSQL.

psycopg runs `executemany` as a pipeline: one round trip, but one statement per row on the
server (bind, executor start and end, statistics: ~6 µs a row more than a row of a multi-row
INSERT, benchmarks/README.md "PostgreSQL per routed order"). The read models write 20-30 rows
per order that way. Only the shapes below are rewritten, and so that the rows end the same as
one statement per row in their order would leave them:

- `INSERT INTO t [(cols)] VALUES (?, …) [ON CONFLICT … DO NOTHING]`: the rows in order in one
  statement (a later row that conflicts with an earlier one of the same statement is skipped,
  as it would be after it).
- `INSERT INTO t (cols) VALUES (?, …) ON CONFLICT (keys) DO UPDATE …`: PostgreSQL refuses to
  update one row twice in a statement, and the second update must see the first; so a row
  whose key is already in the statement being built starts the next statement.
- `DELETE FROM t WHERE a = ? [AND b = ?]…`: `WHERE (a, b) IN ((?, ?), …)`, the same rows.

Anything else (UPDATE, RETURNING, a placeholder outside VALUES …) is left to `executemany`.

With `numbered`, the statements come with PostgreSQL's own placeholders (`$1`, `$2`, …), to be
run by a raw cursor (psycopg's `RawCursor`): psycopg then sends the text as it is. Given `%s`,
it parses every statement's text for its placeholders, and caches that only for texts of up to
50 parameters; a multi-row statement has hundreds, so the parse was done on every call: half of
the client's time in these writes (py-spy, projections role, benchmarks/README.md "The
projections role's client side of multi-row writes"). Each shape's parse and each (shape, row
count)'s text are kept here, so a batch's statements cost a lookup and a flattening of its
rows.
"""

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

# PostgreSQL takes at most 65,535 parameters a statement; fewer rows also keep the statement's
# text (parsed on every call: its length varies) small.
MAX_PARAMS = 30_000
MAX_ROWS = 1_000

_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w.\"]+)\s*(?:\((?P<cols>[^()]*)\))?\s*"
    r"VALUES\s*\((?P<values>[?\s,]*)\)\s*(?P<tail>.*?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONFLICT = re.compile(r"ON\s+CONFLICT\s*(?:\((?P<target>[^()]*)\))?\s*DO\s+(?P<action>\w+)", re.I)
_DELETE = re.compile(
    r"^\s*DELETE\s+FROM\s+(?P<table>[\w.\"]+)\s+WHERE\s+"
    r"(?P<where>\w+\s*=\s*\?(?:\s+AND\s+\w+\s*=\s*\?)*)\s*$",
    re.IGNORECASE | re.DOTALL,
)

Rows = Sequence[Sequence[Any]]


def statements(sql: str, rows: Rows, numbered: bool = False) -> list[tuple[str, list[Any]]] | None:
    """The statements (with `?` placeholders, or `$1`… if `numbered`) and their parameters that
    do what `executemany(sql, rows)` does, in as few statements as allowed; None if `sql` is not
    a shape known here."""
    if not rows:
        return []
    shape = _shape(sql)
    if shape is None or any(len(row) != shape.width for row in rows):
        return None
    return [
        (_text(shape, len(chunk), numbered), _flat(chunk))
        for chunk in _chunks(rows, shape.width, shape.key)
    ]


class _Shape(NamedTuple):
    """A statement's text around its rows: `{head}{row}, {row}…{tail}`, `width` values a row;
    with a key (the columns of an upsert's conflict target), a key once a statement."""

    head: str
    tail: str
    width: int
    key: tuple[int, ...] | None
    parenthesised: bool  # a row's values in parentheses (not a DELETE's single key)


@lru_cache(maxsize=256)
def _shape(sql: str) -> _Shape | None:
    if "%" in sql or "$" in sql:
        return None  # a text the `?` and the `$n` ways would not send alike
    insert = _INSERT.match(sql)
    if insert is not None:
        return _insert_shape(insert)
    delete = _DELETE.match(sql)
    if delete is not None:
        return _delete_shape(delete)
    return None


def _insert_shape(match: re.Match[str]) -> _Shape | None:
    width = match["values"].count("?")
    tail = match["tail"]
    if width == 0 or "?" in tail or re.search(r"\bRETURNING\b", tail, re.I):
        return None
    key: tuple[int, ...] | None = None
    conflict = _CONFLICT.search(tail)
    if conflict is None and re.search(r"\bON\s+CONFLICT\b", tail, re.I):
        return None  # ON CONFLICT ON CONSTRAINT …: its key is not known here
    if conflict is not None and conflict["action"].upper() == "UPDATE":
        cols = _names(match["cols"] or "")
        target = _names(conflict["target"] or "")
        if not target or not set(target) <= set(cols):
            return None
        key = tuple(cols.index(name) for name in target)
    head = f"INSERT INTO {match['table']}" + (f" ({match['cols']})" if match["cols"] else "")
    return _Shape(f"{head} VALUES ", f" {tail}".rstrip(), width, key, True)


def _delete_shape(match: re.Match[str]) -> _Shape:
    cols = [
        part.split("=")[0].strip() for part in re.split(r"\s+AND\s+", match["where"], flags=re.I)
    ]
    lhs = f"({', '.join(cols)})" if len(cols) > 1 else cols[0]
    return _Shape(
        f"DELETE FROM {match['table']} WHERE {lhs} IN (", ")", len(cols), None, len(cols) > 1
    )


# Texts of large batches run to ~100 kB each: 256 of them bound what is kept to tens of MB.
@lru_cache(maxsize=256)
def _text(shape: _Shape, count: int, numbered: bool) -> str:
    """The text for `count` rows (a batch's row counts repeat: kept, not rebuilt)."""
    marks = [f"${i}" for i in range(1, shape.width * count + 1)] if numbered else None
    one = []
    for r in range(count):
        values = ", ".join(
            marks[r * shape.width : (r + 1) * shape.width] if marks else "?" * shape.width
        )
        one.append(f"({values})" if shape.parenthesised else values)
    return f"{shape.head}{', '.join(one)}{shape.tail}"


def _names(text: str) -> list[str]:
    return [name.strip().strip('"').lower() for name in text.split(",") if name.strip()]


def _chunks(rows: Rows, width: int, key: tuple[int, ...] | None) -> list[Rows]:
    """Consecutive runs of rows, each within the size limits and, with a key, holding each key
    once (a repeated key starts the next run, so it is applied after the first)."""
    limit = max(1, min(MAX_ROWS, MAX_PARAMS // width))
    found: list[Rows] = []
    start = 0
    seen: set[tuple[Any, ...]] = set()
    for i, row in enumerate(rows):
        k = tuple(row[j] for j in key) if key is not None else None
        if i - start >= limit or (k is not None and k in seen):
            found.append(rows[start:i])
            start, seen = i, set()
        if k is not None:
            seen.add(k)
    found.append(rows[start:])
    return found


def _flat(rows: Rows) -> list[Any]:
    return [value for row in rows for value in row]
