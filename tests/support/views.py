"""Fresh, empty views for the view contracts (``make_view``): each on a database of its own (a
SQLite file, or a PostgreSQL schema), all closed when the test ends.

    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlOrderStatusView)
"""

from collections import deque
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg

from projections.sqldb import SqlDatabase

View = TypeVar("View")


def fresh_views(
    url_of: Callable[[int], str],
    build: Callable[[SqlDatabase], View],
    keep_open: int | None = None,
    **db_options: Any,
) -> Iterator[Callable[[], View]]:
    """Yields a factory: view number n lives at ``url_of(n)``; past ``keep_open`` open
    databases the oldest is closed (a server allows only so many connections)."""
    numbers = count()
    opened: deque[SqlDatabase] = deque()

    def make() -> View:
        db = SqlDatabase(url_of(next(numbers)), **db_options)
        opened.append(db)
        while keep_open is not None and len(opened) > keep_open:
            opened.popleft().close()
        return build(db)

    yield make
    for db in opened:
        db.close()


def sqlite_views(
    folder: Path, build: Callable[[SqlDatabase], View]
) -> Iterator[Callable[[], View]]:
    yield from fresh_views(lambda n: f"sqlite:///{folder / f'views-{n}.sqlite3'}", build)


def in_schema(database_url: str, schema: str) -> str:
    """The URL of a database whose connections see only this (new) schema."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"


def postgres_views(
    database_url: str, build: Callable[[SqlDatabase], View], **options: Any
) -> Iterator[Callable[[], View]]:
    """Each view in a schema of its own (``view_<n>``) of one database."""
    yield from fresh_views(lambda n: in_schema(database_url, f"view_{n}"), build, **options)
