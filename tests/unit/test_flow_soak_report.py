"""benchmarks.flow_soak_report: a soak's series cut by decided orders, CPU per order, floors."""

from typing import Any

from benchmarks.flow_soak_report import MB, cost, floors, windows


def sample(t: float, decided: int, cpu: float, rss_mb: float) -> dict[str, Any]:
    return {
        "t": t,
        "wall": 1000 + t,
        "sent": decided + 10,
        "routed": decided - 1,
        "held": 1,
        "requested": decided,
        "worker orchestration": {"rss": int(rss_mb * MB), "cpu": cpu, "n": 1},
    }


def test_windows_cut_where_the_decided_count_crosses_each_multiple() -> None:
    series = [sample(t, d, 0.0, 100) for t, d in enumerate([0, 400, 900, 1100, 1500, 2300])]
    cut = windows(series, 1000, skip=0)
    assert [[s["routed"] + s["held"] for s in w] for w in cut] == [
        [0, 400, 900, 1100],
        [1100, 1500, 2300],
    ]


def test_cost_is_cpu_ms_per_decided_order_and_none_after_a_restart() -> None:
    name = "worker orchestration"
    window = [sample(0, 0, 10.0, 100), sample(10, 500, 12.5, 90)]
    row = cost(window, [name])
    assert row["per_s"] == 50.0
    assert row[name] == 5.0  # 2.5 s of CPU over 500 orders
    restarted = [sample(0, 0, 10.0, 100), sample(10, 500, 1.0, 90)]
    assert cost(restarted, [name])[name] is None


def test_floor_is_the_lowest_sample() -> None:
    window = [sample(0, 0, 0, 120), sample(1, 10, 0, 95.5), sample(2, 20, 0, 130)]
    assert floors(window, ["worker orchestration", "gone"]) == {
        "worker orchestration": 95.5,
        "gone": None,
    }
