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

from hub.free_memory import RELEASED_EVERY, one_malloc_arena, release_free_memory_every

__all__ = [
    "BATCH_YOUNG_COLLECTED_AFTER",
    "collect_for_batches",
    "collect_young_after",
    "collector_paused",
    "freeze_what_is_loaded",
]

# Net new containers between collections of the youngest generation in a process that works in
# batches (Python's default: 700).
BATCH_YOUNG_COLLECTED_AFTER = 50_000


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_what_is_loaded() -> None:
    """Leave what a server has loaded at its start out of the collector's passes from now on.

    A served hub holds ~185,000 container objects once started (modules, the read models,
    cel-python's grammar), all in the oldest generation: every full collection walked them
    all, 20-60 ms each on 2 shared cores, whichever request it fell in. Frozen (`gc.freeze`),
    they are never scanned again; they are still freed by reference counting as usual, and
    only a cycle among them that became garbage later would stay (what a start loads is kept
    for the process's life). The garbage made by the start is collected first, so that none
    of it is frozen. Once per server process, at its start; not for tests (which build many
    apps in one process and drop them).
    """
    gc.collect()
    gc.freeze()


def collect_young_after(containers: int) -> None:
    """Collect the youngest generation after this many net new containers (Python's default:
    700), the older generations as they were. A process that works in batches (an embedded
    lane) keeps a batch's objects alive until the batch ends, and they die by reference
    counting then; collected every 700 they were scanned alive again and again and promoted,
    and each full pass walked them. Cyclic garbage is still collected, a little later."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(max(containers, 1), middle, old)


def collect_for_batches() -> None:
    """The collector set for a process that works in batches and answers no request itself
    (the relay, each worker role, the embedded routing process), once its start is done.

    - What the start loaded (the supply view, modules) frozen out of every full pass
      (`freeze_what_is_loaded` says why that is safe).
    - The youngest generation collected after `BATCH_YOUNG_COLLECTED_AFTER` net new
      containers, not 700 (`collect_young_after`). A relay batch of 500 events is decoded into
      some 15,000 dicts, lists and texts that live until it is published and then die by
      reference counting: at 700 the collector ran ~20 times a batch, scanning them and
      promoting them into the older generations' passes, ~15 % of the relay's CPU per event
      (benchmarks/README.md, h-relay3); in the routing process a sixth of the routing thread
      (embed). Cycles (asyncio's and aiokafka's futures, exceptions) are still collected, a
      few times a second under load; a longer pause (~40 ms) is no request's wait here.
    - The C library's free memory given back every `RELEASED_EVERY` seconds
      (`hub.free_memory`): what a batch's large objects leave free in malloc's arenas stays
      resident otherwise, and looked like growth per order in a soak.
    - Every thread started from here on allocating from malloc's main arena (`hub.free_memory`
      `one_malloc_arena`): each executor thread's own arena kept what its batches left free
      between the objects that outlive them; on one arena the orchestration role held 11-18 MB
      less (soak24).
    """
    one_malloc_arena()
    freeze_what_is_loaded()
    collect_young_after(BATCH_YOUNG_COLLECTED_AFTER)
    release_free_memory_every(RELEASED_EVERY)
