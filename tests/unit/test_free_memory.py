"""Free memory that glibc's malloc keeps resident in a thread's arena is given back by
`release_free_memory`, and a batch process does so every RELEASED_EVERY seconds."""

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


_THREADS_ALLOCATING = """
import sys, threading
from hub import free_memory
if sys.argv[1] == "limited":
    assert free_memory.limit_malloc_arenas(2)
def work(meet):
    meet.wait()
    held = [bytearray(2000) for _ in range(2000)]  # malloc's, each thread at once
    meet.wait()
meet = threading.Barrier(6)
threads = [threading.Thread(target=work, args=(meet,)) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(free_memory.arenas_in_use())
"""


@glibc
@pytest.mark.parametrize(("mode", "most"), [("limited", 2), ("as glibc does", 16)])
def test_threads_allocating_at_once_share_the_arenas_allowed(mode: str, most: int) -> None:
    """Six threads allocating at once get an arena each (the batch threads of a worker role),
    unless the arenas are limited (in a process of its own: the limit is for its lifetime)."""
    command = [sys.executable, "-c", _THREADS_ALLOCATING, mode]
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    ran = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    arenas = int(ran.stdout)
    assert (arenas == 2) if mode == "limited" else (2 < arenas <= most)


def test_an_operators_malloc_arena_max_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert not free_memory.limit_malloc_arenas(2)
