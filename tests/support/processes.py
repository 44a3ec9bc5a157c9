"""Running the hub's own commands as real processes, as a user would."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
    data_dir: Path,
    **extra: str,
) -> dict[str, str]:
    """The environment of one distributed hub's processes (serve, worker, relay, simulators):
    the broker, database and topic prefix the test was given, a consumer group and an API port
    of their own. ``extra``: more ``ORDERHUB_*`` variables."""
    return {
        "ORDERHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERHUB_DATABASE_URL": database_url,
        "ORDERHUB_TOPIC_PREFIX": topic_prefix,
        "ORDERHUB_TOPIC_PARTITIONS": "3",
        "ORDERHUB_CONSUMER_GROUP": f"e2e-{uuid4().hex[:8]}",
        "ORDERHUB_DATA_DIR": str(data_dir),
        "ORDERHUB_API_PORT": str(free_port()),
        **extra,
    }


class HubProcess:
    """One `orderhub <command>` subprocess with its own log file."""

    def __init__(
        self,
        command: str,
        env: Mapping[str, str],
        log_dir: Path,
        args: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        self.command = command
        self.name = name or command
        self.log_path = log_dir / f"{self.name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", command, *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, nothing committed."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@contextmanager
def hub_processes(
    commands: list[str], env: Mapping[str, str], log_dir: Path
) -> Iterator[dict[str, HubProcess]]:
    started: dict[str, HubProcess] = {}
    try:
        for command in commands:
            started[command] = HubProcess(command, env, log_dir)
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def wait_for_http(url: str, proc: HubProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise AssertionError(f"{proc.command} exited early:\n{proc.log_tail()}")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(
        f"{url} did not answer within {timeout}s (last: {last})\n{proc.log_tail()}"
    )


def wait_status(base: str, order_id: str, status: str, timeout: float = 60) -> None:
    """Until `GET /v1/orders/{id}` says `status`; the last answer in the failure otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/v1/orders/{order_id}", timeout=5)
        last = response.text
        if response.status_code == 200 and response.json()["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} never became {status}; last: {last}")
