"""CPU time and resident memory of processes, read from /proc (Linux)."""

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (its own threads), or None once it is gone."""
    fields = _stat(pid)
    return None if fields is None else _cpu(fields)


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: fields count from the last ')'.
    return stat[stat.rindex(")") + 2 :].split()


class CpuTotal:
    """CPU seconds of a group whose processes come and go, those that ended counted at their
    last reading: a database backend closed by the hub's connection age (ten minutes) would
    otherwise take its CPU out of the group's total, and a window spanning it would read less
    than was spent, or less than nothing. What a process spent after its last reading is lost
    (at most the time between two readings)."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, str], float] = {}  # (pid, start time): a pid comes again

    def of(self, pids: list[int]) -> float:
        for pid in pids:
            fields = _stat(pid)
            if fields is not None:
                self._last[pid, fields[19]] = _cpu(fields)
        return sum(self._last.values())


def rss_bytes(pid: int) -> int | None:
    fields = _statm(pid)
    return None if fields is None else int(fields[1]) * _PAGE


def anon_bytes(pid: int) -> int | None:
    """The resident memory that is the process's own (its heap, its stacks, its anonymous
    mappings): the resident pages less those backed by a file. A machine short of page cache
    takes back the mapped pages of the libraries a process runs (a soak's database filling
    it: soak28, the idle supervisor's RSS 53.6 → 42.2 MB), which is no memory the process
    gave back."""
    fields = _statm(pid)
    return None if fields is None else (int(fields[1]) - int(fields[2])) * _PAGE


def _statm(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/statm").read_text().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def children(pid: int) -> list[int]:
    """Direct children of a process (e.g. `orderhub worker`'s one process per role)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def role_of(pid: int) -> str | None:
    """The `--role` a worker process was started with, if any."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if b"--role" in args and args.index(b"--role") + 1 < len(args):
        return args[args.index(b"--role") + 1].decode()
    if any(b"spawn_main" in arg for arg in args):
        # A spawned child of `serve`: embedded, a lane's process (hub.embedded.routing_process),
        # named by the child itself ("hub-views"); the routing one before it named itself.
        return _spawned_name(pid) or "routing"
    return None


def _spawned_name(pid: int) -> str | None:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return comm.removeprefix("hub-") if comm.startswith("hub-") else None


def with_roles(name: str, pid: int) -> dict[str, list[int]]:
    """A process and, named by their role, the children it supervises: `worker` alone shows
    only its supervisor, while the work is done by `worker intake`, `worker orchestration`…"""
    found = {name: [pid]}
    for child in children(pid):
        role = role_of(child)
        found[f"{name} {role}" if role else name] = [
            *found.get(f"{name} {role}" if role else name, []),
            child,
        ]
    return found


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
