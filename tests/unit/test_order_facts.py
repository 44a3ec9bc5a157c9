"""The order view keeps its status facts typed; rows an earlier release wrote still read."""

from projections.order_rows import OrderFacts

# As the order_status table of the release of 2026-12-03 kept them (JSON text, keys as set).
EARLIER = (
    '{"counted": ["s1"], "invoiced": ["s1"], "planned": true, "promise": "planned", '
    '"returned_units": 1, "shipments": {"s1": "delivered", "s2": "cancelled"}, '
    '"shipped_units": 3, "waiting": false, "withdrawing": ["s2"]}'
)


def test_facts_written_by_an_earlier_release_read_as_the_same_facts() -> None:
    facts = OrderFacts.from_json(EARLIER)

    assert facts == OrderFacts(
        shipments={"s1": "delivered", "s2": "cancelled"},
        withdrawing=("s2",),
        invoiced=("s1",),
        shipped_units=3,
        returned_units=1,
        counted=("s1",),
        promise="planned",
        planned=True,
    )
    assert facts.status() == "partially_returned"


def test_a_row_placed_by_an_earlier_release_has_only_its_promise() -> None:
    assert OrderFacts.from_json('{"promise": "estimate"}') == OrderFacts(promise="estimate")


def test_facts_survive_their_json() -> None:
    facts = OrderFacts(shipments={"s1": "shipped"}, invoiced=("s1",), held=True, unroutable="x")

    assert OrderFacts.from_json(facts.to_json()) == facts
