"""A worker told to stop while it starts, before Faust handles signals itself, exits cleanly
(0), not ended by the signal (-15): here it is stopped while it waits for a broker that does
not answer (no Kafka or PostgreSQL is needed to be there)."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.processes import HubProcess, free_port

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_worker_stopped_while_it_starts_exits_cleanly(
    tmp_path: Path, stop: signal.Signals
) -> None:
    env = {
        "ORDERHUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nobody listens there
        "ORDERHUB_DATABASE_URL": f"postgresql://orderhub@127.0.0.1:{free_port()}/orderhub",
        "ORDERHUB_DATA_DIR": str(tmp_path / "data"),
    }
    proc = HubProcess("worker", env, tmp_path, args=["--role", "projections"])
    try:
        deadline = time.monotonic() + 60
        while "does not answer" not in proc.log_tail(200):
            assert proc.process.poll() is None, proc.log_tail()
            assert time.monotonic() < deadline, f"not waiting for Kafka: {proc.log_tail()}"
            time.sleep(0.1)

        os.kill(proc.process.pid, stop)

        assert proc.process.wait(timeout=10) == 0, proc.log_tail()
        log = proc.log_path.read_text(errors="replace")
        assert f"{stop.name} while the worker was starting: stopping" in log
        assert "Traceback" not in log, proc.log_tail(80)
    finally:
        proc.stop()
