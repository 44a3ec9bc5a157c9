"""The supply picture routing decides against, in memory: sources, stock, capacity used today.

Oracle's Global Order Promising answers from an in-memory picture of supply; so does the hub.
The view follows the event store's notification log — only the catalog, stock, policy and
shipment-request events, selected by topic in the store — and is rebuilt from it at start
(the first refresh reads the log from the beginning), or restored from a checkpoint of its
state at a log position and caught up from there (hub.services.supply_checkpoint). Routing
reads sources, the stock of the few sources holding an order's SKUs (an index SKU → sources),
and the shipments requested per source today from here, so an order's cost grows with its
lines and their holders, never with the size of the network or of the history.

The view may be stale (another worker reserved a moment ago): it only proposes. Reservations are
made on the StockItem aggregates, whose versions the event store checks, so a stale view shows
up as a conflict and the order is decided again after a refresh.
"""

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from aggregates.order import Order
from aggregates.policy import PolicyVersions
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from aggregates.stored_reads import library_json
from hub.services.supply_pages import first_page
from hub.store import OrderStore
from orchestration_policies import CandidateSource, StockLevel
from orchestration_policies.decision_inputs import candidate_from as candidate_from
from orchestration_policies.inputs_text import candidate_definition


def event_topic(aggregate: type, event_name: str) -> str:
    """The stored topic of one of an aggregate's events (classes made by its @event methods)."""
    return f"{get_topic(aggregate)}.{event_name}"


# How each stock event changes (on hand, reserved, safety stock).
Change = Callable[["Holding", Any], tuple[int, int, int]]
_STOCK_CHANGES: dict[str, Change] = {
    "Counted": lambda h, e: (e.on_hand, h.reserved, e.safety_stock),
    "Adjusted": lambda h, e: (h.on_hand + e.delta, h.reserved, h.safety_stock),
    "Reserved": lambda h, e: (h.on_hand, h.reserved + e.quantity, h.safety_stock),
    "Released": lambda h, e: (h.on_hand, h.reserved - e.quantity, h.safety_stock),
    # Shipped units leave on hand; the whole reservation (shipped + freed) ends.
    "Consumed": lambda h, e: (
        h.on_hand - e.quantity,
        h.reserved - e.quantity - e.freed,
        h.safety_stock,
    ),
}
_SOURCE_EVENTS = ("Registered", "Redefined", "Paused", "Resumed")
_POLICY_EVENTS = ("Created", "Published", "RolledBack")
# Notifications read per query while catching up (the rebuild at start reads many).
PAGE = 5_000


class Holding(NamedTuple):
    """What one source holds of one SKU, at a version of its StockItem. A named tuple: one is
    made per stock event and per row restored from a checkpoint, ten times cheaper than a
    frozen dataclass."""

    on_hand: int
    reserved: int
    safety_stock: int
    version: int

    @property
    def level(self) -> StockLevel:
        return StockLevel(self.on_hand, self.reserved, self.safety_stock)


@dataclass(frozen=True, slots=True)
class SupplyState:
    """All a view holds at a log position (what a checkpoint records): its own copies, in the
    view's order (sources in registration order: routing lists them so)."""

    position: int
    policy_generation: int
    sources: list[tuple[str, dict[str, Any], bool]]  # source id, definition, active
    stock: dict[tuple[str, str], Holding]
    shipments: dict[date, dict[str, int]]


@dataclass(frozen=True, slots=True)
class Source:
    """A source as routing sees it: its candidate shape without stock, and its id."""

    source_id: str
    definition: dict[str, Any]
    active: bool
    template: CandidateSource

    def candidate(self, stock: dict[str, StockLevel], used_today: int) -> CandidateSource:
        """The template with this stock (which the candidate then owns: the caller makes a
        new dict per candidate) and capacity used: copied, not validated again (the template
        was; what is derived depends on neither). `dataclasses.replace` ran the checks and
        derivations again for every candidate of every order (py-spy: 3 % of the orchestration
        role's CPU)."""
        return self.template.restocked(stock, used_today)


class SupplyView:
    """Sources, stock by (source, SKU), SKU → holders, shipments per source and day.

    `refresh()` applies what the store recorded since the last refresh; it is cheap when
    nothing happened (one query for the log's end). Thread-safe.
    """

    def __init__(self, store: OrderStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._position = 0
        self._sources: dict[str, Source] = {}
        self._source_ids: dict[UUID, str] = {}  # aggregate id → source id
        self._stock: dict[tuple[str, str], Holding] = {}
        self._holders: dict[str, set[str]] = {}
        self._shipments: dict[date, dict[str, int]] = {}
        self.policy_generation = 0  # bumped by every policy event: cached policies are stale
        # Bumped by every source and policy event and by a restore: what decide() is given
        # besides stock changed (hub.services.waiting_orders).
        self.generation = 0
        # SKU → source → the log position of its last event there that may have freed units
        # (hub.services.waiting_orders: a waiting order none of whose SKUs was raised at a
        # source it may use is not decided again). At most one entry per stock row.
        self._raised: dict[str, dict[str, int]] = {}
        self.applied = 0  # events applied since this view was made or restored

    @property
    def position(self) -> int:
        """The last notification this view has applied (or passed, not being about supply)."""
        return self._position

    def refresh(self) -> int:
        """Apply what was recorded since the last refresh; returns the events applied."""
        with self._lock:
            # The end and the first page in one statement (hub.services.supply_pages).
            top, page = first_page(self._store, self._position, TOPICS, PAGE)
            applied = 0
            while self._position < top:
                for notification in page:
                    event = self._event(notification)
                    self._apply(notification.topic, event, notification.id)
                applied += len(page)
                self.applied += len(page)
                self._position = page[-1].id if len(page) == PAGE else top
                if self._position < top:  # a full page: more may follow, up to the same end
                    page = self._store.recorder.select_notifications(
                        start=self._position,
                        limit=PAGE,
                        stop=top,
                        topics=TOPICS,
                        inclusive_of_start=False,
                    )
            return applied

    def _event(self, notification: Notification) -> Any:
        """The event's values: a stock event's or a shipment request's from its stored JSON by
        orjson, what routing's own reservations and requests are (every routed order's events
        come back to its view here, and the mapper's decoding, a hook per JSON object and an
        event object, was most of a refresh; a request's address and lines validated by
        pydantic, for the view to read its source and time); the mapper's event for the others,
        and for whatever orjson cannot tell."""
        if notification.topic in _PLAIN and _plain_mapper(self._store.mapper):
            try:
                values = orjson.loads(notification.state)
            except orjson.JSONDecodeError:
                values = None
            if (
                isinstance(values, dict)
                and "class_version" not in values  # one an upcaster would change
                and _PLAIN[notification.topic] <= values.keys()
            ):
                if notification.topic != _REQUESTED:
                    return _StockValues(values, notification.originator_version)
                at = values["at"]
                # A datetime as the library's transcoder writes it (its `DatetimeAsISO`).
                if isinstance(at, dict) and at.get("_type_") == "datetime_iso":
                    return _Requested(values["source_id"], datetime.fromisoformat(at["_data_"]))
        return self._store.mapper.to_domain_event(notification)

    def sources(self) -> list[Source]:
        with self._lock:
            return list(self._sources.values())

    def source_ids(self) -> list[str]:
        with self._lock:
            return list(self._sources)

    def source_count(self) -> int:
        """How many sources are registered (routing counts those it did not give decide():
        a copy of their ids per order grew with the network)."""
        return len(self._sources)

    def holders(self, skus: Iterable[str]) -> dict[str, list[str]]:
        """For each SKU, the sources that hold a stock item of it (any quantity)."""
        with self._lock:
            return {sku: sorted(self._holders.get(sku, ())) for sku in skus}

    def held_by(self, skus: Iterable[str]) -> list[tuple[Source, dict[str, Holding]]]:
        """Each registered source holding some of the SKUs (by source id), with what it holds
        of each (in the order the SKUs are given): routing's look at an order's holders, under
        the lock once (each holder's source was looked up again after, a lock a candidate)."""
        with self._lock:
            stock: dict[str, dict[str, Holding]] = {}
            held = self._stock
            for sku in skus:
                for source_id in self._holders.get(sku, ()):
                    stock.setdefault(source_id, {})[sku] = held[(source_id, sku)]
            sources = self._sources
            return [(sources[k], stock[k]) for k in sorted(stock) if k in sources]

    def raised_since(
        self, skus: Iterable[str], position: int, excluded: Collection[str] = ()
    ) -> bool:
        """Whether an event after `position` may have freed units of one of the SKUs at a
        source not in `excluded`: stock registered or counted, adjusted up, released, or a
        reservation ended unshipped."""
        with self._lock:
            raised = self._raised
            for sku in skus:
                for source_id, at in raised.get(sku, {}).items():
                    if at > position and source_id not in excluded:
                        return True
            return False

    def any_free(self, sku: str) -> bool:
        """Whether some source holds a unit of the SKU that nobody has reserved."""
        with self._lock:
            for source_id in self._holders.get(sku, ()):
                held = self._stock.get((source_id, sku))
                if held is not None and held.on_hand > held.reserved:
                    return True
            return False

    def holding(self, source_id: str, sku: str) -> Holding | None:
        with self._lock:
            return self._stock.get((source_id, sku))

    def source(self, source_id: str) -> Source | None:
        with self._lock:
            return self._sources.get(source_id)

    def shipments_on(self, day: date) -> dict[str, int]:
        """Shipments requested per source on a (UTC) day: the capacity used that day."""
        with self._lock:
            return dict(self._shipments.get(day, {}))

    def snapshot(self) -> dict[str, Any]:
        """Everything the view holds, as plain data (to compare a live view with a rebuild)."""
        with self._lock:
            return {
                "sources": {k: (s.definition, s.active) for k, s in sorted(self._sources.items())},
                "stock": dict(sorted(self._stock.items())),
                "holders": {k: sorted(v) for k, v in sorted(self._holders.items())},
                "shipments": {d: dict(sorted(v.items())) for d, v in self._shipments.items()},
                "policy_generation": self.policy_generation,
            }

    def export(self) -> SupplyState:
        """The view's state and the position it covers, taken together. Only copies are made
        under the lock (holdings are immutable): routing waits about a millisecond at most."""
        with self._lock:
            return SupplyState(
                position=self._position,
                policy_generation=self.policy_generation,
                sources=[(k, s.definition, s.active) for k, s in self._sources.items()],
                stock=dict(self._stock),
                shipments={d: dict(v) for d, v in self._shipments.items()},
            )

    def restore(self, state: SupplyState) -> None:
        """Replace everything by a state exported at a position; `refresh()` goes on from it."""
        with self._lock:
            self._sources.clear()
            self._source_ids.clear()
            for source_id, definition, active in state.sources:
                self._set_source(source_id, definition, active)
            self._stock = dict(state.stock)
            self._holders = {}
            for source_id, sku in self._stock:
                self._holders.setdefault(sku, set()).add(source_id)
            self._shipments = {d: dict(v) for d, v in state.shipments.items()}
            self.policy_generation = state.policy_generation
            self._position = state.position
            self._raised = {}  # not in a checkpoint: whoever remembered positions starts over
            self.generation += 1
            self.applied = 0

    def _apply(self, topic: str, event: Any, position: int) -> None:
        kind, _, name = topic.rpartition(".")
        if kind == _STOCK_TOPIC:
            if name == "Registered":
                self._stock_registered(event)
            elif not self._stock_changed(event, _STOCK_CHANGES[name]):
                return
            self._raised.setdefault(event.sku, {})[event.source_id] = position
        elif kind == _SOURCE_TOPIC:
            self.generation += 1
            self._source_event(name, event)
        elif kind == _POLICY_TOPIC:
            self.generation += 1
            self.policy_generation += 1  # cached policies are stale
        else:
            self._shipment_requested(event)

    def _stock_registered(self, e: Any) -> None:
        self._stock[(e.source_id, e.sku)] = Holding(
            e.on_hand, 0, e.safety_stock, e.originator_version
        )
        self._holders.setdefault(e.sku, set()).add(e.source_id)

    def _stock_changed(self, e: Any, change: Change) -> bool:
        """Applies the change; whether it may have freed units (more on hand, less reserved or
        kept as safety stock: allocation rules keep a share of on hand)."""
        key = (e.source_id, e.sku)
        held = self._stock.get(key)
        if held is None or e.originator_version <= held.version:
            return False  # seen already (the log is read in order, so never "registered later")
        on_hand, reserved, safety = change(held, e)
        self._stock[key] = Holding(on_hand, reserved, safety, e.originator_version)
        return on_hand > held.on_hand or reserved < held.reserved or safety < held.safety_stock

    def _source_event(self, name: str, e: Any) -> None:
        if name == "Registered":
            self._set_source(e.source_id, e.definition, True)
            return
        known = self._sources.get(self._source_ids.get(e.originator_id, ""))
        if known is None:
            return
        if name == "Redefined":
            self._set_source(known.source_id, e.definition, known.active)
        else:
            self._set_source(known.source_id, known.definition, name == "Resumed")

    def _set_source(self, source_id: str, definition: dict[str, Any], active: bool) -> None:
        template = candidate_from(definition, active, {})
        candidate_definition(template)  # worked out once: each order's copies carry it
        self._sources[source_id] = Source(source_id, definition, active, template)
        self._source_ids[FulfillmentSource.create_id(source_id)] = source_id

    def _shipment_requested(self, e: Any) -> None:
        day = e.at.astimezone(UTC).date()
        per_source = self._shipments.setdefault(day, {})
        per_source[e.source_id] = per_source.get(e.source_id, 0) + 1
        for old in [d for d in self._shipments if (day - d).days > 1]:
            del self._shipments[old]  # capacity counts today's shipments; keep a day of margin


class _Requested(NamedTuple):
    """A shipment request read from its stored JSON: what the view takes from it."""

    source_id: str
    at: datetime


class _StockValues(SimpleNamespace):
    """A stock event read from its stored JSON: its values as attributes, as the event's."""

    def __init__(self, values: dict[str, Any], version: int) -> None:
        super().__init__(**values)
        self.originator_version = version


def _plain_mapper(mapper: Any) -> bool:
    """A mapper that stores events as the library's JSON, neither ciphered nor compressed."""
    return library_json(mapper.transcoder) and mapper.cipher is None and mapper.compressor is None


_STOCK_TOPIC = get_topic(StockItem)
_SOURCE_TOPIC = get_topic(FulfillmentSource)
_POLICY_TOPIC = get_topic(PolicyVersions)
# The stock events read from their JSON, and the values the view takes from each.
_KEYS = frozenset({"source_id", "sku"})
_PLAIN_STOCK = {
    event_topic(StockItem, "Registered"): _KEYS | {"on_hand", "safety_stock"},
    event_topic(StockItem, "Counted"): _KEYS | {"on_hand", "safety_stock"},
    event_topic(StockItem, "Adjusted"): _KEYS | {"delta"},
    event_topic(StockItem, "Reserved"): _KEYS | {"quantity"},
    event_topic(StockItem, "Released"): _KEYS | {"quantity"},
    event_topic(StockItem, "Consumed"): _KEYS | {"quantity", "freed"},
}
_REQUESTED = event_topic(Order, "FulfillmentRequested")
_PLAIN = {**_PLAIN_STOCK, _REQUESTED: frozenset({"source_id", "at"})}
TOPICS = (
    event_topic(StockItem, "Registered"),
    *(event_topic(StockItem, name) for name in _STOCK_CHANGES),
    *(event_topic(FulfillmentSource, name) for name in _SOURCE_EVENTS),
    *(event_topic(PolicyVersions, name) for name in _POLICY_EVENTS),
    event_topic(Order, "FulfillmentRequested"),
)
