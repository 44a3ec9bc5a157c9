"""KPIs per channel and day, computed from the order-status rows of the orders placed that day.

Definitions (the console shows them next to the numbers):
- cycle time: received by the hub → the order counted as shipped, in hours (p50, p90);
- fill rate: units shipped ÷ units ordered, over orders neither rejected nor cancelled;
- on-time rate: shipped orders shipped at or before their promise ÷ shipped orders;
- split rate: orders routed to more than one source ÷ routed orders;
- average distance: mean km from the chosen sources to the customer, over routed orders;
- backorder rate: orders that waited for stock ÷ orders accepted.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from projections.order_rows import OrderStatusRow

NOT_FULFILLED = frozenset({"rejected", "cancelled", "cancelling", "placed"})


@dataclass(frozen=True)
class DayKpis:
    channel: str
    day: str
    orders: int
    value: dict[str, str] = field(default_factory=dict)  # currency → exact total
    cycle_hours_p50: float | None = None
    cycle_hours_p90: float | None = None
    fill_rate: float | None = None
    on_time_rate: float | None = None
    split_rate: float | None = None
    average_distance_km: float | None = None
    backorder_rate: float | None = None


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (as numpy's default and PostgreSQL's
    percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def day_of(row: OrderStatusRow) -> str:
    return datetime.fromisoformat(row.placed_at).date().isoformat()


def kpis(rows: Iterable[OrderStatusRow]) -> list[DayKpis]:
    groups: dict[tuple[str, str], list[OrderStatusRow]] = {}
    for row in rows:
        groups.setdefault((row.channel, day_of(row)), []).append(row)
    return [_day(channel, day, members) for (channel, day), members in sorted(groups.items())]


def _day(channel: str, day: str, rows: list[OrderStatusRow]) -> DayKpis:
    """The definitions, over rows; the database sums the same `DayTotals` (order_kpis)."""
    cycles = _cycle_hours([r for r in rows if r.shipped_at])
    totals = _totals(channel, day, rows)
    return from_totals(totals, _value(rows), percentile(cycles, 0.5), percentile(cycles, 0.9))


def _value(rows: list[OrderStatusRow]) -> dict[str, Decimal]:
    """Exact order value per currency, rejected orders left out."""
    value: dict[str, Decimal] = {}
    for row in rows:
        if row.status != "rejected":
            value[row.currency] = value.get(row.currency, Decimal(0)) + Decimal(row.total)
    return value


def _cycle_hours(shipped: list[OrderStatusRow]) -> list[float]:
    return [
        (
            datetime.fromisoformat(r.shipped_at) - datetime.fromisoformat(r.received_at)
        ).total_seconds()
        / 3600
        for r in shipped
    ]


def _totals(channel: str, day: str, rows: list[OrderStatusRow]) -> "DayTotals":
    live = [r for r in rows if r.status not in NOT_FULFILLED]
    routed = [r for r in rows if r.sources]
    promised = [r for r in rows if r.shipped_at and r.promised_by]
    distances = [r.distance_km for r in routed if r.distance_km is not None]
    accepted = [r for r in rows if r.status not in ("rejected", "placed")]
    return DayTotals(
        channel=channel,
        day=day,
        orders=len(rows),
        live_ordered=sum(r.units_ordered for r in live),
        live_shipped=sum(r.units_shipped for r in live),
        promised_shipped=len(promised),
        on_time=sum(1 for r in promised if r.shipped_at <= r.promised_by),
        routed=len(routed),
        split=sum(1 for r in routed if r.split),
        distance_sum=sum(distances),
        distance_count=len(distances),
        accepted=len(accepted),
        backordered=sum(1 for r in accepted if r.backordered),
    )


def day_range(start: date, end: date) -> tuple[str, str]:
    """The days [start, end] as the placed_at text bounds the view compares with."""
    return start.isoformat(), (end + timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class DayTotals:
    """What a database sums per channel and day (the SQL backend's side of the KPIs)."""

    channel: str
    day: str
    orders: int
    live_ordered: int
    live_shipped: int
    promised_shipped: int
    on_time: int
    routed: int
    split: int
    distance_sum: float
    distance_count: int
    accepted: int
    backordered: int


def from_totals(
    totals: DayTotals, value: dict[str, Decimal], p50: float | None, p90: float | None
) -> DayKpis:
    """The same KPIs as `kpis()`, from the sums and cycle-time percentiles a database made."""
    return DayKpis(
        channel=totals.channel,
        day=totals.day,
        orders=totals.orders,
        value={currency: str(total) for currency, total in sorted(value.items())},
        cycle_hours_p50=None if p50 is None else round(p50, 2),
        cycle_hours_p90=None if p90 is None else round(p90, 2),
        fill_rate=_ratio(totals.live_shipped, totals.live_ordered),
        on_time_rate=_ratio(totals.on_time, totals.promised_shipped),
        split_rate=_ratio(totals.split, totals.routed),
        average_distance_km=round(totals.distance_sum / totals.distance_count, 1)
        if totals.distance_count
        else None,
        backorder_rate=_ratio(totals.backordered, totals.accepted),
    )
