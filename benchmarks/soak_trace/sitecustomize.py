"""Memory of the hub's processes traced over a soak (`benchmarks.flow --trace-memory ROLES`):
this directory is put first on PYTHONPATH, so every process the benchmark starts imports it.

In the processes named by ORDERHUB_TRACE_ROLES (a worker's `--role`, or `serve`, `relay`, or
an embedded hub's lane children `routing`, `views`, known by the name they give themselves),
after ORDERHUB_TRACE_START s: tracemalloc with ORDERHUB_TRACE_FRAMES frames, and every
ORDERHUB_TRACE_EVERY s one JSON line in ORDERHUB_TRACE_DIR/<name>-<pid>.jsonl (RSS, what
tracemalloc traces, glibc's mallinfo2: what malloc holds from the system, in use and free)
and a tracemalloc snapshot beside it (`benchmarks.soak_trace_report` diffs them), and the
resident bytes by kind of mapping (`memory_map`: malloc's arenas, Python's and the other
anonymous mappings, stacks, files). What Python
allocates shows in the snapshots; what C libraries allocate with malloc directly (libpq, the
broker client's buffers) shows only as mallinfo2's in-use bytes growing with tracemalloc flat;
free memory malloc keeps (fragmentation) as its free bytes. In those named by
ORDERHUB_CENSUS_ROLES, no tracemalloc (it costs the process several times its CPU): the same
lines with the objects the collector tracks, counted by type. ORDERHUB_TRACE_OWNERS (type
names, e.g. `Lines,cell`): each line names, too, what holds the first live object of each.
"""

import os
import sys
import time


def _role() -> str | None:
    # The command line as started (sys.argv is not set yet while `site` runs).
    with open("/proc/self/cmdline", "rb") as cmdline:
        argv = [a.decode() for a in cmdline.read().split(b"\0") if a]
    if "--role" in argv and argv.index("--role") + 1 < len(argv):
        return argv[argv.index("--role") + 1]
    for name in ("serve", "relay"):
        if name in argv:
            return name
    return None


def _start() -> None:
    out = os.environ.get("ORDERHUB_TRACE_DIR")
    traced = os.environ.get("ORDERHUB_TRACE_ROLES", "").split(",")
    counted = os.environ.get("ORDERHUB_CENSUS_ROLES", "").split(",")
    if out is None:
        return
    import threading

    if _spawned():
        # A lane child names itself (/proc/self/comm "hub-routing") only once it runs.
        threading.Thread(target=_trace_child, args=(out, traced, counted), daemon=True).start()
        return
    role = _role()
    if role is not None and role in traced + counted:
        if role != "serve":
            _one_malloc_arena()
        threading.Thread(target=_trace, args=(out, role, role in traced), daemon=True).start()


def _one_malloc_arena() -> None:
    """A worker role and the relay keep their threads on malloc's main arena, set once their
    start is done and before their first thread (hub.free_memory `one_malloc_arena`). The
    tracer's thread starts before that: it would get an arena of its own, and glibc would then
    hand that one round to the process's later threads (soak25's census showed a second arena
    in the orchestration role). Set here first, the process's arenas are what they are
    untraced. In an embedded lane child (started before it knows its name) the tracer's thread
    still has its own arena."""
    from hub.free_memory import one_malloc_arena

    one_malloc_arena()


def _spawned() -> bool:
    with open("/proc/self/cmdline", "rb") as cmdline:
        return b"--multiprocessing-fork" in cmdline.read()


def _trace_child(out: str, traced: list[str], counted: list[str]) -> None:
    time.sleep(CHILD_NAMED)
    with open("/proc/self/comm") as comm:
        role = comm.read().strip().removeprefix("hub-")
    if role in traced + counted:
        _trace(out, role, role in traced, waited=CHILD_NAMED)


CHILD_NAMED = 5.0  # seconds: a lane child has named itself by then


def _trace(out: str, role: str, traced: bool, waited: float = 0.0) -> None:
    from soak_tracer import trace_while

    trace_while(
        out=out,
        name=f"{role}-{os.getpid()}",
        start=max(0.0, float(os.environ.get("ORDERHUB_TRACE_START", "60")) - waited),
        every=float(os.environ.get("ORDERHUB_TRACE_EVERY", "300")),
        # tracemalloc made the orchestration role several times slower: there only a census.
        frames=int(os.environ.get("ORDERHUB_TRACE_FRAMES", "2")) if traced else 0,
    )


try:
    _start()
except Exception as error:  # a benchmark's aid: never worth the process
    print(f"soak_trace: not tracing: {error!r}", file=sys.stderr)
