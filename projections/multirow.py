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
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

# PostgreSQL takes at most 65,535 parameters a statement; fewer rows also keep the statement's
# text (parsed on every call: its length varies) small.
MAX_PARAMS = 30_000
MAX_ROWS = 1_000
# An array statement's text does not grow with its rows; this only bounds one statement's work.
MAX_ARRAY_ROWS = 20_000

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
        for chunk in _chunks(rows, max(1, min(MAX_ROWS, MAX_PARAMS // shape.width)), shape.key)
    ]


Columns = Sequence[tuple[str, str]]  # a table's columns in order: name, SQL type


def arrays(
    sql: str, rows: Rows, columns_of: Callable[[str], Columns | None]
) -> list[tuple[str, list[str]]] | None:
    """The statements that do what `executemany(sql, rows)` does, as `statements` would split
    them, each one fixed text whatever its row count: a column's values as one array parameter,
    `unnest`ed (PostgreSQL, `$n` placeholders). `columns_of(table)` gives a table's columns and
    their types (the arrays are cast to them). None if `sql` is not a shape known here or its
    table's columns are not known.

    One text a shape can be prepared, so the server parses and plans it once per connection;
    a multi-row VALUES text differs with each row count and was parsed and planned on every
    call (benchmarks/README.md "The projections role's multi-row writes prepared", ~20 % of the
    server's CPU per row)."""
    if not rows:
        return []
    shape = _shape(sql)
    if shape is None or any(len(row) != shape.width for row in rows):
        return None
    columns = columns_of(shape.table)
    found = _array_text(shape, tuple(columns)) if columns else None
    if found is None:
        return None
    text, types = found
    written: list[tuple[str, list[str]]] = []
    for chunk in _chunks(rows, MAX_ARRAY_ROWS, shape.key):
        literals = []
        for values, kind in zip(zip(*chunk, strict=True), types, strict=True):
            literal = array_literal(values, kind)
            if literal is None:
                return None  # a value not written here as the server would read it as a parameter
            literals.append(literal)
        written.append((text, literals))
    return written


def array_literal(values: Sequence[Any], kind: str) -> str | None:
    """An array's text (`{"a","b",NULL}`), read by the server with the column type's own input
    function, as a parameter's text would be; None if a value's text could read otherwise than
    the parameter would (a bool but into BOOLEAN, a float but into DOUBLE PRECISION…).
    Built here because psycopg's list dumper, in Python, cost ~3.5 µs a value: more than the
    server saved."""
    if _plain_texts(values):
        # Texts with nothing to escape (ids, SKUs, times: nearly every column), joined at once
        # rather than quoted one by one (40 → 2 µs for 60 values; the literals were ~6 % of
        # the projections role's busy samples in py-spy).
        return '{"' + '","'.join(values) + '"}' if values else "{}"
    parts = [_element(value, kind) for value in values]
    return None if None in parts else "{" + ",".join(parts) + "}"  # type: ignore[arg-type]


def _plain_texts(values: Sequence[Any]) -> bool:
    """Every value a `str` (not a subclass, as `_element` takes them) with no quote nor
    backslash in it: its element is the text between double quotes, as `_element` writes it.
    Checked on the values joined (two scans in C, not a Python loop over them)."""
    if set(map(type, values)) - {str}:
        return False
    whole = "".join(values)
    return '"' not in whole and "\\" not in whole


def _element(value: Any, kind: str) -> str | None:
    if value is None:
        return "NULL"
    if type(value) is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    writes = _ELEMENTS.get(type(value))
    return writes(value, kind) if writes is not None else None


# Other types than str, each written only into the column types whose input reads its text as
# the parameter would be read (a bool into TEXT would be `true`, here `t`: refused).
_ELEMENTS: dict[type, Callable[[Any, str], str | None]] = {
    int: lambda value, kind: str(value) if kind != "boolean" else None,
    bool: lambda value, kind: ("t" if value else "f") if kind == "boolean" else None,
    float: lambda value, kind: repr(value) if kind == "double precision" else None,
    Decimal: lambda value, kind: str(value) if kind == "numeric" else None,
}


@lru_cache(maxsize=256)
def _array_text(
    shape: "_Shape", columns: tuple[tuple[str, str], ...]
) -> tuple[str, tuple[str, ...]] | None:
    """The statement's text and its arrays' element types, in the order of its values."""
    types = dict(columns)
    names = shape.columns if shape.columns is not None else tuple(name for name, _ in columns)
    if len(names) != shape.width or any(name not in types for name in names):
        return None
    kinds = tuple(types[name] for name in names)
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(kinds, 1))
    if shape.head.startswith("DELETE"):
        return f"{shape.head}SELECT * FROM unnest({arrays}))", kinds
    return f"{shape.head.removesuffix('VALUES ')}SELECT * FROM unnest({arrays}){shape.tail}", kinds


class _Shape(NamedTuple):
    """A statement's text around its rows: `{head}{row}, {row}…{tail}`, `width` values a row;
    with a key (the columns of an upsert's conflict target), a key once a statement."""

    head: str
    tail: str
    width: int
    key: tuple[int, ...] | None
    parenthesised: bool  # a row's values in parentheses (not a DELETE's single key)
    table: str
    columns: tuple[str, ...] | None  # an INSERT's named columns, a DELETE's key columns


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
    return _Shape(
        f"{head} VALUES ", f" {tail}".rstrip(), width, key, True, match["table"], _named(match)
    )


def _named(match: re.Match[str]) -> tuple[str, ...] | None:
    return tuple(_names(match["cols"])) if match["cols"] else None


def _delete_shape(match: re.Match[str]) -> _Shape:
    cols = [
        part.split("=")[0].strip() for part in re.split(r"\s+AND\s+", match["where"], flags=re.I)
    ]
    lhs = f"({', '.join(cols)})" if len(cols) > 1 else cols[0]
    return _Shape(
        f"DELETE FROM {match['table']} WHERE {lhs} IN (",
        ")",
        len(cols),
        None,
        len(cols) > 1,
        match["table"],
        tuple(_names(", ".join(cols))),
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


def _chunks(rows: Rows, limit: int, key: tuple[int, ...] | None) -> list[Rows]:
    """Consecutive runs of at most `limit` rows, each, with a key, holding each key once (a
    repeated key starts the next run, so it is applied after the first)."""
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
