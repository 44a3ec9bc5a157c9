"""The flow benchmark's tables: setup and raw limits, the open-loop steps, CPU and RSS."""

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def fmt_ms(value: float | None, never: str = "unrouted") -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return never
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _pct(part: float, whole: float | None) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def show(report: dict[str, Any]) -> None:
    runs = report["runs"]
    setup = Table(title=f"Flow benchmark: setup and raw limits ({report['when']})")
    for column in (
        "mode",
        "sources",
        "stock rows",
        "stock load",
        "probe statuses",
        "Routed bytes",
        "raw store append",
        "raw broker produce",
        "stop on SIGTERM",
    ):
        setup.add_column(column)
    for r in runs:
        raw = r.get("raw", {})
        load = r.get("stock_load", {})
        broker = (
            f"{raw['broker_msgs_per_s']:,.0f} msg/s ({raw['broker_record_bytes']:,} B)"
            if "broker_msgs_per_s" in raw
            else "—"
        )
        setup.add_row(
            r["mode"],
            str(r["sources"]),
            f"{r['stock_rows']:,}",
            f"{load.get('rows_per_min', 0):,.0f} rows/min ({load.get('via')})",
            ", ".join(f"{k} {v}" for k, v in r.get("probe", {}).get("statuses", {}).items()),
            f"{r.get('routed_bytes_mean', 0):,.0f}",
            f"{raw.get('store_orders_per_s', 0):,.0f} orders/s (batch {raw.get('store_batch')})",
            broker,
            stop_text(r["stop"]) if "stop" in r else "—",
        )
    console.print(setup)

    steps = Table(title="Open-loop steps (per offered rate; latencies in ms)")
    for column in (
        "mode",
        "src",
        "offered/s",
        "sent REST+Kafka",
        "failed/unans./unsent",
        "routed/s (held)",
        "shed/s",
        "FR/s",
        "REST p50/p99",
        "shed p50/p99",
        "→Routed p50/p95/p99",
        "→decided p50/p95/p99",
        "ack→readable p50/p99/max (n)",
        "ack→Placed, →readable p50/max",
        "undecided",
        "store ev/s (of raw)",
        "relay rec/s (of raw)",
    ):
        steps.add_column(column, justify="right")
    cpu = Table(title="CPU per process during the measured window (1.00 = one core)")
    cpu_names = sorted({n for r in runs for s in r.get("steps", []) for n in s["cpu"]})
    for column in ("mode", "src", "offered/s", *cpu_names):
        cpu.add_column(column, justify="right")
    for r in runs:
        raw = r.get("raw", {})
        raw_events = 2 * raw.get("store_orders_per_s", 0)
        for s in r.get("steps", []):
            steps.add_row(
                r["mode"],
                str(r["sources"]),
                str(s["offered_per_s"]),
                f"{s['sent_rest']:,}+{s['sent_kafka']:,}"
                + (f" (dropped {s['dropped']})" if s.get("dropped") else ""),
                f"{s['capture_failed']}/{s['unanswered_at_drain']}/{s['never_sent']}",
                f"{s['routed_per_s']:,.1f} ({s.get('held', 0):,})",
                # 429s: shed by the hub's admission control, not failures (not sent again).
                f"{s.get('shed_per_s', 0):,.1f}",
                f"{s['requested_per_s']:,.1f}",
                "/".join(fmt_ms(s["rest_ms"][q], "unanswered") for q in (50, 99)),
                "/".join(fmt_ms(s["shed_ms"][q]) for q in (50, 99)) if "shed_ms" in s else "—",
                "/".join(fmt_ms(s["routed_ms"][q]) for q in (50, 95, 99)),
                # Routed or Held: a held order is decided but never routed, so the Routed
                # percentiles read "unrouted" as soon as the policy holds 1 % of the orders.
                "/".join(fmt_ms(s["decided_ms"][q], "undecided") for q in (50, 95, 99))
                if "decided_ms" in s
                else "—",
                "/".join(fmt_ms(s["readable_ms"][q], "unread") for q in (50, 99, 100))
                + f" ({s['readable_probed']})"
                if s.get("readable_probed")
                else "—",
                ", ".join(
                    "/".join(fmt_ms(s[key][q]) for q in (50, 100))
                    for key in ("placed_ms", "placed_to_readable_ms")
                )
                if "placed_ms" in s
                else "—",
                f"{s['backlog_step']:,} (all {s['backlog_total']:,})",
                f"{s['store_events_per_s']:,.0f}" + _pct(s["store_events_per_s"], raw_events),
                f"{s['order_records_per_s']:,.0f}"
                + _pct(s["order_records_per_s"], raw.get("broker_msgs_per_s"))
                if "broker_msgs_per_s" in raw
                else "—",
            )
            cpu.add_row(
                r["mode"],
                str(r["sources"]),
                str(s["offered_per_s"]),
                *(f"{s['cpu'][n]:.2f}" if n in s["cpu"] else "—" for n in cpu_names),
            )
    console.print(steps)
    console.print(cpu)

    with_history = [r for r in runs if "history" in r]
    if with_history:
        table = Table(title="Cost vs history (closed loop, orders/s first sent → last routed)")
        for column in (
            "mode",
            "src",
            "first window",
            "preloaded",
            "after the history",
            "CPU ms / decided (processes measured), first → after",
        ):
            table.add_column(column, justify="right")
        for r in with_history:
            h = r["history"]
            table.add_row(
                r["mode"],
                str(r["sources"]),
                f"{h['first']['routed_per_s']:,.1f} ({h['first']['orders']:,} orders)",
                f"{h['preloaded']:,}{_shipped(h.get('shipping'))}",
                f"{h['after']['routed_per_s']:,.1f}",
                f"{_hub_cpu(h['first']):.2f} → {_hub_cpu(h['after']):.2f}",
            )
        console.print(table)
    show_rss(runs)
    for r in with_history:
        if len(r["history"].get("rss", [])) > 2:
            _show_series(
                r["history"]["rss"],
                f"RSS (MB) over the history, {r['mode']}, {r['sources']} sources",
            )


def _hub_cpu(window: dict[str, Any]) -> float:
    return float(sum(window["cpu_ms_per_decided"].values()))


def show_rss(runs: list[dict[str, Any]]) -> None:
    table = Table(title="RSS per process (MB): first sample, last, max, growth")
    for column in ("mode", "src", "process", "first", "last", "max", "growth"):
        table.add_column(column, justify="right")
    for r in runs:
        series = r.get("rss", [])
        names = sorted({k for sample in series for k in sample if k != "t"})
        for name in names:
            values = [sample[name] / 2**20 for sample in series if name in sample]
            table.add_row(
                r["mode"],
                str(r["sources"]),
                name,
                f"{values[0]:,.0f}",
                f"{values[-1]:,.0f}",
                f"{max(values):,.0f}",
                f"{values[-1] / values[0] - 1:+.0%}",
            )
    console.print(table)
    for r in runs:
        if r.get("steps") and len(r.get("rss", [])) > 2 and r["steps"][-1]["seconds"] > 120:
            _show_series(r["rss"], f"RSS series (MB), {r['mode']}, {r['sources']} sources")


def _show_series(series: list[dict[str, Any]], title: str) -> None:
    names = sorted({k for sample in series for k in sample if k != "t"})
    table = Table(title=title)
    for column in ("t (s)", *names):
        table.add_column(column, justify="right")
    every = max(1, len(series) // 20)
    picked: list[dict[str, Any]] = series[::every]
    if picked[-1] is not series[-1]:
        picked.append(series[-1])
    for sample in picked:
        table.add_row(
            f"{sample['t'] - series[0]['t']:,.0f}",
            *(f"{sample[n] / 2**20:,.0f}" if n in sample else "—" for n in names),
        )
    console.print(table)


def stop_text(stop: dict[str, Any]) -> str:
    """Seconds each process took to exit on SIGTERM, and the worker's commit warnings."""
    times = ", ".join(
        f"{name} {'killed' if s is None else f'{s:.1f} s'}" for name, s in stop["seconds"].items()
    )
    return f"{times}; commit warnings {stop['commit_warnings']}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; math.inf stands for 'not yet' (unrouted, unanswered)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def brief(step: dict[str, Any]) -> str:
    failures = step["capture_failures"]
    return (
        f"routed {step['routed_per_s']:.1f}/s, shed {step.get('shed_per_s', 0):.1f}/s, "
        f"FR {step['requested_per_s']:.1f}/s, "
        f"capture→Routed p50 {fmt_ms(step['routed_ms'][50])}, undecided {step['backlog_step']}"
        + (f", capture failures {failures}" if failures else "")
        + _to_placed(step)
    )


def _to_placed(step: dict[str, Any]) -> str:
    """Every acknowledged REST order's ack → `Placed` on Kafka, where the step has it."""
    waits = step.get("ack_to_placed_ms")
    if not waits or waits.get(50) is None:
        return ""
    over = step["ack_to_placed_over_500"]
    return (
        f", ack→Placed p99/p99.9/max {'/'.join(fmt_ms(waits[q]) for q in (99, 99.9, 100))}"
        f" ({over} of {step['ack_to_placed_n']} over 500 ms)"
    )


def _shipped(shipping: dict[str, Any] | None) -> str:
    """How many of the history's shipments were reported shipped (`--ship`), if any were."""
    if not shipping:
        return " (none shipped)"
    return f" ({shipping['shipped']:,} of {shipping['requested']:,} shipments shipped)"
