"""`orderhub relay` reads no view: it starts beside views that a newer release laid out (which
`bootstrap` refuses), publishes the stored events, and leaves the views as they are."""

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from connectors.publisher import RecordingPublisher
from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.streaming.relay import build_relay, relay_parts
from projections import order_status as order_status_module
from projections.base import NewerViewError
from schemas.event_types import EventType
from tests.integration.embedded.test_review_ops import one_order_then_stopped
from tests.support.running_hub import Clock


def _newer_order_status(views_file: Path) -> None:
    with sqlite3.connect(views_file) as views:
        views.execute(
            "UPDATE orderhub_view_versions SET version = ? WHERE view = ?",
            (order_status_module.VERSION + 1, order_status_module.FOLLOWER),
        )


def test_the_relay_starts_beside_a_newer_view_layout_and_publishes(
    tmp_path: Path, clock: Clock
) -> None:
    data_dir = tmp_path / "hub"
    order_id = one_order_then_stopped(data_dir, clock)
    _newer_order_status(data_dir / "views.sqlite3")
    settings = Settings(data_dir=data_dir, kafka_bootstrap="127.0.0.1:9", database_url=None)
    with pytest.raises(NewerViewError):
        bootstrap(settings, clock=clock)  # what every role did at its start, the relay too

    publisher = RecordingPublisher()
    with closing(relay_parts(settings)) as parts:
        relay = build_relay(parts, publisher)  # type: ignore[arg-type]

        async def drain() -> None:
            while await relay.publish_next_batch():
                pass
            await relay.save_position()

        asyncio.run(drain())
        saved = parts.relay_positions().get("notification_log")
        last = parts.store.recorder.max_notification_id()

    placed = [
        record
        for record in publisher.records
        if dict(record.headers)["ce_type"] == EventType.ORDER_PLACED.encode()
    ]
    assert [record.key for record in placed] == [str(order_id).encode()]
    assert saved == last  # every stored event read, its position kept
    with sqlite3.connect(data_dir / "views.sqlite3") as views:
        (count,) = views.execute("SELECT COUNT(*) FROM order_status").fetchone()
        (version,) = views.execute(
            "SELECT version FROM orderhub_view_versions WHERE view = ?",
            (order_status_module.FOLLOWER,),
        ).fetchone()
    assert (count, version) == (1, order_status_module.VERSION + 1)  # left as they were
