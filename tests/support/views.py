"""Fresh, empty views for the view contracts (``make_view``): each on a database of its own (a
SQLite file, or a PostgreSQL schema), all closed when the test ends.

    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlOrderStatusView)

A contract whose tests read one long history can fill a view once per module (``sqlite_filled``)
and give each test a copy of it (``sqlite_copy``; ``copy.deepcopy`` in memory): still a view of
its own per test, without applying the whole history again for each.
"""

import shutil
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


def sqlite_filled(
    folder: Path, build: Callable[[SqlDatabase], View], fill: Callable[[View], None]
) -> Path:
    """The file of a SQLite view filled once by ``fill``, for ``sqlite_copy`` to copy."""
    db = SqlDatabase(f"sqlite:///{folder / 'filled.sqlite3'}")
    try:
        fill(build(db))
    finally:
        db.close()
    # Closing the last connection checkpoints the write-ahead log into the file and removes
    # it: the file alone is the whole view, and copies of it are consistent.
    assert not (folder / "filled.sqlite3-wal").exists()
    return folder / "filled.sqlite3"


def sqlite_copy(filled: Path, folder: Path, build: Callable[[SqlDatabase], View]) -> Iterator[View]:
    """A view on a copy of ``filled``: a plain file copy (SQLite's backup API would fsync)."""
    copy = folder / "copy.sqlite3"
    shutil.copyfile(filled, copy)
    db = SqlDatabase(f"sqlite:///{copy}")
    try:
        yield build(db)
    finally:
        db.close()


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
