"""What-if with the log read in a second process (SQLite and PostgreSQL): the same report as read
in the caller's process and as the engine gives in memory; a failing or vanished reader is a
clear error, never a hang; cancelling, closing or finishing a run ends the reader; the pages
waiting between the two are bounded; and which stores are read in a second process."""

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.network import OrderMaker, generate_network
from benchmarks.what_if import DRAFT, START, generate, packed, read_back
from benchmarks.what_if_store import History, Writer, relabel
from hub.services import what_if, what_if_process
from hub.services.what_if import WhatIfCancelled, WhatIfService, Window
from hub.services.what_if_jobs import JobState, WhatIfJobs
from hub.services.what_if_process import LogReaderError, reads_in_second_process
from hub.settings import Settings
from hub.store import OrderStore
from orchestration_policies import load_policy
from orchestration_policies.what_if import MovementRows, StockMovement, run_what_if

NETWORK = generate_network(8, 120, seed=3)
SEED = 3
READER = "what-if-log-reader"


@pytest.fixture(scope="module")
def history() -> tuple[History, dict[str, dict[str, Any]]]:
    timeline, definitions = generate(NETWORK, 160, SEED)
    return relabel(timeline), definitions


def _open(tmp_path: Path, url: str | None = None) -> OrderStore:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=url)
    return OrderStore(env=settings.eventsourcing_env())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    url = None if request.param == "sqlite" else request.getfixturevalue("database_url")
    opened = _open(tmp_path, url)
    yield opened
    opened.close()


@pytest.fixture
def written(
    store: OrderStore, history: tuple[History, dict[str, dict[str, Any]]]
) -> tuple[OrderStore, Window]:
    timeline, definitions = history
    Writer(store, OrderMaker(NETWORK, seed=SEED)).write(timeline, definitions)
    last = max(item[3] for item in timeline if not isinstance(item, StockMovement))
    return store, Window(START.date(), last.date())


def _readers() -> list[Any]:
    return [p for p in multiprocessing.active_children() if p.name == READER]


def _ended(pid: int) -> bool:
    """The process has ended and was reaped (ended by its caller, who joined it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("page", [what_if.PAGE, 7], ids=["page", "tiny-pages"])
def test_two_processes_give_the_report_of_one_and_of_the_engine_in_memory(
    written: tuple[OrderStore, Window],
    history: tuple[History, dict[str, dict[str, Any]]],
    page: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, window = written
    monkeypatch.setattr(what_if, "PAGE", page)  # tiny pages: records beyond the read-ahead
    draft = load_policy(DRAFT)

    two = WhatIfService(store, second_process=True).run(draft, window, changes_kept=10_000)
    one = WhatIfService(store, second_process=False).run(draft, window, changes_kept=10_000)

    timeline, definitions = history
    in_memory = run_what_if(read_back(packed(timeline), definitions), draft, START, None, 10_000)
    assert two.to_dict() == one.to_dict() == in_memory.to_dict()
    assert two.to_dict()["total"]["live"]["decisions"] == 160
    assert 0 < two.to_dict()["total"]["changed"] < 160
    assert not _readers()  # the run ended its reader


def test_the_timeline_is_read_by_a_child_process_that_ends_with_it(
    written: tuple[OrderStore, Window],
) -> None:
    store, window = written
    timeline = WhatIfService(store, second_process=True).timeline(window)
    first = next(timeline)
    assert isinstance(first, MovementRows)  # the registrations, in rows
    (reader,) = _readers()
    pid = reader.pid
    assert pid != os.getpid()
    timeline.close()  # the caller stops early
    assert _ended(pid)


def test_a_failing_reader_is_a_clear_error_in_the_caller(tmp_path: Path) -> None:
    store = _open(tmp_path)
    try:
        # The child opens the store from these settings: a file it cannot open.
        store.env["SQLITE_DBNAME"] = str(tmp_path / "no-such-folder" / "events.sqlite3")
        service = WhatIfService(store, second_process=True)
        with pytest.raises(LogReaderError, match="second process failed") as raised:
            list(service.timeline(Window(START.date(), START.date())))
        assert "unable to open database file" in str(raised.value)  # the child's traceback
        assert not _readers()
    finally:
        store.close()


def test_a_reader_that_ends_without_a_word_is_an_error_not_a_hang(
    written: tuple[OrderStore, Window], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, window = written
    monkeypatch.setattr(what_if, "PAGE", 7)  # many pages: the reader is still busy
    timeline = WhatIfService(store, second_process=True).timeline(window)
    next(timeline)
    (reader,) = _readers()
    os.kill(reader.pid, signal.SIGKILL)
    began = time.monotonic()
    with pytest.raises(LogReaderError, match="ended"):
        for _ in timeline:
            pass
    assert time.monotonic() - began < 30


def test_cancelling_a_run_ends_its_reader(
    written: tuple[OrderStore, Window], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, window = written
    monkeypatch.setattr(what_if, "PAGE", 7)
    cancel = threading.Event()
    timeline = WhatIfService(store, second_process=True).timeline(window, cancel)
    next(timeline)
    (reader,) = _readers()
    pid = reader.pid
    cancel.set()
    with pytest.raises(WhatIfCancelled):
        for _ in timeline:
            pass
    assert _ended(pid)


def test_a_cancelled_or_stopped_job_ends_as_cancelled_without_a_reader_left(
    written: tuple[OrderStore, Window], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, window = written
    monkeypatch.setattr(what_if, "PAGE", 7)
    jobs = WhatIfJobs(WhatIfService(store, second_process=True))
    draft = load_policy(DRAFT)
    job = jobs.start(draft, window, changes_kept=10)
    assert jobs.cancel(job.job_id) is job
    assert job.finished.wait(60)
    assert job.state is JobState.CANCELLED and job.to_dict()["state"] == "cancelled"
    other = jobs.start(draft, window, changes_kept=10)
    assert jobs.stop(timeout=60)
    assert other.state is JobState.CANCELLED
    assert not _readers()
    assert jobs.cancel("no-such-job") is None


def test_the_pages_waiting_between_the_processes_are_bounded(
    written: tuple[OrderStore, Window], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, window = written
    monkeypatch.setattr(what_if, "PAGE", 7)  # hundreds of pages
    queues: list[Any] = []
    spawn = multiprocessing.get_context("spawn")

    class Context:
        def __getattr__(self, name: str) -> Any:
            return getattr(spawn, name)

        def Queue(self, maxsize: int) -> Any:  # the context's own name
            queues.append(spawn.Queue(maxsize))
            return queues[-1]

    monkeypatch.setattr(multiprocessing, "get_context", lambda _: Context())
    timeline = WhatIfService(store, second_process=True).timeline(window)
    next(timeline)
    time.sleep(2)  # the reader goes on until the queue is full, then waits
    (reader,) = _readers()
    assert reader.is_alive()
    assert queues[0].qsize() <= what_if_process.QUEUED
    timeline.close()


def test_which_stores_are_read_in_a_second_process(
    written: tuple[OrderStore, Window], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = written
    assert store.max_position() < what_if_process.SECOND_PROCESS_FROM
    assert not reads_in_second_process(store)  # a short log: not worth a process
    monkeypatch.setattr(what_if_process, "SECOND_PROCESS_FROM", 1_000)
    assert reads_in_second_process(store)  # a file or a server a second process can open

    in_memory = OrderStore()  # the library's default: plain Python objects
    sqlite_memory = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    )
    try:
        for memory in (in_memory, sqlite_memory):
            assert not reads_in_second_process(memory)  # no other process can open it
    finally:
        in_memory.close()
        sqlite_memory.close()
