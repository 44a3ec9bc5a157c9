"""Services for benchmarks: the same scripts the tests use, or endpoints from the environment."""

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent


def kafka_bootstrap() -> str:
    given = os.environ.get("ORDERHUB_BENCH_KAFKA_BOOTSTRAP")
    if given:
        return given
    out = subprocess.run(
        ["bash", str(REPO / "infra" / "kafka.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def postgres_server() -> str:
    given = os.environ.get("ORDERHUB_BENCH_DATABASE_URL")
    if given:
        return given
    out = subprocess.run(
        ["bash", str(REPO / "infra" / "postgres.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def fresh_database(server_url: str) -> str:
    name = f"orderhub_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database() -> Iterator[tuple[str, str]]:
    """The server's URL and a fresh database's on it, dropped afterwards."""
    server = postgres_server()
    url = fresh_database(server)
    try:
        yield server, url
    finally:
        drop_database(server, url)
