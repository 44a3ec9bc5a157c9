"""CPU time and resident memory of processes, read from /proc (Linux)."""

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (its own threads), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: fields count from the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int | None:
    try:
        pages = Path(f"/proc/{pid}/statm").read_text().split()[1]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(pages) * _PAGE


@dataclass
class CpuWindow:
    """CPU used by named groups of processes between `start()` and `stop()`, as a share of one
    core (1.0 = one core busy the whole time). A process that ends or appears in between is left
    out (e.g. a database backend that closed)."""

    groups: dict[str, list[int]]

    def start(self, now: float) -> None:
        self._t0 = now
        self._c0 = {pid: cpu_seconds(pid) for pids in self.groups.values() for pid in pids}

    def stop(self, now: float) -> dict[str, float]:
        wall = max(now - self._t0, 1e-9)
        used: dict[str, float] = {}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                before, after = self._c0.get(pid), cpu_seconds(pid)
                if before is not None and after is not None:
                    total += after - before
            used[name] = total / wall
        return used
