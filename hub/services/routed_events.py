"""A new order's routing (`Routed` and its `FulfillmentRequested`s) written straight to its
stored form.

Routing an accepted order went through the `Order` aggregate: `Order.route` triggers `Routed`
and one `FulfillmentRequested` per shipment through the library's command-method machinery (the
arguments coerced and filtered by signature for each event, each event built and applied to the
aggregate, its status derived again), then the mapper copies each event's fields, dumps its value
objects and writes its JSON. The aggregate is then dropped: the orchestrator reads orders anew
for every batch. Here the stored events are written from the decision itself, as intake3 did
for `Placed` and `Accepted` (hub.services.order_events): the same fields in the same order,
each value object dumped by the mapper's own codec (an order's address once for all of its
shipments), the same `stored_json` writer; so the stored bytes are those the aggregate and the
mapper write (tests/unit/test_routed_events.py compares them over many orders), and the status
the aggregate would reach is derived by the same rule (`derived_status`).

Only what is certain goes this way: an order in its first routing (accepted, nothing shipped,
held, invoiced, withdrawn or returned), a store writing the library's JSON with no compression,
encryption or aggregate cache, events of class version 1. `events_of` answers None otherwise,
and the aggregate's path is taken.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from aggregates.order import Order
from aggregates.order import _iso as iso_time
from aggregates.order_states import FulfillmentFacts, OrderStatus, derived_status
from aggregates.order_values import RequestedShipment, ShipmentLine
from aggregates.shipments import ShipmentState
from aggregates.stored_json import stored_json, writes_plainly
from aggregates.typed_mapper import value_fields
from hub.services.reserved_events import event_clock, stored_straight
from hub.store import OrderStore
from orchestration_policies.canonical import may_differ
from schemas.decision_record import DecisionRecord

_ROUTED: Any = vars(Order)["Routed"]
_REQUESTED: Any = vars(Order)["FulfillmentRequested"]
_ROUTED_TOPIC = get_topic(_ROUTED)
_REQUESTED_TOPIC = get_topic(_REQUESTED)
_ROUTED_CODECS = value_fields(_ROUTED)
_REQUESTED_CODECS = value_fields(_REQUESTED)
# Fields whose dumped values are plain JSON values that `stored_json` need not walk: the
# mapper's own choice (a value that writes itself), kept.
_ROUTED_PLAIN = frozenset(n for n, c in _ROUTED_CODECS.items() if c.plain)
_REQUESTED_PLAIN = frozenset(n for n, c in _REQUESTED_CODECS.items() if c.plain)


class RoutedOrderEvents:
    """Writes the stored events of an accepted order's first routing, for one store."""

    def __init__(self, store: OrderStore, timestamp: Callable[[], datetime] | None = None) -> None:
        self._transcoder: Any = store.mapper.transcoder
        self._timestamp = event_clock(_ROUTED, timestamp)
        self.usable = stored_straight(store, _ROUTED, _REQUESTED)

    def events_of(
        self,
        order: Order,
        decision: DecisionRecord,
        digests: tuple[str, str],  # the decision's, the inputs'
        shipments: Sequence[RequestedShipment],
        waiting: dict[str, int],
        unroutable_reason: str | None,
        actor: str,
        now: datetime,
        unfulfillable: dict[str, str] | None = None,
        canonical: bytes | None = None,
    ) -> tuple[list[StoredEvent], OrderStatus] | None:
        """What `order.route(...)` with these arguments would store, and the status it would
        reach; None where the aggregate's path must be taken (see the module's docstring).
        `canonical`: the decision's canonical JSON, made for its digest
        (decision_records.digest_of): stored as the event's decision, keys sorted, instead of
        writing the record a second time in its own key order (the same values: a reader
        cannot tell but by the keys' order)."""
        if not self.usable or not _first_routing(order):
            return None
        skus = {line.line_id: line.sku for line in order.submission.lines}
        waiting_lines = [ShipmentLine(lid, skus[lid], qty) for lid, qty in sorted(waiting.items())]
        version = order.version
        stored = [
            StoredEvent(
                order.id, version + 1, _ROUTED_TOPIC, self._routed(order, decision, digests,
                waiting_lines, unroutable_reason, actor, now, unfulfillable or None, canonical)
            )
        ]  # fmt: skip
        requested = self._requested(order, actor, now)
        for n, shipment in enumerate(shipments, start=version + 2):
            stored.append(StoredEvent(order.id, n, _REQUESTED_TOPIC, requested(shipment)))
        return stored, _status(order, shipments, bool(waiting), unroutable_reason)

    def _routed(
        self,
        order: Order,
        decision: DecisionRecord,
        digests: tuple[str, str],
        waiting_lines: list[ShipmentLine],
        unroutable_reason: str | None,
        actor: str,
        now: datetime,
        unfulfillable: dict[str, str] | None,
        canonical: bytes | None,
    ) -> bytes:
        dump = _ROUTED_CODECS
        state = {
            "timestamp": self._timestamp(),
            "policy_id": decision.policy.id,
            "policy_version": decision.policy.version,
            "decision": dump["decision"].dump(decision),
            "decision_digest": digests[0],
            "explanation": "",  # derived from the record when read (decision_records)
            "inputs_digest": digests[1],
            "waiting_lines": dump["waiting_lines"].dump(waiting_lines),
            "demand_class": order.submission.customer.demand_class,
            "placed_at": iso_time(order.submission.placed_at),
            "unroutable_reason": unroutable_reason,
            "actor": actor,
            "correlation_id": order.correlation_id,
            "at": now,
            "unfulfillable": unfulfillable,
        }
        if canonical is None:
            return stored_json(self._transcoder, state, _ROUTED_PLAIN)
        # Its figures written as json.dumps writes them already: nothing to scan for.
        written = {"decision": canonical}
        return stored_json(
            self._transcoder, state, _ROUTED_PLAIN, plain_floats=False, written=written
        )

    def _requested(
        self, order: Order, actor: str, now: datetime
    ) -> Callable[[RequestedShipment], bytes]:
        """The writer of the order's shipment requests: what they share made once."""
        dump = _REQUESTED_CODECS
        submission = order.submission
        ship_to = dump["ship_to"].dump(submission.ship_to)
        promised = submission.promised_by
        promised_by = None if promised is None else iso_time(promised)
        correlation_id = order.correlation_id
        # The address holds the event's only floats: looked at once for the order's shipments.
        numbers = _figures_as_standard(ship_to)
        # And walked once (whether orjson writes it as the transcoder does), not per shipment.
        plain = _REQUESTED_PLAIN
        if numbers == b"" and writes_plainly(ship_to, self._transcoder.types):
            plain = _REQUESTED_PLAIN | {"ship_to"}

        def write(shipment: RequestedShipment) -> bytes:
            state = {
                "timestamp": self._timestamp(),
                "shipment_id": shipment.shipment_id,
                "source_id": shipment.source_id,
                "lines": dump["lines"].dump(list(shipment.lines)),
                "ship_to": ship_to,
                "delivery_method": submission.delivery_method.value,
                "promised_by": promised_by,
                "actor": actor,
                "correlation_id": correlation_id,
                "at": now,
                "shipment_sequence": 1,
            }
            return stored_json(self._transcoder, state, plain, numbers_in=numbers)

        return write


def _figures_as_standard(values: Any) -> bytes | None:
    """b"" (`stored_json`'s `numbers_in`: no number to write again) when orjson writes every
    float of these JSON values as json.dumps does; None (look at the whole) otherwise."""
    try:
        return None if may_differ(orjson.dumps(values)) else b""
    except (orjson.JSONEncodeError, TypeError):
        return None


def _first_routing(order: Order) -> bool:
    """An accepted order nothing has happened to since: what `Order.route` then does is only
    what this module writes, and its status follows from the decision alone."""
    return (
        order.status is OrderStatus.ACCEPTED
        and not order.shipments
        and order.hold is None
        and not order.waiting
        and not order.invoices
        and not order.withdrawing
        and not order.returned
        and not order.cancel_requested
    )


def _status(
    order: Order,
    shipments: Sequence[RequestedShipment],
    waiting: bool,
    unroutable_reason: str | None,
) -> OrderStatus:
    """The status `Order.route` leaves a first routing in: `Routed`'s, then (with shipments)
    the one rule of fulfillment, as each `FulfillmentRequested` derives it."""
    if not shipments:
        if unroutable_reason is not None:
            return OrderStatus.UNROUTABLE
        return OrderStatus.BACKORDERED if waiting else OrderStatus.ROUTED
    return derived_status(
        FulfillmentFacts(
            shipments={s.shipment_id: ShipmentState.REQUESTED for s in shipments},
            waiting=waiting,
            unroutable=unroutable_reason is not None,
        )
    )
