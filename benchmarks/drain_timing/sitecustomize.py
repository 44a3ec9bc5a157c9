"""The intake role's steps timed per batch, for `benchmarks.intake_drain --timings FILE`.

Put on the intake worker's PYTHONPATH by the benchmark (nothing else loads it): when the
worker imports its streaming module, the steps of its consumer's loop and of a batch's save are
wrapped to note each call's start and end (`time.perf_counter`, a few per batch), written as
JSON lines to `ORDERHUB_DRAIN_TIMINGS`: `[step, start, end, in_main_thread, extra]`, with the
records a fetch returned and the save thread's CPU. The steps: `fetch` (aiokafka's `getmany`),
`prepare` (the batch parsed, its events made), `settle` (the loop waiting for the batch before
to finish), `finish` (that batch's task: the save and what follows), `save` (in its thread),
`commit` (the offsets' request and answer).
"""

import atexit
import functools
import importlib.abc
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

_OUT = os.environ.get("ORDERHUB_DRAIN_TIMINGS")
_rows: list[tuple[str, float, float, bool, dict[str, Any]]] = []
_lock = threading.Lock()
_main = threading.get_ident()


def _note(step: str, start: float, end: float, **extra: Any) -> None:
    with _lock:
        _rows.append((step, start, end, threading.get_ident() == _main, extra))
        if len(_rows) >= 200:
            _flush()


def _flush() -> None:
    assert _OUT is not None
    with open(_OUT, "a") as out:
        out.writelines(json.dumps(row) + "\n" for row in _rows)
    _rows.clear()


def _timed_async(
    owner: Any, name: str, step: str, count: Callable[[Any], int] | None = None
) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = await original(*args, **kwargs)
        extra = {"n": count(result)} if count is not None else {}
        _note(step, start, time.perf_counter(), **extra)
        return result

    setattr(owner, name, timed)


def _timed_sync(owner: Any, name: str, step: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        result = original(*args, **kwargs)
        _note(step, start, time.perf_counter(), cpu=time.thread_time() - cpu)
        return result

    setattr(owner, name, timed)


def _wrap() -> None:
    import aiokafka

    import hub.services.intake as intake
    import hub.streaming.commits as commits
    import hub.streaming.handlers as handlers
    import hub.streaming.overlap as overlap

    _timed_async(
        aiokafka.AIOKafkaConsumer, "getmany", "fetch", lambda r: sum(len(v) for v in r.values())
    )
    _timed_async(handlers.IntakeConsumer, "prepare", "prepare")
    _timed_async(handlers.IntakeConsumer, "_record", "finish")
    _timed_async(overlap.Overlap, "settle", "settle")
    _timed_async(commits.Commits, "commit", "commit")
    _timed_sync(intake.IntakeService, "save_prepared", "save")


class _BeforeWorker(importlib.abc.MetaPathFinder):
    """Wraps the steps when the worker's streaming module is first imported (the hub's modules
    are importable by then), and steps aside."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "hub.streaming.worker":
            sys.meta_path.remove(self)
            _wrap()
        return None


if _OUT:
    atexit.register(_flush)
    sys.meta_path.insert(0, _BeforeWorker())
