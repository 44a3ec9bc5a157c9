"""The flow's stage table: each stage over the orders that have both of its ends."""

from typing import Any

from benchmarks.flow_trace import sample, stage_table


def _order(offset: float) -> dict[str, float]:
    base = 1000.0 + offset
    return {
        "due": base,
        "ack": base + 0.012,
        "submitted": base + 0.010,
        "placed": base + 0.040,
        "placed out": base + 0.050,
        "placed seen": base + 0.052,
        "decided": base + 0.080,
        "decided out": base + 0.090,
        "decided seen": base + 0.093,
    }


def _p50(table: dict[str, Any], stage: str) -> float:
    return float(next(s["p50"] for s in table["stages"] if s["stage"] == stage))


def test_with_commit_times_the_saves_are_split_from_the_relays_hops() -> None:
    found = {"a": _order(0.0), "b": _order(1.0)}
    saved = {"a": (1000.045, 1000.084), "b": (1001.045, 1001.084)}
    table = stage_table(found, saved)
    assert table["commit_times"] is True
    assert round(_p50(table, "placed → stored"), 3) == 5.0
    assert round(_p50(table, "stored → placed out"), 3) == 5.0
    assert round(_p50(table, "decided stored → decided out"), 3) == 6.0
    assert round(_p50(table, "due → decided seen"), 3) == 93.0


def test_without_them_each_save_is_given_with_its_relay_hop() -> None:
    table = stage_table({"a": _order(0.0)}, {})
    names = [s["stage"] for s in table["stages"]]
    assert "placed → placed out" in names and "placed → stored" not in names
    assert round(_p50(table, "submitted → placed"), 3) == 30.0


def test_an_order_without_an_end_is_left_out_of_that_stage_only() -> None:
    kafka_order = _order(2.0)
    del kafka_order["ack"]  # sent on a channel topic: no REST answer
    table = stage_table({"a": _order(0.0), "k": kafka_order}, {})
    counts = {s["stage"]: s["orders"] for s in table["stages"]}
    assert counts["due → ack"] == 1
    assert counts["due → submitted"] == 2


def test_a_long_step_is_traced_over_an_even_sample_of_its_orders() -> None:
    ids = [f"o{i}" for i in range(120_001)]

    traced = sample(ids, 50_000)

    assert 40_000 <= len(traced) <= 50_000
    assert traced[0] == "o0" and traced[-1] in ids[-3:]
    assert sample(ids[:50_000], 50_000) == ids[:50_000]
