"""The order's derived status, one rule for the Order and the order-status view."""

import pytest

from aggregates.order_states import FulfillmentFacts, derived_status
from aggregates.shipments import ShipmentState

S = ShipmentState
SHIPPED = {"s1": S.SHIPPED, "s2": S.ACCEPTED}


@pytest.mark.parametrize(
    ("unroutable", "held", "cancel_requested", "returned", "expected"),
    [
        (False, False, False, 0, "partially_shipped"),
        (True, True, False, 3, "unroutable"),  # a person must act: it outranks everything
        (False, True, False, 3, "held"),  # lines wait for a person while others ship
        (True, False, True, 0, "partially_shipped"),  # a cancellation lifts unroutable/held
        (False, True, True, 0, "partially_shipped"),
        (False, False, False, 2, "partially_returned"),
        (False, False, False, 5, "returned"),
    ],
)
def test_a_person_outranks_returns_and_returns_outrank_the_shipments(
    unroutable: bool, held: bool, cancel_requested: bool, returned: int, expected: str
) -> None:
    status = derived_status(
        FulfillmentFacts(
            shipments=SHIPPED,
            unroutable=unroutable,
            held=held,
            cancel_requested=cancel_requested,
            returned_units=returned,
            shipped_units=5,
        )
    )

    assert status == expected
