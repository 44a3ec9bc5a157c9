"""Order events stay `aggregates.order:Order.<Event>` wherever their topic's class defines them,
and a stored topic reads back as the class that applies it (in a fresh interpreter, where no
earlier save has cached the topic)."""

import subprocess
import sys

from eventsourcing.utils import get_topic

from aggregates.contract import event_type_of
from aggregates.order import Order

EVENTS = [
    "Placed",
    "Accepted",
    "Rejected",
    "Held",
    "HoldReleased",
    "Routed",
    "FulfillmentRequested",
    "ShipmentProgressed",
    "ShipmentRejected",
    "ShipmentCancelled",
    "CancellationRequested",
    "Changed",
    "RerouteRequested",
    "InvoiceIssued",
    "PaymentCaptured",
    "ReturnRequested",
    "ReturnReceived",
    "Refunded",
]

READ_BACK = """
from eventsourcing.domain import decorated_funcs
from eventsourcing.utils import resolve_topic
from aggregates.order import Order
for name in {names!r}:
    cls = resolve_topic(f"aggregates.order:Order.{{name}}")
    assert cls is getattr(Order, name), name
    assert name == "Placed" or cls in decorated_funcs, name
print("ok")
"""


def test_every_order_event_is_stored_under_the_order_and_typed_as_an_order_event() -> None:
    for name in EVENTS:
        event_class = getattr(Order, name)
        assert get_topic(event_class) == f"aggregates.order:Order.{name}"
        assert event_type_of(event_class).startswith("orderhub.order.")


def test_a_stored_topic_reads_back_as_the_class_that_applies_it() -> None:
    script = READ_BACK.format(names=EVENTS)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
