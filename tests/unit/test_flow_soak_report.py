"""benchmarks.flow_soak_report: a soak's series cut by decided orders, CPU per order, floors,
each role's lag, and CPU by the work each role did."""

from typing import Any

from benchmarks.flow_soak_report import (
    MB,
    cost,
    floors,
    lag_rows,
    per_order,
    processes,
    under_load,
    windows,
    without_rests,
    work_rows,
)
from benchmarks.soak_lag import LagBound


def sample(t: float, decided: int, cpu: float, rss_mb: float) -> dict[str, Any]:
    return {
        "t": t,
        "wall": 1000 + t,
        "sent": decided + 10,
        "routed": decided - 1,
        "held": 1,
        "requested": decided,
        "shed": 3,
        "failed": 0,
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


def test_the_processes_are_the_groups_not_the_counts() -> None:
    assert processes([sample(0, 0, 0, 100)]) == ["worker orchestration"]


def test_floor_is_the_lowest_sample() -> None:
    window = [sample(0, 0, 0, 120), sample(1, 10, 0, 95.5), sample(2, 20, 0, 130)]
    assert floors(window, ["worker orchestration", "gone"]) == {
        "worker orchestration": 95.5,
        "gone": None,
    }
    # Anonymous memory where the series has it; a series without it has no such floor.
    for n, mb in enumerate([80, 70, 75]):
        window[n]["worker orchestration"]["anon"] = int(mb * MB)
    assert floors(window, ["worker orchestration"], "anon") == {"worker orchestration": 70.0}
    assert floors(window[:0], ["worker orchestration"], "anon") == {"worker orchestration": None}


def lagged(t: float, decided: int, lag: dict[str, int], consumed: dict[str, int]) -> dict[str, Any]:
    """A sample with the roles' lag; each role's process used 1 ms of CPU per record consumed."""
    line = sample(t, decided, 0.0, 100) | {"lag": lag, "consumed": consumed}
    line.pop("worker orchestration")
    for role, done in consumed.items():
        name = "relay" if role == "relay" else f"worker {role}"
        line[name] = {"rss": 100 * MB, "cpu": done / 1000, "n": 1}
    return line


def test_a_role_over_its_bound_for_the_while_marks_the_window_and_is_named() -> None:
    series = [
        lagged(0, 0, {"relay": 0, "fulfillment": 0}, {"relay": 0, "fulfillment": 0}),
        lagged(30, 1000, {"relay": 10, "fulfillment": 3000}, {"relay": 3000, "fulfillment": 300}),
        lagged(60, 2000, {"relay": 10, "fulfillment": 6000}, {"relay": 6000, "fulfillment": 600}),
        lagged(90, 3000, {"relay": 5, "fulfillment": 8000}, {"relay": 9000, "fulfillment": 900}),
    ]
    rows = lag_rows(windows(series, 1000, skip=0), LagBound(records=2000, seconds=30))
    assert [r["lagging"] for r in rows] == ["—", "fulfillment", "fulfillment"]
    # 8,000 behind at 10 records/s in the window: 800 s of its own work behind.
    assert rows[-1]["furthest"] == "fulfillment 800 s"
    assert rows[-1]["fulfillment"] == 8000 and rows[-1]["relay"] == 5
    stuck = [series[0], lagged(30, 1000, {"relay": 10}, {"relay": 0})]
    assert lag_rows([stuck], LagBound(2000, 30))[0]["furthest"] == "relay ∞ (none consumed)"


def test_cpu_by_work_counts_a_lagging_roles_cost_per_record_it_consumed() -> None:
    # The role consumed 1 record per decided order in the first window, then fell behind
    # (0.25 per order), then caught up (1.75): its CPU per decided order swings 1 → 0.25 →
    # 1.75 ms, its CPU per record and per order's worth stay 1,000 µs and 1 ms.
    series = [
        lagged(0, 0, {"fulfillment": 0}, {"fulfillment": 0}),
        lagged(10, 1000, {"fulfillment": 0}, {"fulfillment": 1000}),
        lagged(20, 2000, {"fulfillment": 750}, {"fulfillment": 1250}),
        lagged(30, 3000, {"fulfillment": 0}, {"fulfillment": 3000}),
    ]
    cut = windows(series, 1000, skip=0)
    records = per_order(series)
    assert records == {"fulfillment": 1.0}
    names = ["worker fulfillment"]
    assert [cost(w, names)["worker fulfillment"] for w in cut] == [1.0, 0.25, 1.75]
    rows = work_rows(cut, names, records)
    assert [round(r["fulfillment µs/rec"]) for r in rows] == [1000, 1000, 1000]
    assert [round(r["by work"], 6) for r in rows] == [1.0, 1.0, 1.0]


def test_the_rests_before_and_after_are_not_in_the_windows() -> None:
    counts = [20, 20, 20, 500, 900, 950, 1000, 1000]
    series = [sample(t, d, 0.0, 100) for t, d in enumerate(counts)]
    kept = under_load(series)
    assert [s["t"] for s in kept] == [3, 4, 5]
    idle = [sample(t, 5, 0.0, 100) for t in range(3)]
    assert under_load(idle) == idle


def test_a_rest_midway_leaves_its_time_and_cpu_out_and_is_listed_with_its_floor() -> None:
    name = "worker orchestration"
    series = [
        sample(0, 0, 0.0, 100),
        sample(10, 500, 2.0, 100),
        sample(20, 1000, 4.0, 110) | {"rest": "start"},
        sample(35, 1000, 4.5, 90) | {"rest": "idle"},
        sample(50, 1000, 5.0, 95) | {"rest": "end"},
        sample(60, 1500, 7.0, 120),
        sample(70, 2000, 9.0, 120),
    ]
    kept, rests = without_rests(series)
    assert [s["t"] for s in kept] == [0, 10, 20, 30, 40]
    assert [s[name]["cpu"] for s in kept] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert all("rest" not in s for s in kept)
    # One window over the rest: 2,000 orders in 40 s of work, 4 ms of CPU each.
    row = cost(windows(kept, 10_000, skip=0)[0], [name])
    assert row["per_s"] == 50.0 and row[name] == 4.0
    assert [[s["t"] for s in r] for r in rests] == [[20, 35, 50]]
    assert floors(rests[0], [name]) == {name: 90.0}
    assert without_rests(series[:2]) == (series[:2], [])
    # A line the series wrote untagged within the rest is the rest's, not a sample of the load.
    untagged = [*series[:4], {k: v for k, v in series[3].items() if k != "rest"}, *series[4:]]
    assert without_rests(untagged)[0] == kept
    # A group missing from the rest's end (a backend gone): its CPU within the rest still out.
    gone = [*series[:4], {k: v for k, v in series[4].items() if k != name}, *series[5:]]
    assert [s[name]["cpu"] for s in without_rests(gone)[0]] == [0.0, 2.0, 4.0, 6.5, 8.5]
