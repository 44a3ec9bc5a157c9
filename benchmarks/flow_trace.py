"""Where a step's orders spent their time between capture and `Routed` on Kafka, stage by stage.

For a distributed `benchmarks.flow` step, every order measured is traced from what the run left
behind: the load generator's clock (due, REST answer), the records on the broker
(`benchmarks.flow_stages`: the submission's record, `Placed` and the decision as made and as
sent by the relay), the independent consumer's (`Placed`, `Routed` seen), and, when the server
keeps them (`track_commit_timestamp = on`), the commit times of the two events' rows in the
event store. Each stage is then a wait or a piece of work of one role:

- due → submitted: the API (request, validation, duplicate checks, the round's gather);
- submitted → placed: the submission acknowledged (acks=all), the intake's fetch wait and batch,
  its parse, up to the moment it made the order's events;
- placed → stored: the intake's save (and the batch's events made after this one's);
- stored → placed out: the commit's notice, the relay's wake, read and encode;
- placed out → decided: `Placed` acknowledged, the orchestration role's fetch wait, its batch
  and chunks before this order's decision;
- decided → decided stored, decided stored → decided out: the same for the decision;
- decided out → decided seen: `Routed` acknowledged and fetched by a consumer (the flow's own
  watcher, with aiokafka's default fetch settings).

Without commit times, placed → placed out and decided → decided out are given whole.
"""

import logging
import time
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.flow_report import console, fmt_ms, percentile
from benchmarks.flow_stages import stages

log = logging.getLogger(__name__)

SAVED = (
    ("due", "submitted"),
    ("submitted", "placed"),
    ("placed", "stored"),
    ("stored", "placed out"),
    ("placed out", "decided"),
    ("decided", "decided stored"),
    ("decided stored", "decided out"),
    ("decided out", "decided seen"),
)
UNSAVED = (
    ("due", "submitted"),
    ("submitted", "placed"),
    ("placed", "placed out"),
    ("placed out", "decided"),
    ("decided", "decided out"),
    ("decided out", "decided seen"),
)
BESIDE = (("due", "ack"), ("placed out", "placed seen"), ("due", "decided seen"))


async def step_stages(hub: Any, ids: list[str], sent: Any) -> dict[str, Any] | None:
    """The stages' p50 / p90 / p99 (ms) over the step's orders `ids` (distributed only), or
    over an even sample of `STAGED` of them (a soak's step holds a million)."""
    if not hub.distributed:
        return None
    to_epoch = time.time() - time.perf_counter()
    seen = hub.seen
    traced = sample(ids, STAGED)
    found = await stages(hub.settings.kafka_bootstrap, hub.settings.topic_prefix, set(traced))
    for order_id, times in found.items():
        times["due"] = sent.due[order_id] + to_epoch
        if order_id in sent.answered:
            times["ack"] = times["due"] + sent.answered[order_id]
        if order_id in seen.placed:
            times["placed seen"] = seen.placed[order_id] + to_epoch
        decided = seen.decided_at(order_id)
        if decided is not None:
            times["decided seen"] = decided + to_epoch
    saved = commit_times(hub.settings.database_url, found)
    return {"orders": len(traced), "of": len(ids)} | stage_table(found, saved)


STAGED = 50_000  # orders traced at most in a step


def sample(ids: list[str], most: int) -> list[str]:
    """At most `most` of `ids`, evenly spread over them (every k-th)."""
    return ids[:: -(-len(ids) // most)] if len(ids) > most else ids


def stage_table(
    found: dict[str, dict[str, float]], saved: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """Each stage's percentiles over the orders that have both of its ends; with the saves'
    commit times (`saved`, by order) the relay's hops are split from the saves."""
    for order_id, (placed, decided) in saved.items():
        found[order_id]["stored"], found[order_id]["decided stored"] = placed, decided
    path = SAVED if saved else UNSAVED
    return {
        "commit_times": bool(saved),
        "stages": [_stage(found, first, then) for first, then in path + BESIDE],
    }


def _stage(found: dict[str, dict[str, float]], first: str, then: str) -> dict[str, Any]:
    gaps = [1000 * (t[then] - t[first]) for t in found.values() if first in t and then in t]
    return {
        "stage": f"{first} → {then}",
        "orders": len(gaps),
        **{f"p{q}": percentile(gaps, q / 100) for q in (50, 90, 99)},
    }


def commit_times(
    database_url: str | None, found: dict[str, dict[str, float]]
) -> dict[str, tuple[float, float]]:
    """By order, the commit times (epoch s) of its `Placed` and its decision's rows; empty when
    the server does not keep commit times (or is not PostgreSQL)."""
    keys = [
        (order_id, int(t[k]))
        for order_id, t in found.items()
        if "decided version" in t
        for k in ("placed version", "decided version")
    ]
    if database_url is None or not keys:
        return {}
    try:
        at = _committed_at(database_url, keys)
    except psycopg.Error as error:
        log.warning("no commit times (%s): stages without the saves", error)
        return {}
    saved = {}
    for order_id, t in found.items():
        placed = at.get((order_id, int(t.get("placed version", -1))))
        decided = at.get((order_id, int(t.get("decided version", -1))))
        if placed is not None and decided is not None:
            saved[order_id] = (placed, decided)
    return saved


def _committed_at(database_url: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], float]:
    """The commit time of each (aggregate id, version)'s row that has one."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        table, id_type = _events_table(conn)
        rows = conn.execute(
            sql.SQL(
                "SELECT e.originator_id::text, e.originator_version, "
                "extract(epoch FROM pg_xact_commit_timestamp(e.xmin))::float8 "
                "FROM {table} e JOIN unnest(%s::{id_type}[], %s::bigint[]) AS k(id, v) "
                "ON e.originator_id = k.id AND e.originator_version = k.v"
            ).format(table=sql.Identifier(table), id_type=sql.SQL(id_type)),
            ([k[0] for k in keys], [k[1] for k in keys]),
        ).fetchall()
    return {(str(i), int(v)): float(t) for i, v, t in rows if t is not None}


def _events_table(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    """The event store's table (the one with notification ids) and its originator id's type."""
    row = conn.execute(
        "SELECT c.table_name, o.data_type FROM information_schema.columns c "
        "JOIN information_schema.columns o ON o.table_schema = c.table_schema "
        "AND o.table_name = c.table_name AND o.column_name = 'originator_id' "
        "WHERE c.column_name = 'notification_id' AND c.table_schema = current_schema() "
        "ORDER BY c.table_name LIMIT 1"
    ).fetchone()
    if row is None:
        raise psycopg.errors.UndefinedTable("no event store table")
    return str(row[0]), str(row[1])


def show_stages(runs: list[dict[str, Any]]) -> None:
    """One line per step and stage: p50 / p90 / p99 ms."""
    for r in runs:
        for step in r.get("steps", []):
            traced = step.get("stages")
            if not traced:
                continue
            console.print(
                f"stages at {step['offered_per_s']}/s offered ({_traced(traced)}, "
                f"commit times {'on' if traced['commit_times'] else 'off'}): p50 / p90 / p99 ms"
            )
            for s in traced["stages"]:
                console.print(
                    f"  {s['stage']:<32} "
                    + " / ".join(fmt_ms(s[q], "—") for q in ("p50", "p90", "p99"))
                    + f"  ({s['orders']})"
                )


def _traced(traced: dict[str, Any]) -> str:
    of = traced.get("of", traced["orders"])  # runs before the sample have no "of"
    return f"{traced['orders']:,} orders" + (f" of {of:,}" if of != traced["orders"] else "")
