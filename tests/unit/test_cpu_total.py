"""A group's CPU total keeps what its ended processes spent (benchmarks.procstats.CpuTotal):
the soak's series and the benchmarks' database backends read it while connections are replaced."""

import subprocess
import sys
from pathlib import Path

from benchmarks.procstats import CpuTotal, anon_bytes, cpu_seconds, rss_bytes

_BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def _burnt_process() -> subprocess.Popen[bytes]:
    """A process that has spent ~0.3 s of CPU and then waits to be told to end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BURN + "import sys\nsys.stdin.read()\n"], stdin=subprocess.PIPE
    )
    while (cpu_seconds(proc.pid) or 0.0) < 0.25:
        pass
    return proc


def _end(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_a_process_that_ended_keeps_its_last_reading_in_the_total() -> None:
    total = CpuTotal()
    first = _burnt_process()
    with_first = total.of([first.pid])
    assert with_first >= 0.25
    _end(first)

    second = _burnt_process()
    try:
        both = total.of([first.pid, second.pid])  # the first is gone: no reading of it now
        assert both >= with_first + 0.25
        assert total.of([second.pid]) >= both  # it is no longer listed, and still counted
    finally:
        _end(second)


def test_anonymous_memory_leaves_out_the_pages_of_mapped_files(tmp_path: Path) -> None:
    # 64 MB of a file mapped and read: resident, but no memory of the process's own.
    data = tmp_path / "mapped"
    data.write_bytes(b"\1" * (64 << 20))
    script = (
        "import mmap, sys\n"
        f"f = open({str(data)!r}, 'rb')\n"
        "m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
        "sum(m[i] for i in range(0, len(m), 4096))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        rss, anon = rss_bytes(proc.pid), anon_bytes(proc.pid)
        assert rss is not None and anon is not None
        assert rss - anon >= 60 << 20
        assert 0 < anon < rss
    finally:
        proc.communicate(b"")
    assert anon_bytes(proc.pid) is None
