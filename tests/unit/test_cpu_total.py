"""A group's CPU total keeps what its ended processes spent (benchmarks.procstats.CpuTotal):
the soak's series and the benchmarks' database backends read it while connections are replaced."""

import subprocess
import sys

from benchmarks.procstats import CpuTotal, cpu_seconds

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
