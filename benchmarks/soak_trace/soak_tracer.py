"""The tracing thread `sitecustomize` starts in a traced hub process (see there)."""

import ctypes
import ctypes.util
import gc
import json
import os
import time
import tracemalloc
from collections import Counter
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
    n = 0
    seen = time.time()
    with (folder / f"{name}.jsonl").open("a") as log:
        while True:
            # A first snapshot right away (the baseline), then every `every` s or when asked.
            at_rest, seen = _asked_or_after(folder, every if n else 1.0, seen)
            line: dict[str, Any] = {"n": n, "wall": time.time(), "asked": at_rest, "rss": _rss()}
            line["malloc"] = _mallinfo()
            if frames:
                snapshot = tracemalloc.take_snapshot()
                line["traced"], line["traced_peak"] = tracemalloc.get_traced_memory()
                line["tracing_overhead"] = tracemalloc.get_tracemalloc_memory()
                snapshot.dump(str(folder / f"{name}-{n:03d}.snap"))
                del snapshot
            line["types"] = _census()
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


def _census() -> dict[str, int]:
    """The objects the collector tracks, by type (the 60 most numerous)."""
    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    return dict(counts.most_common(60))
