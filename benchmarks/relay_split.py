"""Where the relay's CPU goes: py-spy's raw samples of `benchmarks.relay_process --profile`
(best with `--native`) summed into the relay's steps, waits left out.

Run:  python -m benchmarks.relay_split FILE [FILE ...]

Each sample (a stack, root first) goes to the first step its frames name: waiting (for the GIL,
a lock, the broker or PostgreSQL: not CPU), the select of the log's rows, decoding a stored
event (orjson's parse, value fields through pydantic, the rest of the top-level walk),
encoding it (orjson's sorted write, headers, ids and records), freeing the decoded events,
handing record batches to the producer (partitioner, batch builder), aiokafka's sender and
requests, and the rest (the event loop, the relay's own steps). Printed: each step's share of
the busy samples.
"""

import argparse
import collections
from pathlib import Path

# Frames of a thread that waits (py-spy counts a thread blocked in native code as active).
_WAITS = (
    "PyThread_acquire_lock_timed",
    "Connection.wait (psycopg",
    "epoll_wait",
    "epoll_pwait",
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "take_gil",
    "sem_timedwait",
    "sem_wait",
    # hub.free_memory's thread between its turns (py-spy counted it busy: relay11 found it
    # 14 % of the "busy" samples, all of them in "the rest").
    "clock_nanosleep",
)
_VALUE_FIELDS = "_public"
_DECODE = ("parts (hub/stored_envelopes", "row_entry", "decoded (hub/stored_envelopes")
_SELECT = ("_RowSelect.after", "select_notifications", "binary_rows")


def step(stack: str) -> str:
    """The relay's step a sample was taken in."""
    frames = stack.split(";")
    leaf = frames[-1]
    if any(wait in frame for frame in frames[-3:] for wait in _WAITS):
        return "waiting"
    if any(name in stack for name in _SELECT):
        return "select (the log's rows)"
    if any(name in stack for name in _DECODE):
        if "orjson" in leaf:
            return "decode: orjson parse"
        if _VALUE_FIELDS in stack:
            return "decode: value fields (pydantic, lines)"
        return "decode: the rest (tags, top level, scans)"
    if "encode (hub/stored_records" in stack:
        if "orjson" in leaf:
            return "encode: orjson sorted write"
        return "encode: headers, ids, records"
    if "read_records" in stack:
        return "freeing the decoded events"
    if "_hand_batches" in stack:
        return "handing batches (partitioner, batch builder)"
    if "aiokafka" in stack:
        return "aiokafka's sender and requests"
    return "event loop, the relay's steps, the rest"


def split(paths: list[Path]) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack:
                found[step(stack)] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    found = split(parser.parse_args().files)
    busy = sum(found.values()) - found["waiting"]
    print(f"{sum(found.values())} samples, {busy} busy")
    for name, count in found.most_common():
        if name != "waiting":
            print(f"  {count / busy:6.1%}  {name}")


if __name__ == "__main__":
    main()
