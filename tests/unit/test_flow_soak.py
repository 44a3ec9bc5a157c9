"""benchmarks.flow_soak: a soak ends when asked, its pace, and its memory tracing in the hub's
processes."""

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import time
import types
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from benchmarks import soak_connector
from benchmarks.flow_hub import Seen
from benchmarks.flow_load import Sender
from benchmarks.flow_rest import Rests, ask_snapshots, show_rest
from benchmarks.flow_soak import pacing, rest_marks, soak_seconds, trace_memory_env, write_series
from benchmarks.network import Network, StockRow
from benchmarks.projections_memory import split_at_order
from benchmarks.soak_connector import count, receipt
from benchmarks.soak_lag import LagBound
from benchmarks.soak_trace import soak_tracer
from connectors.consumed import ConsumedMessage
from hub import free_memory
from schemas.event_types import EventType
from schemas.sources import StockDelta, StockSnapshot


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


def _traced(tmp_path: Path, role: str, census: str = "", seconds: float = 4.0) -> subprocess.Popen:
    args = Namespace(
        trace_memory="projections", census_memory=census, trace_dir=tmp_path, trace_every=60
    )
    env = os.environ | trace_memory_env(args) | {"ORDERHUB_TRACE_START": "0"}
    script = f"import time; kept = [bytes(1000) for _ in range(2000)]; time.sleep({seconds})"
    return subprocess.Popen([sys.executable, "-c", script, "--role", role], env=env)


def _lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_traced_processes_snapshot_at_start_and_when_asked(tmp_path: Path) -> None:
    traced = _traced(tmp_path, "projections")
    untraced = _traced(tmp_path, "relay")  # not asked for: never traced
    time.sleep(2.5)
    ask_snapshots(tmp_path)  # what the soak does at rest: a snapshot within a second
    assert traced.wait(10) == 0 and untraced.wait(10) == 0
    logs = list(tmp_path.glob("*.jsonl"))
    assert [p.name.split("-")[0] for p in logs] == ["projections"]
    lines = _lines(logs[0])
    assert [line["asked"] for line in lines] == [False, True]
    assert lines[0]["traced"] > 0 and lines[0]["rss"] > lines[0]["traced"]
    assert lines[0]["malloc"]["uordblks"] > 0
    assert sorted(p.name for p in tmp_path.glob("*.snap")) == [
        f"{logs[0].stem}-000.snap",
        f"{logs[0].stem}-001.snap",
    ]


def test_a_census_counts_objects_by_type_without_tracemalloc(tmp_path: Path) -> None:
    counted = _traced(tmp_path, "orchestration", census="orchestration", seconds=2.5)
    assert counted.wait(10) == 0
    (log,) = tmp_path.glob("orchestration-*.jsonl")
    line = _lines(log)[0]
    assert "traced" not in line and line["types"]["function"] > 0
    assert line["listed_reservations"] == 0  # nothing routed: no stock item held
    assert not list(tmp_path.glob("*.snap"))


THREADS_ALLOCATE = """
import threading, time
from benchmarks.soak_trace.memory_map import resident_of
def work():
    kept = [bytes(2000) for _ in range(5000)]
    time.sleep(0.3)
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(resident_of()["malloc threads"])
"""


@pytest.mark.skipif(free_memory._MALLOPT is None, reason="no mallopt (not glibc)")
@pytest.mark.parametrize(("role", "heaps"), [("orchestration", False), ("serve", True)])
def test_a_census_leaves_a_batch_role_on_one_malloc_arena(
    tmp_path: Path, role: str, heaps: bool
) -> None:
    # The tracer's thread starts before the role sets one arena itself: it had an arena of its
    # own, and glibc handed it round to the role's later threads (soak25). serve keeps glibc's
    # arenas, traced or not.
    args = Namespace(trace_memory="", census_memory=role, trace_dir=tmp_path, trace_every=60)
    env = os.environ | trace_memory_env(args) | {"ORDERHUB_TRACE_START": "0"}
    env.pop("MALLOC_ARENA_MAX", None)
    env.pop("GLIBC_TUNABLES", None)
    argv = [sys.executable, "-c", THREADS_ALLOCATE, "--role", role]
    if role == "serve":
        argv = [sys.executable, "-c", THREADS_ALLOCATE, "serve"]
    ran = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=True)
    assert (int(ran.stdout.split()[-1]) > 0) is heaps


def test_growth_at_rest_is_given_per_100k_orders() -> None:
    before = {"floor_mb": {"worker projections": 100.0, "relay": 90.0}}
    after = {"floor_mb": {"worker projections": 105.0, "relay": 89.0, "worker new": 50.0}}
    growth = show_rest(before, after, 50_000)
    assert growth["worker projections"]["per_100k_orders"] == 10.0
    assert growth["relay"]["per_100k_orders"] == -2.0
    assert "worker new" not in growth  # no floor before: nothing to compare


def test_the_projections_memory_probe_splits_at_the_first_order_after_the_warm_up() -> None:
    def record(n: int, kind: str) -> ConsumedMessage:
        return ConsumedMessage("t", 0, n, None, b"{}", (("ce_type", kind.encode()),))

    placed, other = EventType.ORDER_PLACED.value, EventType.ORDER_ROUTED.value
    records = [record(n, k) for n, k in enumerate([placed, other, placed, other, placed])]
    assert split_at_order(records, 1) == 2  # the second order's first record
    assert split_at_order(records, 3) == len(records)  # fewer orders: nothing after


def _soaking(sent: int, decided: int) -> Any:
    sender = Sender("http://127.0.0.1:9", _NoOrders(), 4, 0.0, None, None)  # type: ignore[arg-type]
    sender.sent.due = {f"o{n}": 0.0 for n in range(sent)}
    seen = Seen(routed={f"o{n}": 0.0 for n in range(decided)})
    return Namespace(sender=sender, hub=Namespace(seen=seen))


def test_the_pace_holds_on_a_lagging_role_though_orders_are_decided() -> None:
    # soak7's pace: every order decided, the fulfillment role minutes behind, nothing held.
    s = _soaking(sent=1000, decided=990)
    bound = LagBound(records=5000, seconds=30)
    hold = pacing(s, 1500, bound)
    assert hold is not None
    bound.observe(0, {"orchestration": 0, "fulfillment": 40_000})
    assert not hold()  # not for 30 s yet
    bound.observe(31, {"orchestration": 0, "fulfillment": 45_000})
    assert hold()
    bound.observe(60, {"orchestration": 0, "fulfillment": 4_000})
    assert not hold()
    assert hold is not None and not pacing(_soaking(100, 100), 0, None)
    assert pacing(_soaking(3000, 1000), 1500, None)() is True  # type: ignore[misc]


def test_orders_the_hub_shed_or_refused_do_not_hold_the_pace() -> None:
    # A saturated hub answers some orders 429: they are never decided, and counted as
    # undecided they held the offering for good once there were `--soak-behind` of them.
    s = _soaking(sent=3000, decided=1000)
    hold = pacing(s, 1500, None)
    assert hold is not None and hold()  # 2,000 without a decision
    s.sender.sent.shed = {f"o{n}": 0.1 for n in range(1000, 1400)}
    assert hold()  # 1,600
    s.sender.sent.failed = {f"o{n}": "HTTP 500" for n in range(1400, 1600)}
    assert not hold()  # 1,400


def test_sigint_ends_a_run_started_with_sigint_ignored() -> None:
    # What `cmd &` in a non-interactive shell hands a soak: SIGINT ignored, which Python keeps.
    script = (
        "import asyncio, time; from benchmarks.flow_soak import interruptible; interruptible()\n"
        "async def main():\n"
        "    print('ready', flush=True)\n"
        "    try:\n"
        "        await asyncio.sleep(30)\n"
        "    finally:\n"
        "        print('cleaned', flush=True)\n"
        "asyncio.run(main())\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert run.stdout is not None and run.stdout.readline() == "ready\n"
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=10)
    assert out == "cleaned\n" and "KeyboardInterrupt" in err


def test_a_soak_receipt_is_a_delta_the_stock_feed_takes() -> None:
    taken = StockDelta.model_validate(receipt("wh-1", "SKU-1", 3))
    assert (taken.source_id, taken.sku, taken.delta) == ("wh-1", "SKU-1", 3)


@pytest.mark.asyncio
async def test_an_embedded_soak_restocks_over_rest_without_a_kafka_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedded hub has no topics: the soak's network used to start a Kafka producer for
    its restocks whatever `--updates-via`, and an embedded soak failed at its start."""
    posted: list[tuple[str, dict[str, Any]]] = []

    async def post_all(base: str, requests: Any, concurrency: int) -> tuple[int, float]:
        posted.extend(requests)
        return 0, 0.0

    monkeypatch.setattr(soak_connector, "post_all", post_all)
    monkeypatch.setattr(soak_connector, "Shipper", lambda *args: None)
    stock = [StockRow("wh-1", "SKU-1", 7), StockRow("st-2", "SKU-2", 3)]
    network = Network(sources=[], stock=stock, skus=["SKU-1", "SKU-2"])
    hub = Namespace(base="http://127.0.0.1:1", settings=Namespace(kafka_bootstrap=None))
    args = Namespace(
        updates_via="rest", restock=60.0, ship=1.0, seed=7, receive=0.0, cancel_after=0.0,
        spread=False,
    )  # fmt: skip
    net = soak_connector.Connector(hub, network, args)  # type: ignore[arg-type]
    await net.start()
    net._shipped_rows = {("wh-1", "SKU-1"), ("st-2", "SKU-2")}
    await net.restock()

    assert [path for path, _ in posted] == [soak_connector.BULK]
    rows = posted[0][1]["rows"]
    assert rows == [count("st-2", "SKU-2", 3), count("wh-1", "SKU-1", 7)]
    assert [StockSnapshot.model_validate(r).on_hand for r in rows] == [3, 7]
    assert net.restocked == 2 and net.receipts_failed == 0


def test_the_largest_containers_include_a_frozen_modules_cache() -> None:
    """A worker freezes what its start made (hub.collector): a module's cache is then in no
    list `gc.get_objects()` gives, and a dict of plain values is not tracked at all."""
    module = types.ModuleType("soak_census_probe")
    module.__dict__["_CACHE"] = {f"key-{n}": n for n in range(60_000)}
    sys.modules[module.__name__] = module
    gc.collect()
    gc.freeze()
    try:
        largest = soak_tracer._largest(top=3, owned=0)
    finally:
        gc.unfreeze()
        del sys.modules[module.__name__]
    assert {"type": "dict", "len": 60_000, "at": "soak_census_probe._CACHE"} in [
        {k: e.get(k) for k in ("type", "len", "at")} for e in largest
    ]


def test_a_rest_midway_holds_the_pace_and_its_marks_are_read_in_order() -> None:
    s = _soaking(sent=1000, decided=1000)
    rests = Rests([100_000])
    hold = pacing(s, 1500, None, rests)
    assert hold is not None and not hold()
    rests.holding = True
    assert hold()
    assert rest_marks(Namespace(soak_rest_at="300_000, 100000", soak_rest=45)) == [
        100_000,
        300_000,
    ]
    with pytest.raises(SystemExit):
        rest_marks(Namespace(soak_rest_at="100000", soak_rest=0))
    with pytest.raises(SystemExit):
        rest_marks(Namespace(soak_rest_at="100,000", soak_rest=45))


@pytest.mark.asyncio
async def test_the_series_writes_a_line_at_each_mark_of_a_rest(tmp_path: Path) -> None:
    # Sampled every 60 s, the rest's start and end still get a line each, at once: the report
    # takes the time between them out of its windows.
    s = _soaking(sent=10, decided=10)
    s.hub.pids = dict
    rests = Rests()
    path = tmp_path / "series.jsonl"
    writing = asyncio.create_task(write_series(s, 60.0, path, None, rests))
    await asyncio.sleep(0.05)
    rests.mark("start")
    await asyncio.sleep(0.05)
    rests.mark("end")
    await asyncio.sleep(0.05)
    rests.mark("start")
    rests.mark("end")
    writing.cancel()  # at once, as the soak's end does after its last rest
    await asyncio.gather(writing, return_exceptions=True)
    marks = [line.get("rest") for line in _lines(path)]
    assert marks == [None, "start", "end", "start", "end"]
    assert rests.phase is None
    assert await Rests().next(0.01) is None
    idle = Rests()
    idle.mark("start")
    assert [await idle.next(0.01), await idle.next(0.01)] == ["start", "idle"]
