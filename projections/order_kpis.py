"""KPIs per channel and day summed by the database, so a KPI page never loads the orders
themselves (a quarter of a million rows at a million orders a year). The definitions are
those of `projections.kpis`; a test holds both to the same numbers."""

from collections import defaultdict
from decimal import Decimal
from typing import Any

from projections.kpis import NOT_FULFILLED, DayKpis, DayTotals, from_totals, percentile
from projections.sqldb import Cursor

_NOT_FULFILLED = ", ".join(f"'{s}'" for s in sorted(NOT_FULFILLED))
_LIVE = f"status NOT IN ({_NOT_FULFILLED})"
_ACCEPTED = "status NOT IN ('placed', 'rejected')"
_ROUTED = "sources <> '[]'"
_SHIPPED = "shipped_at <> ''"
_TOTALS = f"""
SELECT channel, substr(placed_at, 1, 10) AS day, COUNT(*),
    SUM(CASE WHEN {_LIVE} THEN units_ordered ELSE 0 END),
    SUM(CASE WHEN {_LIVE} THEN units_shipped ELSE 0 END),
    SUM(CASE WHEN {_SHIPPED} AND promised_by <> '' THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_SHIPPED} AND promised_by <> '' AND shipped_at <= promised_by
        THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_ROUTED} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_ROUTED} AND split THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_ROUTED} AND distance_km IS NOT NULL THEN distance_km ELSE 0 END),
    SUM(CASE WHEN {_ROUTED} AND distance_km IS NOT NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_ACCEPTED} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_ACCEPTED} AND backordered THEN 1 ELSE 0 END)
    {{percentiles}}
FROM order_status WHERE {{where}} GROUP BY channel, substr(placed_at, 1, 10)"""
_PG_CYCLE = (
    "EXTRACT(EPOCH FROM (CAST(shipped_at AS timestamptz) - CAST(received_at AS timestamptz)))"
    " / 3600.0"
)
_PG_PERCENTILES = (
    f", percentile_cont(0.5) WITHIN GROUP (ORDER BY {_PG_CYCLE}) FILTER (WHERE {_SHIPPED})"
    f", percentile_cont(0.9) WITHIN GROUP (ORDER BY {_PG_CYCLE}) FILTER (WHERE {_SHIPPED})"
)


def kpi_days(cur: Cursor, dialect: str, start: str, end: str, channel: str | None) -> list[DayKpis]:
    where, params = "placed_at >= ? AND placed_at < ?", [start, end]
    if channel is not None:
        where += " AND channel = ?"
        params.append(channel)
    postgres = dialect == "postgres"
    cur.execute(
        _TOTALS.format(percentiles=_PG_PERCENTILES if postgres else "", where=where), params
    )
    records = cur.fetchall()
    values = _values(cur, postgres, where, params)
    cycles = {} if postgres else _cycle_hours(cur, where, params)
    days = []
    for record in records:
        counts = [int(v or 0) for v in record[2:13]]
        totals = DayTotals(
            channel=str(record[0]),
            day=str(record[1]),
            orders=counts[0],
            live_ordered=counts[1],
            live_shipped=counts[2],
            promised_shipped=counts[3],
            on_time=counts[4],
            routed=counts[5],
            split=counts[6],
            distance_sum=float(record[9] or 0),
            distance_count=counts[8],
            accepted=counts[9],
            backordered=counts[10],
        )
        key = (totals.channel, totals.day)
        if postgres:
            p50, p90 = (None if v is None else float(v) for v in record[13:15])
        else:
            hours = cycles.get(key, [])
            p50, p90 = percentile(hours, 0.5), percentile(hours, 0.9)
        days.append(from_totals(totals, values.get(key, {}), p50, p90))
    return sorted(days, key=lambda d: (d.channel, d.day))


def _values(
    cur: Cursor, postgres: bool, where: str, params: list[Any]
) -> dict[tuple[str, str], dict[str, Decimal]]:
    """Order value per currency, exact: PostgreSQL sums NUMERIC; SQLite has no exact decimal
    type, so its (embedded, small) sums are made here."""
    amount = "SUM(CAST(total AS NUMERIC))" if postgres else "total"
    group = " GROUP BY channel, substr(placed_at, 1, 10), currency" if postgres else ""
    cur.execute(
        f"SELECT channel, substr(placed_at, 1, 10), currency, {amount} FROM order_status "
        f"WHERE {where} AND status <> 'rejected'{group}",
        params,
    )
    values: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for channel, day, currency, total in cur.fetchall():
        per = values[(str(channel), str(day))]
        per[str(currency)] = per.get(str(currency), Decimal(0)) + Decimal(str(total))
    return values


def _cycle_hours(cur: Cursor, where: str, params: list[Any]) -> dict[tuple[str, str], list[float]]:
    cur.execute(
        "SELECT channel, substr(placed_at, 1, 10), "
        "(julianday(shipped_at) - julianday(received_at)) * 24.0 "
        f"FROM order_status WHERE {where} AND {_SHIPPED}",
        params,
    )
    hours: dict[tuple[str, str], list[float]] = defaultdict(list)
    for channel, day, value in cur.fetchall():
        hours[(str(channel), str(day))].append(float(value))
    return hours
