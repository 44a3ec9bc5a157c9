"""Finds (or starts) the real Kafka broker and PostgreSQL server for integration tests.

Order, per service (see DESIGN.md, "Stack and where each part runs"):

1. an endpoint given by the environment (``ORDERHUB_TEST_KAFKA_BOOTSTRAP``,
   ``ORDERHUB_TEST_DATABASE_URL``) - used as is, never replaced by something else;
2. a container, when a Docker engine answers (``apache/kafka`` in KRaft mode, ``postgres``);
3. the project's own scripts, ``infra/kafka.sh start`` and ``infra/postgres.sh start``.

Switches (any non-empty value other than ``0``/``false``/``no`` turns them on):

- ``ORDERHUB_TEST_NO_DOCKER`` - skip step 2 even when an engine answers (e.g. to test the
  scripts on a laptop with Docker);
- ``ORDERHUB_TEST_NO_LOCAL_SERVICES`` - skip step 3, so only the environment or Docker can
  provide services (e.g. to check that CI fails, never skips, when none can be had).

Images: ``ORDERHUB_TEST_KAFKA_IMAGE`` (default ``apache/kafka:<kafka.version of
infra/kafka/pom.xml>``, so both paths test the same broker) and ``ORDERHUB_TEST_POSTGRES_IMAGE``
(default ``postgres:16-alpine``). ``ORDERHUB_SERVICES_DIR`` is passed on to the scripts and also
holds the harness' lock and leases.

Lifetimes: containers live for the session. A broker that a harness session started with
``infra/kafka.sh`` is stopped when the last harness session using it ends (sessions register a
lease under a lock, so concurrent runs - xdist workers, several engineers on one machine - never
pull the broker from under each other), and a broker someone started by hand is never stopped.
PostgreSQL started by ``infra/postgres.sh`` is left running: it is a system service that starts
in about two seconds, other sessions may be using it, and each test's database is dropped anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO_ROOT / "infra" / "kafka.sh"
POSTGRES_SCRIPT = REPO_ROOT / "infra" / "postgres.sh"

ENV_KAFKA_BOOTSTRAP = "ORDERHUB_TEST_KAFKA_BOOTSTRAP"
ENV_DATABASE_URL = "ORDERHUB_TEST_DATABASE_URL"
ENV_NO_DOCKER = "ORDERHUB_TEST_NO_DOCKER"
ENV_NO_LOCAL_SERVICES = "ORDERHUB_TEST_NO_LOCAL_SERVICES"
ENV_KAFKA_IMAGE = "ORDERHUB_TEST_KAFKA_IMAGE"
ENV_POSTGRES_IMAGE = "ORDERHUB_TEST_POSTGRES_IMAGE"
ENV_SERVICES_DIR = "ORDERHUB_SERVICES_DIR"

# First start of the broker may download its jars with Maven; apt-get may install PostgreSQL.
KAFKA_START_TIMEOUT = 900.0
POSTGRES_START_TIMEOUT = 600.0
STOP_TIMEOUT = 120.0


class ServiceUnavailable(Exception):
    """A service the test needs cannot be had; the message says why, for every way tried."""


def under_ci() -> bool:
    """True on CI, where a missing service is a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _log(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def services_dir() -> Path:
    return Path(os.environ.get(ENV_SERVICES_DIR) or REPO_ROOT / ".services")


def kafka_version() -> str:
    pom = (REPO_ROOT / "infra" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    if match is None:
        raise RuntimeError("no <kafka.version> in infra/kafka/pom.xml")
    return match.group(1).strip()


def kafka_image() -> str:
    return os.environ.get(ENV_KAFKA_IMAGE) or f"apache/kafka:{kafka_version()}"


def postgres_image() -> str:
    return os.environ.get(ENV_POSTGRES_IMAGE) or "postgres:16-alpine"


# --- Docker detection --------------------------------------------------------------------------


def docker_engine() -> tuple[bool, str]:
    """Whether a Docker engine answers, and why not; cheap (a ping with a 3 s timeout)."""
    if _flag(ENV_NO_DOCKER):
        return False, f"Docker not tried ({ENV_NO_DOCKER} is set)"
    try:
        # The same client testcontainers will use: it also honours ~/.testcontainers.properties
        # and docker contexts, which a bare docker.from_env() would not.
        from testcontainers.core.docker_client import DockerClient
    except ImportError as exc:
        return False, f"testcontainers is not installed ({exc})"
    try:
        client = DockerClient(timeout=3)
        try:
            client.client.ping()
        finally:
            client.client.close()
    except Exception as exc:
        return False, f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return True, "Docker engine answers"


# --- checks of given endpoints -----------------------------------------------------------------


def check_kafka_bootstrap(bootstrap: str, timeout: float = 5.0) -> None:
    """Raise ServiceUnavailable unless some host:port of ``bootstrap`` accepts TCP."""
    errors: list[str] = []
    for entry in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, _, port = entry.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{entry}: {exc}")
    raise ServiceUnavailable(f"Kafka at {bootstrap!r} does not answer ({'; '.join(errors)})")


def normalise_postgres_url(url: str) -> str:
    """Drop a SQLAlchemy-style driver suffix (``postgresql+psycopg://``) that libpq rejects."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ServiceUnavailable(f"not a PostgreSQL URL: {url!r}")
    return urlunsplit(parts._replace(scheme=scheme))


def check_postgres(url: str, timeout: int = 5) -> None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise ServiceUnavailable(f"PostgreSQL at {redact(url)} does not answer ({exc})") from exc


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --- per-test databases ------------------------------------------------------------------------


def database_url_for(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def create_database(server_url: str, prefix: str = "orderhub_t_") -> str:
    """Create an empty database on the server of ``server_url``; return its URL."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        # template0: the copy is pristine even if someone installed objects into template1.
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return database_url_for(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        # FORCE: a test that leaked a connection (or a worker still shutting down) must not
        # leave its database behind.
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- the project's scripts ---------------------------------------------------------------------


def run_script(script: Path, *args: str, timeout: float) -> str:
    """Run an infra script; return its stdout (the address). Its stderr goes to ours, so the CI
    log shows what the script did (Maven fetch, broker start, cluster start)."""
    try:
        completed = subprocess.run(
            ["bash", str(script), *args],
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailable(
            f"{script.name} {' '.join(args)} timed out after {timeout:g} s"
        ) from exc
    if completed.returncode != 0:
        raise ServiceUnavailable(
            f"{script.relative_to(REPO_ROOT)} {' '.join(args)} exited with {completed.returncode}"
            " (its log is above)"
        )
    return completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""


def _script_status(script: Path) -> str | None:
    completed = subprocess.run(
        ["bash", str(script), "status"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=60,
        check=False,
    )
    out = completed.stdout.strip()
    return out if completed.returncode == 0 and out else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class LocalKafka:
    """A lease on the broker of ``infra/kafka.sh``, shared by concurrent harness sessions."""

    def __init__(self) -> None:
        root = services_dir()
        self._lock = root / "harness" / "kafka.lock"
        self._leases = root / "harness" / "kafka-leases"
        self._lease = self._leases / str(os.getpid())
        # Holds the pid of the broker a harness started; absent for a broker started by hand.
        self._marker = root / "harness" / "kafka-started-by-harness"
        self._broker_pid = root / "kafka" / "pid"

    def acquire(self) -> str:
        with _locked(self._lock):
            address = _script_status(KAFKA_SCRIPT)
            if address is not None:
                _log(f"Kafka: using the broker already running at {address} (infra/kafka.sh)")
            else:
                _log("Kafka: starting the broker from Maven jars with infra/kafka.sh start")
                self._marker.unlink(missing_ok=True)
                address = run_script(KAFKA_SCRIPT, "start", timeout=KAFKA_START_TIMEOUT)
                pid = _read_int(self._broker_pid)
                if pid is not None:
                    self._marker.parent.mkdir(parents=True, exist_ok=True)
                    self._marker.write_text(f"{pid}\n")
                _log(f"Kafka: broker started from Maven jars at {address}")
            self._leases.mkdir(parents=True, exist_ok=True)
            self._lease.touch()
            return address

    def release(self) -> None:
        with _locked(self._lock):
            self._lease.unlink(missing_ok=True)
            others = 0
            for lease in self._leases.glob("*"):
                pid = int(lease.name) if lease.name.isdigit() else None
                if pid is not None and _pid_alive(pid):
                    others += 1
                else:
                    lease.unlink(missing_ok=True)  # left by a session that was killed
            if others:
                _log(f"Kafka: {others} other test session(s) still use the broker; leaving it")
                return
            started_pid = _read_int(self._marker)
            if started_pid is None:
                _log("Kafka: broker was not started by the harness; leaving it running")
                return
            if started_pid != _read_int(self._broker_pid):
                self._marker.unlink(missing_ok=True)
                _log("Kafka: broker was restarted outside the harness; leaving it running")
                return
            _log("Kafka: stopping the broker the harness started (infra/kafka.sh stop)")
            run_script(KAFKA_SCRIPT, "stop", timeout=STOP_TIMEOUT)
            self._marker.unlink(missing_ok=True)


# --- the session's services --------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    address: str
    origin: str


CaptureSuspender = Callable[[], AbstractContextManager[object]]


class Services:
    """Resolves each service once per session, on first use, and cleans up what it started.

    A failure is remembered too, so a session with no broker fails (or skips) every Kafka test
    at once instead of retrying a slow start for each of them.
    """

    def __init__(self, suspend_capture: CaptureSuspender | None = None) -> None:
        # Starting and stopping print progress that belongs in the live log (CI shows how the
        # broker came up), not in one test's captured output.
        self._suspend_capture: CaptureSuspender = suspend_capture or contextlib.nullcontext
        self._cleanup = ExitStack()
        self._results: dict[str, Endpoint | ServiceUnavailable] = {}
        self._docker: tuple[bool, str] | None = None

    def kafka(self) -> Endpoint:
        return self._resolve("kafka", self._find_kafka)

    def postgres(self) -> Endpoint:
        return self._resolve("postgres", self._find_postgres)

    def close(self) -> None:
        with self._suspend_capture():
            self._cleanup.close()

    def _resolve(self, key: str, find: Callable[[], Endpoint]) -> Endpoint:
        if key not in self._results:
            with self._suspend_capture():
                try:
                    self._results[key] = find()
                except ServiceUnavailable as exc:
                    self._results[key] = exc
        result = self._results[key]
        if isinstance(result, ServiceUnavailable):
            raise result
        return result

    def _docker_engine(self) -> tuple[bool, str]:
        if self._docker is None:
            self._docker = docker_engine()
            _log(f"Docker: {self._docker[1]}")
        return self._docker

    def _find_kafka(self) -> Endpoint:
        given = os.environ.get(ENV_KAFKA_BOOTSTRAP, "").strip()
        if given:
            check_kafka_bootstrap(given)
            _log(f"Kafka: using {given} from {ENV_KAFKA_BOOTSTRAP}")
            return Endpoint(given, ENV_KAFKA_BOOTSTRAP)
        tried: list[str] = []
        docker_ok, docker_reason = self._docker_engine()
        if docker_ok:
            image = kafka_image()
            try:
                from tests.harness.containers import start_kafka

                _log(f"Kafka: starting container {image} (testcontainers)")
                container = start_kafka(image)
            except Exception as exc:
                tried.append(f"container {image} failed: {type(exc).__name__}: {exc}")
                _log(f"Kafka: {tried[-1]}")
            else:
                self._cleanup.callback(container.stop)
                address = container.get_bootstrap_server()
                _log(f"Kafka: container {image} answers at {address}")
                return Endpoint(address, f"testcontainers {image}")
        else:
            tried.append(docker_reason)
        if _flag(ENV_NO_LOCAL_SERVICES):
            tried.append(f"infra/kafka.sh not tried ({ENV_NO_LOCAL_SERVICES} is set)")
        else:
            local = LocalKafka()
            try:
                address = local.acquire()
            except ServiceUnavailable as exc:
                tried.append(str(exc))
            else:
                self._cleanup.callback(local.release)
                return Endpoint(address, "infra/kafka.sh")
        raise ServiceUnavailable(
            f"no Kafka broker for this test: {ENV_KAFKA_BOOTSTRAP} is not set; " + "; ".join(tried)
        )

    def _find_postgres(self) -> Endpoint:
        given = os.environ.get(ENV_DATABASE_URL, "").strip()
        if given:
            url = normalise_postgres_url(given)
            check_postgres(url)
            _log(f"PostgreSQL: using {redact(url)} from {ENV_DATABASE_URL}")
            return Endpoint(url, ENV_DATABASE_URL)
        tried: list[str] = []
        docker_ok, docker_reason = self._docker_engine()
        if docker_ok:
            image = postgres_image()
            try:
                from tests.harness.containers import start_postgres

                _log(f"PostgreSQL: starting container {image} (testcontainers)")
                container, url = start_postgres(image)
            except Exception as exc:
                tried.append(f"container {image} failed: {type(exc).__name__}: {exc}")
                _log(f"PostgreSQL: {tried[-1]}")
            else:
                self._cleanup.callback(container.stop)
                _log(f"PostgreSQL: container {image} answers at {redact(url)}")
                return Endpoint(url, f"testcontainers {image}")
        else:
            tried.append(docker_reason)
        if _flag(ENV_NO_LOCAL_SERVICES):
            tried.append(f"infra/postgres.sh not tried ({ENV_NO_LOCAL_SERVICES} is set)")
        else:
            try:
                _log("PostgreSQL: infra/postgres.sh start")
                url = run_script(POSTGRES_SCRIPT, "start", timeout=POSTGRES_START_TIMEOUT)
                check_postgres(url)
            except ServiceUnavailable as exc:
                tried.append(str(exc))
            else:
                # Left running at the end of the session: see the module docstring.
                _log(f"PostgreSQL: started/found with infra/postgres.sh at {redact(url)}")
                return Endpoint(url, "infra/postgres.sh")
        raise ServiceUnavailable(
            f"no PostgreSQL server for this test: {ENV_DATABASE_URL} is not set; "
            + "; ".join(tried)
        )


def unique_topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."
