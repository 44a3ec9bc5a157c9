"""A batch of orders decided together: each sees what the ones before it reserved."""

from pathlib import Path
from typing import Any

from hub.services.intake import SubmitOrder
from schemas.event_types import EventType
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission
from tests.contracts.factories import source_definition, submission_dict
from tests.support.running_hub import embedded_hub


def _command(n: int) -> SubmitOrder:
    body: dict[str, Any] = submission_dict(
        external_id=f"WEB-B{n}",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "19.90"}],
    )
    submission = OrderSubmission.model_validate(body)
    return SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", f"c{n}")


def test_five_orders_for_three_free_units_in_one_batch_route_three_and_backorder_two(
    tmp_path: Path,
) -> None:
    hub = embedded_hub(tmp_path)
    hub.catalog.register_source(source_definition("wh-lyon"), actor="user:admin")
    hub.catalog.apply_stock(
        # 4 on hand: the default policy keeps one (10 %, rounded up) for vip customers.
        StockSnapshot(source_id="wh-lyon", sku="RED-CHAIR", on_hand=4),
        actor="user:admin",
    )
    placed = hub.intake.place_orders([_command(n) for n in range(5)])
    before = hub.store.max_position()

    results = hub.orchestration.orchestrate_many([r.order_id for r in placed])

    assert [r.outcome for r in results] == ["routed"] * 3 + ["backordered"] * 2
    item = hub.catalog.find_stock("wh-lyon", "RED-CHAIR")
    assert item is not None and (item.reserved, item.available) == (3, 1)
    recorded = [env.type for _, env in hub.store.read_envelopes(before, 100)]
    assert recorded.count(EventType.ORDER_ROUTED) == 5
    assert recorded.count(EventType.STOCK_ITEM_RESERVED) == 3
    # Again, with nothing new in stock: routed ones are skipped, backordered ones unchanged,
    # and nothing is recorded (a periodic sweep must not grow the log).
    position = hub.store.max_position()
    again = hub.orchestration.orchestrate_many([r.order_id for r in placed])
    assert [r.outcome for r in again] == ["skipped"] * 3 + ["unchanged"] * 2
    assert hub.store.max_position() == position
    hub.close()
