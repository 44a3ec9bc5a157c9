"""The cyclic garbage collector paused while many short-lived objects are made at once.

Such work (a supply checkpoint encoded or restored, a recorded decision re-run over hundreds of
candidates) makes tens of thousands of objects that die by reference counting when it ends.
Meanwhile the collector would run over and over, scanning them while they live and promoting
them to the older generations, whose full passes then walk the whole heap: a re-run over 200
candidates met one in twenty re-runs, each costing several times the re-run itself; a
checkpoint was restored twice as slowly. Paused, those objects are never scanned; the few that
outlive the work are collected later, as usual.

The pause is process-wide (the collector is): it is undone when the work ends, and a pause
inside another leaves the collector as the outer one found it.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
