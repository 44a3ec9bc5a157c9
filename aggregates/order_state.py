"""What an order knows, and the base its topics build on.

The Order (aggregates.order) is this state with the commands and events of each topic mixed
in: intake and routing in order.py, what the sources report (order_fulfillment), cancellation,
change and manual re-routing (order_withdrawals), invoices, payments, returns and refunds
(order_billing). Each topic defines its events with `order_event`, so that they are stored,
as ever, under `aggregates.order:Order.<Event>` whichever module holds them.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from aggregates.errors import InvalidTransitionError
from aggregates.order_states import FulfillmentFacts, OrderStatus, derived_status
from aggregates.shipments import CLOSED, LEFT_THE_BUILDING

if TYPE_CHECKING:
    from aggregates.order_values import Hold, IssuedInvoice, ReturnAuthorisation, Shipment
    from schemas.decision_record import DecisionRecord
    from schemas.submission import OrderSubmission

_F = TypeVar("_F", bound=Callable[..., Any])
ORDER_TOPIC = "aggregates.order:Order"


def order_event(name: str) -> Callable[[_F], _F]:
    """@event for an Order event defined in a topic's module: stored as Order.<name>."""
    return event(name, topic=f"{ORDER_TOPIC}.{name}")


def adopt_events(order_class: type, topic_class: type) -> None:
    """Make a topic's events the order's own: `Order.<Event>` is the class that is triggered,
    stored and read back.

    The library gives Order a subclass of each event it inherits, one without the method that
    applies it; its topic would resolve to that subclass when read back."""
    for name, value in vars(topic_class).items():
        if isinstance(value, type) and "TOPIC" in vars(value):
            register_topic(vars(value)["TOPIC"], value)
            setattr(order_class, name, value)


class OrderState(Aggregate):
    if TYPE_CHECKING:  # set by the Placed event (aggregates.order); declared for the topics
        channel: str
        external_id: str
        submission: OrderSubmission
        digest: str
        raw_payload: str
        correlation_id: str
        status: OrderStatus
        rejection_reasons: list[str]
        hold: Hold | None
        holds_released: bool
        split_limit_released: bool
        pinned_source: str | None
        routing_attempts: int
        shipments: dict[str, Shipment]
        waiting: dict[str, int]
        decision: DecisionRecord | None
        rejected_sources: list[str]
        invoices: dict[str, IssuedInvoice]
        cancel_requested: bool
        withdrawing: set[str]
        unroutable: str | None
        revision: int
        captures: dict[str, str]
        returns: dict[str, ReturnAuthorisation]
        returned: dict[str, int]
        refunds: list[str]
        explanation: str | None

    def _number(self, sequences: dict[str, int] | None) -> None:
        for sid, sequence in (sequences or {}).items():
            self.shipments[sid] = replace(self.shipments[sid], sequence=sequence)

    def live_shipment_sources(self) -> tuple[str, ...]:
        """The source of each shipment that counts against the policy's split limit: not
        rejected or cancelled, and not withdrawn (unless it left before the withdrawal)."""
        return tuple(
            sorted(
                s.source_id
                for sid, s in self.shipments.items()
                if s.state not in CLOSED
                and (sid not in self.withdrawing or s.state in LEFT_THE_BUILDING)
            )
        )

    def _derive_status(self) -> None:
        if not self.shipments and not self.cancel_requested:
            return
        self.status = derived_status(
            FulfillmentFacts(
                shipments={sid: s.state for sid, s in self.shipments.items()},
                withdrawing=self.withdrawing,
                waiting=bool(self.waiting),
                invoiced=self.invoices.keys(),
                unroutable=self.unroutable is not None,
                held=self.hold is not None,
                cancel_requested=self.cancel_requested,
                shipped_units=sum(self.shipped_units().values()),
                returned_units=sum(self.returned.values()),
            )
        )

    def _sku_of(self, line_id: str) -> str:
        return next(line.sku for line in self.submission.lines if line.line_id == line_id)

    def check_status_in(self, allowed: frozenset[OrderStatus], command: str) -> None:
        if self.status not in allowed:
            raise InvalidTransitionError(self.id, self.status.value, command)

    def check_status_is(self, expected: OrderStatus, command: str) -> None:
        if self.status is not expected:
            raise InvalidTransitionError(self.id, self.status.value, command)

    def shipped_units(self) -> dict[str, int]:
        """Units per line that left the building."""
        shipped: dict[str, int] = {}
        for shipment in self.shipments.values():
            for line in shipment.shipped_lines or ():
                shipped[line.line_id] = shipped.get(line.line_id, 0) + line.quantity
        return shipped
