"""The log read for what-if in a second process, pipelined with the engine.

Reading a long history (fetching, parsing each event's JSON, unpacking and checking the inputs
records) costs about as much CPU as re-deciding it, so a child process (``spawn``: no copy of the
caller's threads and connections) opens the same store from its settings and reads the log into
compact pages (``what_if_pages``) while the caller builds and re-decides the pages before them.

- Bounded: at most ``QUEUED`` pages wait between the two (the child waits when they are full).
- Each page is pickled by the child itself, so a page that cannot be sent fails there.
- A failure in the child reaches the caller as :class:`LogReaderError`, with the child's
  traceback; a child that ends without a word is noticed within ``POLL`` seconds.
- Closing the caller's iterator (the run finished, failed or was cancelled) ends the child; a
  child whose caller is gone ends itself.
- Only a store a second process can open qualifies (a file or a database server, not memory),
  and only a log long enough to pay for starting one (``reads_in_second_process``).
"""

import multiprocessing
import os
import pickle
import queue
import threading
import traceback
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from hub.services.what_if_pages import Entry, compact_pages
from hub.store import OrderStore

__all__ = [
    "SECOND_PROCESS_FROM",
    "LogReaderError",
    "WhatIfCancelled",
    "reads_in_second_process",
    "remote_pages",
]

# Below this many events in the log, the child's start (a new interpreter importing the hub's
# modules, about a second) costs more than reading the log takes.
SECOND_PROCESS_FROM = 50_000
QUEUED = 2  # pages waiting between the two processes, at most
POLL = 0.5  # seconds: how often a waiting caller looks at the child and at a cancel
_END = b""  # the child read the whole log


class LogReaderError(RuntimeError):
    """The child reading the log failed or ended early."""


class WhatIfCancelled(Exception):
    """The run was cancelled while reading the log."""


def reads_in_second_process(store: OrderStore) -> bool:
    """Whether a second process should read this store's log: one can open the store (not in
    memory) and the log is long enough to pay for starting it."""
    recorder = store.recorder
    if isinstance(recorder, POPOApplicationRecorder):
        return False
    in_memory = isinstance(recorder, SQLiteApplicationRecorder) and (
        recorder.datastore.pool.is_sqlite_memory_mode
    )
    if in_memory:
        return False
    return store.max_position() >= SECOND_PROCESS_FROM


def remote_pages(
    store: OrderStore,
    start: datetime,
    end: datetime,
    size: int,
    cancel: threading.Event | None = None,
) -> Iterator[list[Entry]]:
    """``compact_pages(store, start, end, size)``, read by a child process."""
    context = multiprocessing.get_context("spawn")
    pages: Any = context.Queue(maxsize=QUEUED)
    env = dict(store.env)
    for key in ("CREATE_TABLE", f"{store.name.upper()}_CREATE_TABLE"):
        env[key] = "n"  # the tables exist: the child reads only
    child = context.Process(
        target=_serve,
        args=(type(store), env, start, end, size, pages),
        name="what-if-log-reader",
        daemon=True,  # ended with the caller's process at the latest
    )
    child.start()
    try:
        while True:
            message = _next(pages, child, cancel)
            if message == _END:
                return
            if isinstance(message, str):
                raise LogReaderError(f"reading the log in a second process failed:\n{message}")
            yield pickle.loads(message)
    finally:
        _end(child, pages)


def _next(pages: Any, child: Any, cancel: threading.Event | None) -> bytes | str:
    while True:
        if cancel is not None and cancel.is_set():
            raise WhatIfCancelled("the what-if run was cancelled")
        try:
            message: bytes | str = pages.get(timeout=POLL)
            return message
        except queue.Empty:
            if child.is_alive():
                continue
        try:  # the child has ended: what it sent last is all there is
            message = pages.get(timeout=POLL)
            return message
        except queue.Empty:
            raise LogReaderError(
                f"the process reading the log ended (exit code {child.exitcode}) before the "
                f"end of the log"
            ) from None


def _end(child: Any, pages: Any) -> None:
    if child.is_alive():
        child.terminate()
        child.join(5)
        if child.is_alive():
            child.kill()
    child.join()
    child.close()
    pages.close()
    pages.cancel_join_thread()


def _serve(
    kind: type[OrderStore], env: dict[str, str], start: datetime, end: datetime, size: int,
    pages: Any,
) -> None:  # fmt: skip
    """The child: read the log into pickled pages, then ``_END``; or the error, as text."""
    store = None
    try:
        store = kind(env=env)
        for page in compact_pages(store, start, end, size):
            _put(pages, pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL))
        _put(pages, _END)
    except BaseException:
        _put(pages, traceback.format_exc())
    finally:
        if store is not None:
            store.close()
        pages.close()
        pages.join_thread()  # what was put reaches the caller before the child ends


def _put(pages: Any, message: bytes | str) -> None:
    parent = multiprocessing.parent_process()
    while True:
        try:
            pages.put(message, timeout=POLL)
            return
        except queue.Full:
            if parent is not None and not parent.is_alive():
                os._exit(1)  # nobody is reading any more
