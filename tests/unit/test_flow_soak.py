"""benchmarks.flow_soak: a soak ends when asked, and its memory tracing in the hub's processes."""

import asyncio
import json
import os
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import pytest

from benchmarks.flow_load import Sender
from benchmarks.flow_soak import soak_seconds, trace_memory_env


class _NoOrders:
    def order(self, *args: object) -> dict[str, object]:
        raise AssertionError("no order is offered while held")


def test_a_soak_cut_by_minutes_lasts_those_minutes_not_all_its_orders() -> None:
    # 1 M orders at 400/s are 2,500 s: `--soak-minutes 25` makes the step 1,500 s long.
    assert soak_seconds(Namespace(orders=1_000_000, soak_minutes=25), 400) == 1_500
    assert soak_seconds(Namespace(orders=1_000_000, soak_minutes=0), 400) == 2_500
    assert soak_seconds(Namespace(orders=6_000, soak_minutes=25), 400) == 15


@pytest.mark.asyncio
async def test_a_held_sender_stops_at_the_soaks_end() -> None:
    # A hub that stopped deciding holds the sender; the soak's end still ends the offering.
    sender = Sender("http://127.0.0.1:9", _NoOrders(), 4, 0.0, None, None)  # type: ignore[arg-type]
    sender.hold = lambda: True
    sender.stop_at = time.perf_counter() + 0.2
    await asyncio.wait_for(sender.open_loop(100, 60, 64, time.perf_counter()), 5)
    assert not sender.sent.due


def test_traced_processes_write_snapshots_and_malloc_figures(tmp_path: Path) -> None:
    args = Namespace(
        trace_memory="projections", census_memory="", trace_dir=tmp_path, trace_every=0.5
    )
    env = os.environ | trace_memory_env(args) | {"ORDERHUB_TRACE_START": "0"}
    script = "import time; kept = [bytes(1000) for _ in range(2000)]; time.sleep(4)"
    for role in ("projections", "relay"):  # relay is not asked for: never traced
        subprocess.run([sys.executable, "-c", script, "--role", role], env=env, check=True)
    logs = list(tmp_path.glob("*.jsonl"))
    assert [p.name.split("-")[0] for p in logs] == ["projections"]
    lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert len(lines) >= 2
    assert lines[0]["traced"] > 0 and lines[0]["rss"] > lines[0]["traced"]
    assert lines[0]["malloc"]["uordblks"] > 0
    # the last snapshot may be written without its line when the process ends
    assert len(list(tmp_path.glob("projections-*.snap"))) - len(lines) in (0, 1)
