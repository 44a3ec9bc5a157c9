"""Freed memory given back to the system now and then, in a process that works in batches.

CPython hands every object over 512 bytes (a stored event's text, a query's rows, a record
batch, an encoded checkpoint) to the C library's malloc. glibc keeps what is freed in its
arenas, one for each thread up to eight per core (a worker role's batch runs in a thread of the
executor's, `asyncio.to_thread`; the supply checkpoints in another), and gives
back on its own only the free memory at the very top of each: the few objects of a batch that
outlive it, placed above the rest, keep the rest resident. In a soak of the distributed hub
(benchmarks/README.md, soak2) the orchestration role's malloc held 114 MB from the system of
which 38 MB was in use, one thread's arena 44 MB for 19 kB in use, and what its threads' arenas
kept resident rose from 3 to 26 MB over its first 10,000 orders: memory that looked like growth
per order but was free. `malloc_trim(0)` hands every whole free page of every arena back (the
pages stay mapped, and are taken again as needed); a few milliseconds every `RELEASED_EVERY`
seconds, in a thread of its own (glibc locks each arena while it walks it).

Trimmed pages are whole free pages only: what a batch left free between the objects that
outlive it stays resident in its thread's arena. So a batch process also keeps its threads on
malloc's main arena (`one_malloc_arena`): with the GIL they seldom allocate at the same moment,
and the one arena's free memory is used again by whichever thread allocates next. Two hubs side
by side for 28 minutes (benchmarks/README.md, soak24), one with every process on one arena: its
orchestration role held 11-18 MB less (malloc's free memory 4-10 MB under load, against 60-70),
at the same CPU per order. It does not stop what grows there in use: in soak24 that role's
malloc's bytes in use rose 41 → 72 MB over ~800,000 orders; part of what malloc held there
(soak25, heaptrack: 13 MB at 426,000 orders) was the buffers libpq keeps per connection as
large as the largest message it has carried, given back only when the connection closes (hence
the store's connection age, `hub.settings`).

Elsewhere than glibc (no `malloc_trim`, no `mallopt`) nothing is done.
"""

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = [
    "RELEASED_EVERY",
    "one_malloc_arena",
    "release_free_memory",
    "release_free_memory_every",
]

RELEASED_EVERY = 30.0  # seconds
M_ARENA_MAX = -8  # glibc's <malloc.h>


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def _mallopt() -> Callable[[int, int], int] | None:
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


_TRIM = _malloc_trim()
_MALLOPT = _mallopt()
_running = threading.Event()  # set once the thread is started


def release_free_memory() -> bool:
    """Give the C library's free pages back to the system; whether any were (False where
    there is no `malloc_trim`)."""
    return _TRIM is not None and bool(_TRIM(0))


def one_malloc_arena() -> bool:
    """From now on, threads that have not allocated yet share malloc's main arena (glibc's
    `M_ARENA_MAX` 1, as `MALLOC_ARENA_MAX=1` would at the process's start); whether glibc took
    it. Call it first thing in a process, before its threads start: a thread that allocated
    already keeps its arena, arenas already made (and those of threads that ended) are still
    handed to new threads, and once a process has made more than eight arenas glibc has fixed
    its limit and the setting changes nothing."""
    return _MALLOPT is not None and _MALLOPT(M_ARENA_MAX, 1) == 1


def release_free_memory_every(seconds: float = RELEASED_EVERY) -> None:
    """From now on, `release_free_memory` every `seconds` in a daemon thread; once per
    process (a second call changes nothing)."""
    if _TRIM is None or _running.is_set():
        return
    _running.set()
    releasing = threading.Thread(
        target=_release_while, args=(seconds, _running), name="free-memory", daemon=True
    )
    releasing.start()


def _release_while(seconds: float, running: threading.Event) -> None:
    while running.is_set():
        time.sleep(seconds)
        try:
            release_free_memory()
        except Exception:  # never worth the process: the next turn tries again
            log.exception("could not give free memory back")
