"""The domain does no I/O and reads no clock: aggregates/ and orchestration_policies/ are pure."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("aggregates", "orchestration_policies")

FORBIDDEN_MODULES = frozenset(
    {
        "aiokafka",
        "faust",
        "fastapi",
        "psycopg",
        "sqlite3",
        "httpx",
        "requests",
        "socket",
        "uvicorn",
        "starlette",
        "urllib.request",
        "asyncio",
        "os",
        "subprocess",
    }
)
CLOCK_READS = frozenset({"now", "utcnow"})


def _is_forbidden(module: str) -> bool:
    return any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN_MODULES)


def violations(source: str) -> list[str]:
    """Every forbidden import and every datetime.now()/utcnow() call in a module's source."""
    tree = ast.parse(source)
    found: list[str] = []
    # Names under which the datetime module or class is reachable in this module.
    datetime_modules: set[str] = set()
    datetime_classes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_forbidden(alias.name):
                    found.append(f"line {node.lineno}: import {alias.name}")
                if alias.name == "datetime":
                    datetime_modules.add(alias.asname or "datetime")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_forbidden(node.module):
                found.append(f"line {node.lineno}: from {node.module} import …")
            for alias in node.names:
                if _is_forbidden(f"{node.module}.{alias.name}"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                if node.module == "datetime" and alias.name == "datetime":
                    datetime_classes.add(alias.asname or "datetime")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in CLOCK_READS:
            continue
        receiver = node.func.value
        if (isinstance(receiver, ast.Name) and receiver.id in datetime_classes) or (
            isinstance(receiver, ast.Attribute)
            and receiver.attr == "datetime"
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id in datetime_modules
        ):
            found.append(f"line {node.lineno}: reads the clock with .{node.func.attr}()")
    return found


def _pure_modules() -> list[Path]:
    return sorted(
        path
        for package in PURE_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def test_the_pure_packages_are_found() -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in _pure_modules()}

    assert {"aggregates/order.py", "aggregates/contract.py"} <= modules


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_pure_module_imports_no_io_library_and_reads_no_clock(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


# The checker itself, so that a green run above means something.


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "import asyncio as aio",
        "from socket import create_connection",
        "import urllib.request",
        "from urllib.request import urlopen",
        "from urllib import request",
        "from psycopg.rows import dict_row",
        "from faust import App",
        "def f():\n    import subprocess",
        "from datetime import datetime\nt = datetime.now()",
        "from datetime import datetime as dt\nt = dt.utcnow()",
        "import datetime\nt = datetime.datetime.now(datetime.UTC)",
        "import datetime as d\nt = d.datetime.utcnow()",
    ],
)
def test_the_checker_catches_io_imports_and_clock_reads(source: str) -> None:
    assert violations(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import UTC, datetime, timedelta\nt = datetime.fromisoformat('2026-11-20')",
        "import importlib.resources\ntext = importlib.resources.files('orchestration_policies')",
        "from importlib import resources",
        "import osmosis",
        "from urllib.parse import urlsplit",
        "from eventsourcing.domain import Aggregate, event",
        "from . import inputs",
        "def decide(now):\n    return now.now()",
    ],
)
def test_the_checker_lets_pure_code_through(source: str) -> None:
    assert violations(source) == []
