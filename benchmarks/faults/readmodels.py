"""Read models after a fault run against the same read models rebuilt from the event store."""

from typing import Any

from hub.bootstrap import Hub
from hub.tools.rebuild import rebuild
from hub.tools.rebuild import views as hub_views

# view name (as hub.tools.rebuild knows it) -> its main table
TABLES = {
    "order_status": "order_status",
    "exceptions": "exception_queue",
    "stock_levels": "stock_levels",
}


def _rows(hub: Hub, table: str) -> set[tuple[str, ...]]:
    with hub.views_db.transaction() as cur:
        cur.execute(f"SELECT * FROM {table}")
        return {tuple(str(v) for v in row) for row in cur.fetchall()}


def compare_with_rebuild(hub: Hub) -> dict[str, dict[str, Any]]:
    """Per view: rows as the workers left them, rows after a rebuild, and how many differ."""
    views = hub_views(hub)
    found: dict[str, dict[str, Any]] = {}
    for name, table in TABLES.items():
        live = _rows(hub, table)
        rebuild(hub, views[name])
        rebuilt = _rows(hub, table)
        found[name] = {
            "rows": len(rebuilt),
            "differing": len(live ^ rebuilt),
            "examples": sorted(live ^ rebuilt)[:3],
        }
    return found
