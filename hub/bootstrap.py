"""The one place that wires the hub from explicit settings. Nothing connects at import time."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from hub.embedded.delivery import STREAM, VIEWS, WORK, Elsewhere, InProcessDelivery, WorkLane
from hub.embedded.lane import Lane
from hub.embedded.routing_process import RoutingProcess
from hub.group_commit import GroupCommit
from hub.services.access import AccessService
from hub.services.capture import CaptureService
from hub.services.catalog import CatalogService
from hub.services.followers import FOLLOWER as ORCHESTRATOR
from hub.services.followers import (
    WORKER_POSITIONS_SECONDS,
    BillingFollower,
    Follower,
    OrchestrationFollower,
)
from hub.services.fulfillment import FulfillmentService
from hub.services.fulfillment_updates import Answer, grouped_updates
from hub.services.intake import IntakeService, PlaceResult, SubmitOrder
from hub.services.jeopardy import JeopardyWatch
from hub.services.operations import OperationsService
from hub.services.orchestration import OrchestrationService
from hub.services.policies import PolicyService
from hub.services.sessions import ConsoleSessions
from hub.services.supply_checkpoint import StartReport, SupplyCheckpoints
from hub.settings import Settings
from hub.store import OrderStore
from projections.audit_trail import SqlAuditTrail
from projections.backorders import SqlBackorderView
from projections.base import ReadModel, replay
from projections.exceptions import SqlExceptionQueue
from projections.order_status import SqlOrderStatusView
from projections.positions import SqlPositionStore
from projections.rejected_submissions import SqlRejectedSubmissionsView
from projections.sqldb import SqlDatabase
from projections.stock_levels import SqlStockLevels

log = logging.getLogger(__name__)
# How long an embedded command waits for the followers (routing among them) to run after it.
DELIVERY_WAIT = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Following:
    """One follower of the recorded history, and what it needs wherever it runs.

    The hub's list of them is the only one: embedded delivery feeds them all, in its order;
    each worker role runs those named for it, fed by their topics; `rebuild` replays the read
    models among them.
    """

    name: str  # its positions and its worker agent go by this name
    follower: Follower
    topics: tuple[str, ...]  # the topics (settings names) that bring it events from Kafka
    worker_role: str = "projections"  # the worker role (hub.streaming.roles.Role) that runs it
    # Embedded, the delivery lane that runs it: VIEWS (captures wait for it) or WORK (routing
    # and what acts on events, run in the background; hub.embedded.delivery).
    lane: str = VIEWS


def is_read_model(follower: Follower) -> TypeGuard[ReadModel]:
    """A follower that only keeps rows can be emptied and replayed from the event store."""
    return hasattr(follower, "reset") and hasattr(follower, "name")


def read_models(followers: Iterable[Following]) -> dict[str, ReadModel]:
    return {f.name: f.follower for f in followers if is_read_model(f.follower)}


@dataclass
class Hub:
    settings: Settings
    store: OrderStore
    intake: IntakeService
    catalog: CatalogService
    policies: PolicyService
    orchestration: OrchestrationService
    views_db: SqlDatabase
    order_status: SqlOrderStatusView
    backorders: SqlBackorderView
    rejected: SqlRejectedSubmissionsView
    exceptions: SqlExceptionQueue
    audit: SqlAuditTrail
    stock_levels: SqlStockLevels
    jeopardy: JeopardyWatch
    orchestrator: OrchestrationFollower
    ops: OperationsService
    access: AccessService
    sessions: ConsoleSessions
    fulfillment: FulfillmentService
    billing: BillingFollower
    followers: tuple[Following, ...]
    delivery: InProcessDelivery | None
    clock: Callable[[], datetime] = field(default=utc_now)
    # Embedded capture: concurrent requests' orders recorded in one transaction.
    group_commit: GroupCommit[SubmitOrder, PlaceResult] = field(init=False)
    # Sources' updates over REST: concurrent ones applied together (fulfillment_updates).
    updates: GroupCommit[str, Answer] = field(init=False)
    # Capture as embedded runs it; the distributed API hands new orders to Kafka instead.
    capture: CaptureService = field(init=False)
    # The routing process's supply view checkpoints (start_supply), none elsewhere.
    supply_checkpoints: SupplyCheckpoints | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.group_commit = GroupCommit(self.intake.place_orders, self.settings.intake_batch_size)
        self.updates = grouped_updates(self.fulfillment, self.intake)
        self.capture = CaptureService(
            self.intake,
            self.access.channel,
            self.group_commit.place,
            self.seen_by_views,
            self.clock,
        )

    @property
    def distributed(self) -> bool:
        return self.settings.distributed

    def relay_positions(self) -> SqlPositionStore:
        return relay_positions_in(self.views_db)

    def deliver(self) -> bool:
        """Embedded: every follower (routing included) run up to now and on what that led to,
        so a caller sees every effect of its command. Returns whether it is all settled (always,
        distributed: nothing is delivered here).

        With the delivery threads started (the embedded API), concurrent callers share their
        batches; a caller waits at most DELIVERY_WAIT seconds, delivery goes on regardless. While
        the routing process starts again (hub.embedded.routing_process) nobody waits for it:
        the read models are brought up to date and this returns False at once; routing takes
        what was recorded up when it is back.
        """
        if self.delivery is None:
            return True
        return self.delivery.deliver(wait=DELIVERY_WAIT)

    async def delivered(self) -> bool:
        """`deliver()` for async callers (the API): waiting holds no thread."""
        if self.delivery is None:
            return True
        return await self.delivery.delivered(wait=DELIVERY_WAIT)

    async def seen_by_views(self) -> None:
        """Embedded: the read models up to now (routing runs on in the background and is not
        waited for), so a read right after a capture finds the order. A failure is logged: what
        is recorded stays recorded, and the views lane takes it up again on the next call."""
        if self.delivery is None:
            return
        try:
            await self.delivery.seen_by_views(wait=DELIVERY_WAIT)
        except Exception:
            log.exception("in-process delivery to the views failed; it will be retried")

    def rebuild(
        self,
        view: ReadModel,
        batch_size: int = 1000,
        progress: Callable[[int], None] = lambda _: None,
    ) -> int:
        """Empty a read model and replay every recorded event into it, in log order, holding
        it meanwhile (see hub.tools.rebuild). Returns the number of events replayed."""
        with self.views_db.rebuilding(view.name):
            return replay(self.store.read_envelopes, view, STREAM, batch_size, progress)

    async def delivered_quietly(self) -> bool:
        """`delivered()` after a command that is recorded already: a follower's failure must not
        turn that into an error answer (it answers False: not settled). What was not delivered
        is caught up on the next command or at start-up."""
        try:
            return await self.delivered()
        except Exception:
            log.exception("in-process delivery failed; it will be retried")
            return False

    def start_delivery(self) -> None:
        """Embedded API start: deliver on background threads from now on, after what a crash
        left undelivered. With routing in a second process (Settings.routing_process) the
        read models are caught up here first and the child catches up routing itself, so the
        API answers from the start however long that takes."""
        if self.delivery is None:
            return
        if isinstance(self.delivery.work, RoutingProcess):
            self.delivery.views.catch_up()
        else:
            self.start_supply()  # ready before the first order comes
            self.deliver()
        self.delivery.start()

    def stop_delivery(self) -> None:
        if self.delivery is not None:
            self.delivery.stop()
        self.stop_supply()

    def start_supply(self) -> StartReport:
        """In the process that routes: the supply view from its newest checkpoint and the log
        after it (a full rebuild without one), then checkpoints written in the background."""
        self.stop_supply()
        self.supply_checkpoints = SupplyCheckpoints(
            self.orchestration.supply,
            self.store,
            every_events=self.settings.supply_checkpoint_events,
            every_seconds=self.settings.supply_checkpoint_seconds,
        )
        report = self.supply_checkpoints.start_view()
        self.supply_checkpoints.start()
        return report

    def stop_supply(self) -> None:
        """Stop writing checkpoints (a last one first, if the view moved)."""
        if self.supply_checkpoints is not None:
            self.supply_checkpoints.stop()
            self.supply_checkpoints = None

    def close(self) -> None:
        self.stop_supply()
        if self.delivery is not None:
            self.delivery.stop()
        self.store.close()
        self.views_db.close()


def relay_positions_in(views_db: SqlDatabase) -> SqlPositionStore:
    """Where the relay keeps its position: beside the views' (whole hub or relay alone)."""
    return SqlPositionStore(views_db, follower="relay")


def open_store(settings: Settings) -> tuple[SqlDatabase, OrderStore]:
    """The views' database and the event store, its tables made under the views' schema lock
    (processes starting together on a new database do not race to make them)."""
    views_db = SqlDatabase(settings.views_url())
    with views_db.schema_lock():
        store = OrderStore(env=settings.eventsourcing_env())
    return views_db, store


def bootstrap(settings: Settings | None = None, clock: Callable[[], datetime] = utc_now) -> Hub:
    """Build the hub. Embedded (no Kafka): events are delivered in-process to the followers."""
    settings = settings or Settings()
    views_db, store = open_store(settings)
    catalog = CatalogService(store, clock)
    policies = PolicyService(
        store,
        clock,
        known_sources=lambda: [s.source_id for s in catalog.list_sources()],
        demand_classes=settings.demand_classes,
    )
    rejected = SqlRejectedSubmissionsView(views_db)
    orchestration = OrchestrationService(store, policies, clock)
    order_status = SqlOrderStatusView(views_db)
    backorders = SqlBackorderView(views_db)
    exceptions = SqlExceptionQueue(views_db)
    # An order's own events are read from the store; the view keeps the exception cases'.
    audit = SqlAuditTrail(views_db, stored_events=store.events_of)
    stock_levels = SqlStockLevels(views_db)
    orchestrator = OrchestrationFollower(
        orchestration,
        backorders,
        views_db,
        settings.demand_classes,
        # On a worker the Kafka offsets are where it resumes, not these positions.
        positions_every=WORKER_POSITIONS_SECONDS if settings.distributed else 0.0,
        sweep_every=0.0 if settings.distributed else settings.backorder_sweep_seconds,
    )
    intake = IntakeService(store, clock)
    fulfillment = FulfillmentService(store, clock, settings.tax_rates, catalog.stock)
    billing = BillingFollower(
        fulfillment,
        views_db,
        positions_every=WORKER_POSITIONS_SECONDS if settings.distributed else 0.0,
    )
    sessions = ConsoleSessions(
        views_db,
        clock,
        idle=timedelta(minutes=settings.console_session_idle_minutes),
        lifetime=timedelta(hours=settings.console_session_max_hours),
    )
    order_events, stock_events = (
        ("order_events", "rejected"),
        ("inventory_events", "catalog_events"),
    )
    followers = (
        Following("order_status", order_status, order_events),
        # Before the orchestrator, in its lane: it asks the backorder view whom a stock event
        # may free, so the view must have seen every event the orchestrator has.
        Following("backorders", backorders, order_events, lane=WORK),
        # In the work lane too, beside the backorder view (one transaction): the reservations
        # it folds are routing's, and no capture waits for it. In the views lane it was a
        # tenth of the API's process, the embedded limit (benchmarks/README.md, embed2).
        Following("stock_levels", stock_levels, stock_events, lane=WORK),
        Following("rejected_submissions", rejected, order_events),
        Following("exceptions", exceptions, order_events),
        Following("audit_trail", audit, order_events),
        Following(
            ORCHESTRATOR,
            orchestrator,
            ("order_events", "inventory_events"),
            "orchestration",
            lane=WORK,
        ),
        Following(billing.name, billing, order_events, lane=WORK),
    )
    delivery = (
        None
        if settings.distributed
        else InProcessDelivery(
            store,
            [f.follower for f in followers if f.lane == VIEWS],
            [f.follower for f in followers if f.lane == WORK],
            settings.projection_batch_size,
            park=intake.park_event,
            elsewhere=lane_elsewhere(settings.routes_in_second_process, settings, clock),
            views_elsewhere=lane_elsewhere(settings.views_in_second_process, settings, clock),
        )
    )
    hub = Hub(
        settings=settings,
        store=store,
        intake=intake,
        catalog=catalog,
        policies=policies,
        orchestration=orchestration,
        views_db=views_db,
        order_status=order_status,
        backorders=backorders,
        rejected=rejected,
        exceptions=exceptions,
        audit=audit,
        stock_levels=stock_levels,
        jeopardy=JeopardyWatch(
            store,
            order_status,
            exceptions.get_many,
            clock,
            timedelta(hours=settings.jeopardy_margin_hours),
            timedelta(minutes=settings.withdrawal_patience_minutes),
        ),
        orchestrator=orchestrator,
        ops=OperationsService(store, clock, catalog, exceptions.get),
        access=AccessService(
            store,
            clock,
            settings.admin_api_key,
            settings.admin_api_key_expires_at,
            sessions,
        ),
        sessions=sessions,
        fulfillment=fulfillment,
        billing=billing,
        followers=followers,
        delivery=delivery,
        clock=clock,
    )
    for view in read_models(followers).values():
        if getattr(view, "needs_rebuild", False):
            # A new release changed the view's layout; its rows come back from the event store.
            hub.rebuild(view)
    return hub


def lane_elsewhere(
    wanted: bool, settings: Settings, clock: Callable[[], datetime]
) -> Elsewhere | None:
    """An embedded lane (routing, or the read models) in a process of its own, which builds its
    hub here too (by `bootstrap`, passed by reference); a hub on a clock of its own sends the
    child its readings."""
    if not wanted:
        return None
    relayed = None if clock is utc_now else clock

    def elsewhere(here: Lane, wake_views: Callable[[], None]) -> WorkLane:
        return RoutingProcess(here, wake_views, bootstrap, settings, relayed)

    return elsewhere
