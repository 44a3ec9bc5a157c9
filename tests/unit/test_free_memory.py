"""Free memory that glibc's malloc keeps resident in a thread's arena is given back by
`release_free_memory`, and a batch process does so every RELEASED_EVERY seconds; with
`one_malloc_arena` its threads allocate from the main arena."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub import free_memory

glibc = pytest.mark.skipif(free_memory._TRIM is None, reason="no malloc_trim (not glibc)")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@glibc
def test_what_a_threads_batch_left_free_is_given_back() -> None:
    """As a worker role's batch in its thread: 48 MB of objects over 512 bytes (malloc's, not
    pymalloc's), one in fifty outliving the batch, spread over the arena: the rest is free but
    stays resident until trimmed."""
    survivors: list[bytearray] = []

    def batch() -> None:
        made = [bytearray(1200) for _ in range(40_000)]
        survivors.extend(made[::50])

    worker = threading.Thread(target=batch)
    worker.start()
    worker.join()
    held = rss_mb()
    assert free_memory.release_free_memory()
    assert held - rss_mb() > 20  # of the ~47 MB freed; the survivors' pages stay
    assert all(len(b) == 1200 for b in survivors)  # what lives is untouched


def test_released_every_so_often_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def trim(pad: int) -> int:
        calls.append(time.monotonic())
        return 1

    monkeypatch.setattr(free_memory, "_TRIM", trim)
    running = threading.Event()
    monkeypatch.setattr(free_memory, "_running", running)
    before = set(threading.enumerate())
    free_memory.release_free_memory_every(0.05)
    free_memory.release_free_memory_every(0.05)  # a second start changes nothing
    time.sleep(0.4)
    started = [t for t in threading.enumerate() if t not in before]
    running.clear()  # the thread ends after its turn
    assert [(t.name, t.daemon) for t in started] == [("free-memory", True)]
    assert 3 <= len(calls) <= 9  # every 0.05 s
    started[0].join(1)
    assert not started[0].is_alive()


def test_without_malloc_trim_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(free_memory, "_TRIM", None)
    monkeypatch.setattr(free_memory, "_running", threading.Event())
    assert free_memory.release_free_memory() is False
    free_memory.release_free_memory_every(0.01)
    assert not free_memory._running.is_set()


ALLOCATING_THREADS = """
import sys, threading
from benchmarks.soak_trace.memory_map import resident_of
from hub import free_memory
if sys.argv[1] == "one":
    assert free_memory.one_malloc_arena()
ready = threading.Barrier(6)
kept = []
def allocate() -> None:
    ready.wait()  # glibc gives each new thread an arena of its own at its first malloc
    kept.append([bytearray(2000) for _ in range(2000)])
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(resident_of()["malloc threads"])
"""


def _threads_heaps(arenas: str) -> int:
    # glibc's own defaults: not a limit this process was started with.
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATING_THREADS, arenas],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
        env=env,
    )
    return int(done.stdout.strip())


@glibc
def test_with_one_arena_threads_allocate_from_the_main_one() -> None:
    # Their own arenas kept what batches left free (soak24); the main one is shared.
    assert _threads_heaps("many") > 1_000_000  # the default: arenas of their own
    assert _threads_heaps("one") == 0
