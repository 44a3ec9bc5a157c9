"""A process's resident memory sorted by kind of mapping (benchmarks/soak_trace/memory_map.py)."""

import os

from benchmarks.procstats import rss_bytes
from benchmarks.soak_trace.memory_map import THREAD_HEAP_ALIGN, resident, resident_of


def _mapping(start: int, size: int, perms: str, rss_kb: int, name: str = "") -> str:
    return (
        f"{start:x}-{start + size:x} {perms} 00000000 00:00 0    {name}\n"
        f"Size: {size // 1024} kB\nRss: {rss_kb} kB\nPss: {rss_kb} kB\n"
    )


def test_each_mapping_is_counted_under_its_kind() -> None:
    arena = 3 * THREAD_HEAP_ALIGN
    smaps = "".join(
        [
            _mapping(0x55D000000000, 8 << 20, "rw-p", 6000, "[heap]"),
            _mapping(arena, 20 << 20, "rw-p", 12000),
            _mapping(arena + (20 << 20), 44 << 20, "---p", 0),
            _mapping(arena + (64 << 20), 4096, "---p", 0),  # a stack's guard page
            _mapping(arena + (64 << 20) + 4096, 8 << 20, "rw-p", 24),
            _mapping(arena + (80 << 20) + 4096, 1 << 20, "rw-p", 1000),  # Python's objects
            _mapping(0x7F0000000000, 2 << 20, "r-xp", 900, "/usr/lib/libc.so.6"),
            _mapping(0x7FFC00000000, 132 << 10, "rw-p", 40, "[stack]"),
        ]
    )

    kinds = resident(smaps)

    assert kinds["malloc main"] == 6000 * 1024
    assert kinds["malloc threads"] == 12000 * 1024
    assert kinds["stacks"] == 24 * 1024
    assert kinds["other anonymous"] == 1000 * 1024
    assert kinds["files"] == 900 * 1024
    assert kinds["[stack]"] == 40 * 1024


def test_a_mapping_not_aligned_as_a_thread_heap_is_not_one() -> None:
    smaps = _mapping(THREAD_HEAP_ALIGN + 4096, 64 << 20, "rw-p", 500)

    assert resident(smaps)["malloc threads"] == 0
    assert resident(smaps)["other anonymous"] == 500 * 1024


def test_this_process_is_mostly_accounted_for() -> None:
    rss = rss_bytes(os.getpid())
    assert rss is not None
    total = sum(resident_of().values())

    assert abs(total - rss) < 0.05 * rss


def test_an_aligned_mapping_without_the_rest_of_a_heap_reserved_is_not_one() -> None:
    # Python's object arenas or a library's mapping can start at a 64 MiB boundary by chance.
    smaps = _mapping(5 * THREAD_HEAP_ALIGN, 2 << 20, "rw-p", 700)

    assert resident(smaps)["malloc threads"] == 0
    assert resident(smaps)["other anonymous"] == 700 * 1024
