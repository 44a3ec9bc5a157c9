"""Fixtures of the fast part: one component at a time, never the whole hub.

- ``store``: an empty event store on SQLite in the test's folder, closed afterwards.
- ``settings``: settings for a batch handler under test: one attempt (the handlers' retry
  back-off would only slow these tests down) and no topic prefix.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.store import OrderStore
from tests.contracts.factories import sqlite_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OrderStore]:
    the_store = sqlite_store(tmp_path / "events.db")
    yield the_store
    the_store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_handler_attempts=1, topic_prefix="")
