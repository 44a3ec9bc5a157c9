"""The flow benchmark's read-back: how soon an acknowledged order's view answers."""

import math

import pytest
from aiohttp import web

from benchmarks import flow_load
from benchmarks.flow_load import Sender, Sent


class _NoOrders:
    def order(self, *args: object) -> dict[str, object]:
        raise AssertionError("not used")


async def _server(answers: list[int]) -> tuple[web.AppRunner, str, list[str]]:
    asked: list[str] = []

    async def order(request: web.Request) -> web.Response:
        asked.append(request.match_info["order_id"])
        status = answers.pop(0) if answers else 200
        return web.json_response({"status": "routed"}, status=status)

    app = web.Application()
    app.router.add_get("/v1/orders/{order_id}", order)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", asked


@pytest.mark.asyncio
async def test_an_order_is_read_back_until_its_view_answers(monkeypatch) -> None:
    monkeypatch.setattr(flow_load, "READ_BACK_PAUSE", 0.01)
    runner, base, asked = await _server([404, 404, 200])
    try:
        async with Sender(base, _NoOrders(), 4, 0.0, None, None) as sender:  # type: ignore[arg-type]
            await sender._read_back("o-1")
        assert asked == ["o-1", "o-1", "o-1"]
        assert 0.02 <= sender.sent.readable["o-1"] < 1.0
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_an_order_never_readable_counts_as_unread(monkeypatch) -> None:
    monkeypatch.setattr(flow_load, "READ_BACK_PAUSE", 0.01)
    monkeypatch.setattr(flow_load, "READ_BACK_LIMIT", 0.1)
    runner, base, _ = await _server([404] * 1000)
    try:
        async with Sender(base, _NoOrders(), 4, 0.0, None, None) as sender:  # type: ignore[arg-type]
            await sender._read_back("o-2")
        assert sender.sent.readable["o-2"] == math.inf
    finally:
        await runner.cleanup()


def test_a_step_gives_the_read_backs_of_its_window_only() -> None:
    sent = Sent()
    for n, seconds in enumerate([0.1, 0.2, 0.3, math.inf]):
        sent.due[f"o{n}"] = float(n)
        sent.readable[f"o{n}"] = seconds
    sent.readable["other"] = 5.0
    stats = sent.shed_stats(["o0", "o1", "o2", "o3"], ["o0", "o1", "o2"], 1.0, 0, lambda _: 1.0)
    assert stats["readable_probed"] == 3
    assert stats["readable_ms"][50] == pytest.approx(200.0)
    assert stats["readable_ms"][100] == pytest.approx(300.0)


def test_every_acknowledged_order_s_way_to_kafka_not_only_the_read_backs() -> None:
    """A stall of a second shows in the tail of every order's ack → `Placed`, which the one
    order in 50 read back can miss."""
    sent = Sent()
    placed: dict[str, float] = {}
    for n in range(1000):
        sent.due[f"o{n}"] = float(n)
        sent.answered[f"o{n}"] = 0.01
        placed[f"o{n}"] = n + 0.01 + (1.1 if 500 <= n < 502 else 0.05)
    sent.readable["o0"] = 0.06  # the one read back did not meet the stall
    stats = sent.placed_stats([f"o{n}" for n in range(1000)] + ["unplaced"], placed)
    assert stats["placed_ms"][100] == pytest.approx(50.0)
    assert stats["ack_to_placed_n"] == 1000
    assert stats["ack_to_placed_over_500"] == 2
    assert stats["ack_to_placed_ms"][50] == pytest.approx(50.0)
    assert stats["ack_to_placed_ms"][99.9] == pytest.approx(1100.0)
    assert stats["ack_to_placed_ms"][100] == pytest.approx(1100.0)
