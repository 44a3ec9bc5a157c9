"""The one place that wires the hub from explicit settings. Nothing connects at import time."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.delivery import InProcessDelivery
from hub.services.intake import IntakeService
from hub.settings import Settings
from hub.store import OrderStore
from projections.order_status import SqlOrderStatusView
from projections.positions import SqlPositionStore
from projections.sqldb import SqlDatabase


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Hub:
    settings: Settings
    store: OrderStore
    intake: IntakeService
    views_db: SqlDatabase
    order_status: SqlOrderStatusView
    delivery: InProcessDelivery | None
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def distributed(self) -> bool:
        return self.settings.distributed

    def relay_positions(self) -> SqlPositionStore:
        return SqlPositionStore(self.views_db, follower="relay")

    def close(self) -> None:
        self.store.close()
        self.views_db.close()


def bootstrap(settings: Settings | None = None, clock: Callable[[], datetime] = utc_now) -> Hub:
    """Build the hub. Embedded (no Kafka): events are delivered in-process to the projections."""
    settings = settings or Settings()
    views_db = SqlDatabase(settings.views_url())
    with views_db.schema_lock():
        store = OrderStore(env=settings.eventsourcing_env())
    order_status = SqlOrderStatusView(views_db)
    delivery = (
        None
        if settings.distributed
        else InProcessDelivery(store, [order_status], settings.projection_batch_size)
    )
    return Hub(
        settings=settings,
        store=store,
        intake=IntakeService(store, clock),
        views_db=views_db,
        order_status=order_status,
        delivery=delivery,
        clock=clock,
    )
