"""What a window's WAL consists of: bytes per resource manager and relation, full-page images
apart, read with pg_walinspect (PostgreSQL 15+) for benchmarks.pg_costs.

The server's database needs `CREATE EXTENSION pg_walinspect`, and the benchmark's role must be
allowed to read it (superuser, or `GRANT pg_read_server_files TO orderhub` on a cluster of its
own). Without it the breakdown is left out. A record is counted against the first relation it
names (a B-tree split names several pages of one index); records that name none (commits,
checkpoints, the running-transactions snapshot) are grouped by resource manager alone.
"""

from typing import Any

import psycopg

_RECORDS = """
SELECT resource_manager, substring(block_ref from 'rel [0-9]+/[0-9]+/([0-9]+)') AS filenode,
       count(*), sum(record_length), sum(fpi_length)
FROM pg_get_wal_records_info(%s::pg_lsn, %s::pg_lsn)
GROUP BY 1, 2
"""
# A TOAST table and its index are named after the table whose values they hold.
_NAMES = """
SELECT c.relfilenode, coalesce(o.relname || ' (toast)', oi.relname || ' (toast index)', c.relname)
FROM pg_class c
LEFT JOIN pg_class o ON o.reltoastrelid = c.oid
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class oi ON oi.reltoastrelid = i.indrelid
WHERE c.relfilenode <> 0
"""


def relation_names(database_url: str) -> dict[str, str]:
    """The relations of one database by file node (taken before the benchmark drops it)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return {str(node): name for node, name in conn.execute(_NAMES)}


def unscanned_indexes(database_url: str) -> list[str]:
    """Indexes of the run's database that no query has scanned since it was created (written
    by every insert all the same). The flow reads little: a search index is unscanned here and
    still needed; an index no code path could scan is a candidate to drop."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT indexrelname FROM pg_stat_user_indexes WHERE idx_scan = 0 ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def breakdown(server: str, database_url: str, start: str, end: str) -> list[dict[str, Any]]:
    """The WAL between two positions, by resource manager and relation, largest first."""
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            rows = conn.execute(_RECORDS, (start, end)).fetchall()
    except psycopg.Error as exc:
        return [{"error": str(exc).splitlines()[0]}]
    names = relation_names(database_url)
    found = [
        {
            "rmgr": rmgr,
            "relation": names.get(node, f"filenode {node}") if node else "-",
            "records": int(count),
            "bytes": int(total),
            "fpi_bytes": int(fpi),
        }
        for rmgr, node, count, total, fpi in rows
    ]
    return sorted(found, key=lambda r: -r["bytes"])


def show(rows: list[dict[str, Any]], routed: float, top: int, out: Any) -> None:
    """Per routed order: records, bytes and of them full-page images, per relation."""
    if rows and "error" in rows[0]:
        out.print(f"  WAL breakdown unavailable: {rows[0]['error']}")
        return
    total = sum(r["bytes"] for r in rows) or 1
    fpi = sum(r["fpi_bytes"] for r in rows)
    out.print(
        f"  WAL records by relation ({total / routed:,.0f} B per routed order, of it "
        f"{fpi / routed:,.0f} B full-page images):"
    )
    out.print(f"  {'records/order':>13} {'B/order':>9} {'FPI B/order':>11}  rmgr  relation")
    for r in rows[:top]:
        out.print(
            f"  {r['records'] / routed:13.2f} {r['bytes'] / routed:9,.0f} "
            f"{r['fpi_bytes'] / routed:11,.0f}  {r['rmgr']}  {r['relation']}"
        )
