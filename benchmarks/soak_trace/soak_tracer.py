"""The tracing thread `sitecustomize` starts in a traced hub process (see there)."""

import ctypes
import ctypes.util
import gc
import heapq
import importlib
import json
import os
import sys
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_MALLINFO2 = (
    "arena", "ordblks", "smblks", "hblks", "hblkhd",
    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
)  # fmt: skip


class _Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def _mallinfo() -> dict[str, int]:
    """glibc's view: `arena` + `hblkhd` bytes taken from the system, `uordblks` in use,
    `fordblks` free; {} elsewhere."""
    try:
        call = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    call.restype = _Info
    info = call()
    return {name: int(getattr(info, name)) for name in _MALLINFO2}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


ASKED = "asked"  # a file in the folder: touched, every traced process takes a snapshot


def _asked_or_after(folder: Path, seconds: float, seen: float) -> tuple[bool, float]:
    """Waits `seconds`, or less when the ASKED file is touched (not a signal: the worker's
    `mode` enters pdb on SIGUSR2, and SIGUSR1 dumps its stacks); (asked, its mtime)."""
    end = time.monotonic() + seconds
    while True:
        try:
            touched = (folder / ASKED).stat().st_mtime
        except FileNotFoundError:
            touched = seen
        if touched > seen:
            return True, touched
        if time.monotonic() >= end:
            return False, seen
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))


def trace_while(out: str, name: str, start: float, every: float, frames: int) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    time.sleep(start)
    if frames:
        tracemalloc.start(frames)
    # Beside this module on the traced process's path (sitecustomize's folder).
    resident_of = importlib.import_module("memory_map").resident_of
    n = 0
    seen = time.time()
    with (folder / f"{name}.jsonl").open("a") as log:
        while True:
            # A first snapshot right away (the baseline), then every `every` s or when asked.
            at_rest, seen = _asked_or_after(folder, every if n else 1.0, seen)
            line: dict[str, Any] = {"n": n, "wall": time.time(), "asked": at_rest, "rss": _rss()}
            line["malloc"] = _mallinfo()
            line["resident"] = resident_of()
            if frames:
                snapshot = tracemalloc.take_snapshot()
                line["traced"], line["traced_peak"] = tracemalloc.get_traced_memory()
                line["tracing_overhead"] = tracemalloc.get_tracemalloc_memory()
                snapshot.dump(str(folder / f"{name}-{n:03d}.snap"))
                del snapshot
            line["types"] = _census()
            line["frozen"] = gc.get_freeze_count()
            line["listed_reservations"] = _listed_reservations()
            line["largest"] = _largest()
            line["owners"] = {t: _owners(t) for t in OWNED if t}
            log.write(json.dumps(line) + "\n")
            log.flush()
            n += 1


OWNED = os.environ.get("ORDERHUB_TRACE_OWNERS", "").split(",")  # type names, e.g. Lines


def _owners(type_name: str, depth: int = 8) -> list[str]:
    """What holds the first live object of that type: each referrer's type up the chain (the
    first that is not a frame of this thread), to tell who keeps what a census counts."""
    found = next((o for o in gc.get_objects() if type(o).__qualname__ == type_name), None)
    chain: list[str] = []
    seen = {id(found)}
    here = found
    for _ in range(depth if found is not None else 0):
        holders = [r for r in gc.get_referrers(here) if id(r) not in seen and r is not chain]
        holders = [r for r in holders if type(r).__name__ != "frame"]
        if not holders:
            break
        here = holders[0]
        seen.add(id(here))
        name = getattr(here, "__qualname__", "") if callable(here) else ""
        keys = list(here)[:3] if isinstance(here, dict) else ""
        chain.append(f"{type(here).__qualname__} {name or keys}".strip())
    return chain


def _largest(top: int = 12, owned: int = 5) -> list[dict[str, Any]]:
    """The containers with the most entries: a census counts a dict that grows by a key per
    order as one dict. The collector does not track a dict or list of plain values (strings,
    numbers), so those are looked for among what the tracked objects refer to; a module's
    namespace and everything made before a worker's `gc.freeze()` (hub.collector) are not in
    `gc.get_objects()` at all, so the modules' names are looked through too (`at`: the name a
    container was found under). The first `owned` name what holds them."""
    biggest, named = _biggest_containers(top)
    found = []
    for rank in range(len(biggest)):
        obj = biggest[rank]
        entry: dict[str, Any] = {"type": type(obj).__name__, "len": len(obj)}
        if isinstance(obj, dict):
            entry["keys"] = [repr(k)[:60] for k in list(obj)[:3]]
        if id(obj) in named:
            entry["at"] = named[id(obj)]
        if rank < owned:
            entry["held_by"] = _holders(obj, ignored={id(biggest)})
        found.append(entry)
        del obj
    return found


def _biggest_containers(top: int) -> tuple[list[Any], dict[int, str]]:
    kinds = (dict, set, list, deque)
    heap: list[tuple[int, int, Any]] = []
    seen: set[int] = set()
    named: dict[int, str] = {}
    for root, name in _roots():
        for obj in (root, *gc.get_referents(root)):
            if type(obj) not in kinds:
                continue
            if name is not None and id(obj) not in named:
                named[id(obj)] = name if obj is root else f"{name} → {type(obj).__name__}"
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if len(heap) < top:
                heapq.heappush(heap, (len(obj), id(obj), obj))
            elif len(obj) > heap[0][0]:
                heapq.heapreplace(heap, (len(obj), id(obj), obj))
    biggest = [obj for _, _, obj in sorted(heap, key=lambda entry: entry[0], reverse=True)]
    return biggest, {id(o): named[id(o)] for o in biggest if id(o) in named}


def _roots() -> Iterator[tuple[Any, str | None]]:
    """The objects the collector tracks, then each module's names and its classes' (named:
    a module's cache is reached from nothing the collector lists once frozen)."""
    for tracked in gc.get_objects():
        yield tracked, None
    for module_name, module in list(sys.modules.items()):
        space = getattr(module, "__dict__", None)
        if type(space) is not dict:
            continue
        for key, value in list(space.items()):
            yield value, f"{module_name}.{key}"
            if isinstance(value, type):
                for attribute, inner in list(vars(value).items()):
                    yield inner, f"{module_name}.{key}.{attribute}"


def _holders(obj: Any, ignored: set[int], depth: int = 6) -> list[str]:
    """Who refers to `obj`, and to that, up `depth` steps (the first referrer each time that is
    not a frame or this census's own list)."""
    chain: list[str] = []
    seen = {id(obj)} | ignored
    here = obj
    for _ in range(depth):
        holders = [r for r in gc.get_referrers(here) if id(r) not in seen]
        holders = [r for r in holders if type(r).__name__ != "frame"]
        if not holders:
            break
        held, here = here, holders[0]
        seen |= {id(here), id(holders)}  # this list refers to `here` too
        if isinstance(here, dict):
            keys = [k for k, v in here.items() if v is held][:2]
            chain.append(f"dict{keys}")
        else:
            chain.append(type(here).__qualname__)
    return chain


def _listed_reservations() -> int:
    """The open reservations the live whole stock items list (each a dict entry and its key):
    what a process keeping such items holds grows with the history."""
    items = (o for o in gc.get_objects() if type(o).__qualname__ == "StockItem")
    return sum(len(getattr(o, "reservations", ())) for o in items)


def _census() -> dict[str, int]:
    """The objects the collector tracks, by type (the 60 most numerous)."""
    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    return dict(counts.most_common(60))
