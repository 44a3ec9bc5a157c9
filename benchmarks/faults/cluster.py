"""The hub as processes (API, relay, one process per worker role and worker id) and the faults
done to them: SIGKILL and restart, a broker stop and start, a PostgreSQL restart."""

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.settings import Settings
from hub.streaming.roles import Role
from tests.support.processes import HubProcess, wait_for_http

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def specs(workers: int) -> list[ProcessSpec]:
    found = [ProcessSpec("api", "serve"), ProcessSpec("relay", "relay")]
    for n in range(1, workers + 1):
        for role in Role:
            found.append(
                ProcessSpec(
                    f"w{n}-{role.value}",
                    "worker",
                    ("--role", role.value),
                    (("ORDERHUB_WORKER_ID", f"w{n}"),),
                )
            )
    return found


class Cluster:
    """Starts every process, kills and restarts them by name, stops them all at the end."""

    def __init__(
        self, env: Mapping[str, str], log_dir: Path, workers: int, settings: Settings
    ) -> None:
        self.env = dict(env)
        self.settings = settings
        self.log_dir = log_dir
        self.specs = {s.name: s for s in specs(workers)}
        self.procs: dict[str, HubProcess] = {}
        self.api_port = int(self.env["ORDERHUB_API_PORT"])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str) -> None:
        spec = self.specs[name]
        self.procs[name] = HubProcess(
            spec.command, {**self.env, **dict(spec.env)}, self.log_dir, spec.args, spec.name
        )

    def start_all(self) -> None:
        for name in self.specs:
            self.start(name)
        wait_for_http(f"{self.base}/healthz", self.procs["api"], timeout=120)

    def kill(self, name: str) -> None:
        self.procs[name].kill()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def crashed(self) -> list[str]:
        """Processes that exited on their own (not by our hand)."""
        return [n for n, p in self.procs.items() if p.process.poll() is not None]


def _script(script: str, *args: str, env: Mapping[str, str]) -> str:
    out = subprocess.run(
        ["bash", str(REPO / "infra" / script), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


class Infra:
    """A broker and a PostgreSQL cluster of the run's own, so restarting them hurts nobody."""

    def __init__(self, services_dir: Path, pg_cluster: str) -> None:
        self.kafka_env = {"ORDERHUB_SERVICES_DIR": str(services_dir)}
        self.pg_env = {"ORDERHUB_PG_CLUSTER": pg_cluster, **self.kafka_env}

    def start(self) -> tuple[str, str]:
        bootstrap = _script("kafka.sh", "start", env=self.kafka_env)
        server = _script("postgres.sh", "start", env=self.pg_env)
        return bootstrap, server

    def broker_down(self) -> None:
        _script("kafka.sh", "stop", "--kill", env=self.kafka_env)

    def broker_up(self) -> None:
        _script("kafka.sh", "start", "--keep", env=self.kafka_env)

    def restart_postgres(self) -> None:
        _script("postgres.sh", "restart", env=self.pg_env)

    def stop_broker(self) -> None:
        _script("kafka.sh", "stop", env=self.kafka_env)
