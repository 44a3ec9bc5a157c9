"""Where a process's resident memory lies, by kind of mapping (Linux's /proc/PID/smaps).

A soak's census counts objects and malloc's figures (`soak_tracer`), but an RSS that grows
while both stay flat could be in malloc's arenas (free memory between live chunks, which
`malloc_trim` cannot give back), in Python's own object arenas (1 MiB each, given back only
when every object in one is gone), or in neither. The mappings tell them apart:

- `malloc main`: the `[heap]` mapping, glibc's main arena;
- `malloc threads`: anonymous read-write mappings at 64 MiB-aligned addresses, glibc's arenas
  for the other threads (each reserved as a 64 MiB-aligned heap, `HEAP_MAX_SIZE`);
- `stacks`: anonymous mappings just above a one-page guard (the threads' stacks);
- `other anonymous`: the rest of what no file backs: Python's object arenas, and the blocks
  malloc maps on their own (mallinfo2's `hblkhd`), and libraries' own mappings;
- `files`: code and data mapped from files.

Run:  python -m benchmarks.soak_trace.memory_map PID|SMAPS_FILE [PID|SMAPS_FILE ...]
(a saved copy of a process's smaps reads as the process did then).
"""

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

THREAD_HEAP_ALIGN = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit
GUARD = 4096
KINDS = ("malloc main", "malloc threads", "stacks", "other anonymous", "files")

_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


def resident(smaps: str) -> dict[str, int]:
    """Resident bytes by kind (KINDS; others under their own names, e.g. `[stack]`) in the
    text of an smaps file."""
    mappings: list[list[Any]] = []  # start, end, perms, name, resident bytes
    for line in smaps.splitlines():
        mapping = _MAPPING.match(line)
        if mapping:
            start, end = int(mapping[1], 16), int(mapping[2], 16)
            mappings.append([start, end, mapping[3], mapping[4].strip(), 0])
        elif line.startswith("Rss:") and mappings:
            mappings[-1][4] += int(line.split()[1]) * 1024
    by_kind: Counter[str] = Counter()
    for i, (start, end, perms, name, rss) in enumerate(mappings):
        before = mappings[i - 1] if i else None
        after = mappings[i + 1] if i + 1 < len(mappings) else None
        by_kind[_kind(start, end, perms, name, before, after)] += rss
    return {name: by_kind.get(name, 0) for name in KINDS} | {
        name: size for name, size in by_kind.items() if name not in KINDS
    }


def _kind(
    start: int, end: int, perms: str, name: str, before: list[Any] | None, after: list[Any] | None
) -> str:
    if name == "[heap]":
        return "malloc main"
    if name.startswith("/"):
        return "files"
    if name:
        return name
    if (
        before is not None
        and before[1] == start
        and _reserved(before)
        and before[1] - before[0] == GUARD
    ):
        return "stacks"
    if perms.startswith("rw") and start % THREAD_HEAP_ALIGN == 0 and _heap_sized(start, end, after):
        return "malloc threads"
    return "other anonymous"


def _reserved(mapping: list[Any]) -> bool:
    return str(mapping[2]).startswith("---")


def _heap_sized(start: int, end: int, after: list[Any] | None) -> bool:
    """A thread's heap: its used part, then the rest of its 64 MiB reserved, inaccessible."""
    if end - start == THREAD_HEAP_ALIGN:
        return True
    return (
        after is not None
        and after[0] == end
        and _reserved(after)
        and after[1] == start + THREAD_HEAP_ALIGN
    )


def resident_of(pid: int | str = "self") -> dict[str, int]:
    return resident(Path(f"/proc/{pid}/smaps").read_text())


def main(args: list[str]) -> None:
    for arg in args:
        saved = Path(arg)
        kinds = resident(saved.read_text()) if saved.is_file() else resident_of(arg)
        print(f"{arg}: {sum(kinds.values()) / 2**20:.1f} MB resident")
        for name, size in kinds.items():
            if size:
                print(f"  {name:16s} {size / 2**20:8.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
