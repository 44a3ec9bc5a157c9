"""Cancelling the rest of an order that shipped in part, in the embedded hub over HTTP: Lyon
ships the chairs, Lille holds the table, the lamp waits for stock; the service desk cancels
the rest. The table's shipment is withdrawn, the lamp leaves the waiting pile, the order ends
as what shipped, Lille's stock is released and only the chairs are invoiced."""

from typing import Any

import httpx
import pytest
import pytest_asyncio

from aggregates import order_id_for
from hub.bootstrap import Hub
from tests.contracts.factories import submission_dict
from tests.e2e.test_embedded_orchestration import LYON_CUSTOMER, put_sources, put_stock
from tests.e2e.test_fulfillment_embedded import (
    PROBLEM_JSON,
    SHIPPED,
    applied,
    events,
    requested_shipments,
    status_of,
    update,
)
from tests.support.running_hub import decided

LINES = [
    {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2, "unit_price": "20.00"},
    {"line_id": "2", "sku": "OAK-TABLE", "quantity": 1, "unit_price": "300.00"},
    {"line_id": "3", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"},
]
RANK = {"standard": 0}
LILLE = "store-lille"


@pytest_asyncio.fixture
async def hub_client(
    running_hub: tuple[httpx.AsyncClient, Hub],
) -> tuple[httpx.AsyncClient, Hub]:
    """Chairs at Lyon, tables at Lille, no lamp anywhere."""
    client = running_hub[0]
    await put_sources(client)
    await put_stock(client, "wh-lyon", 10, "RED-CHAIR")
    await put_stock(client, "store-lille", 5, "OAK-TABLE")
    await put_stock(client, "wh-lyon", 0, "BLUE-LAMP")
    return running_hub


@pytest_asyncio.fixture
async def shipped_in_part(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> tuple[httpx.AsyncClient, Hub, str]:
    """The order: Lyon shipped the chairs, Lille holds the table, the lamp waits."""
    client, hub = hub_client
    external_id = "WEB-7101"
    payload = submission_dict(
        external_id=external_id,
        customer={"id": f"CUST-{external_id}"},
        ship_to=LYON_CUSTOMER,
        lines=LINES,
        payment_state="authorized",
    )
    assert (await client.post("/v1/orders", json=payload)).status_code == 202
    order_id = str(order_id_for("web-shop", external_id))
    await decided(client, order_id)
    shipments = dict((source, sid) for sid, source in requested_shipments(hub, order_id))
    assert set(shipments) == {"wh-lyon", "store-lille"}
    chairs = await applied(
        client, update(order_id, shipments["wh-lyon"], "wh-lyon", "shipped", **SHIPPED)
    )
    assert chairs["order_status"] == "backordered"  # the lamp waits
    assert order_id in hub.backorders.waiting_for("BLUE-LAMP", RANK)
    return client, hub, order_id


async def key(client: httpx.AsyncClient, **body: str) -> dict[str, str]:
    issued = await client.post("/v1/keys", json=body)
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['api_key']}"}


async def level(client: httpx.AsyncClient, source_id: str, sku: str) -> tuple[int, int]:
    body: dict[str, Any] = (await client.get(f"/v1/stock/{source_id}/{sku}")).json()
    return body["on_hand"], body["reserved"]


@pytest.mark.asyncio
async def test_the_rest_of_an_order_shipped_in_part_is_cancelled_and_the_order_closed(
    shipped_in_part: tuple[httpx.AsyncClient, Hub, str],
) -> None:
    client, hub, order_id = shipped_in_part
    table = dict((source, sid) for sid, source in requested_shipments(hub, order_id))["store-lille"]

    desk, lille = await key(client, role="ops"), await key(client, role="source", source_id=LILLE)
    body = {"reason": "the customer will not wait"}
    by_lille = await client.post(f"/v1/orders/{order_id}/cancel", json=body, headers=lille)
    assert by_lille.status_code == 403, "a source cannot cancel the order it ships"

    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", json=body, headers=desk)

    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json() == {
        "order_id": order_id,
        "withdrawn_shipments": [table],
        "status": "cancelling",
    }
    (requested,) = events(hub, order_id, "cancellation_requested")
    assert requested.actor.kind == "user", "the service desk's key"
    assert requested.data["cancelled_lines"] == [
        {"line_id": "2", "sku": "OAK-TABLE", "quantity": 1},
        {"line_id": "3", "sku": "BLUE-LAMP", "quantity": 1},
    ]
    assert await status_of(client, order_id) == "cancelling"
    assert hub.backorders.waiting_for("BLUE-LAMP", RANK) == [], "it waits no more"
    assert await level(client, "store-lille", "OAK-TABLE") == (5, 1), "until Lille answers"

    again = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "again"})
    assert again.status_code == 202, again.text
    assert again.json()["withdrawn_shipments"] == []
    assert len(events(hub, order_id, "cancellation_requested")) == 1

    confirmed = await applied(
        client, update(order_id, table, "store-lille", "cancellation_confirmed", 1)
    )

    assert confirmed["order_status"] == "shipped"
    assert await status_of(client, order_id) == "shipped"
    assert await level(client, "store-lille", "OAK-TABLE") == (5, 0)
    assert await level(client, "wh-lyon", "RED-CHAIR") == (8, 0)
    (invoice,) = events(hub, order_id, "invoice_issued")
    assert [line["line_id"] for line in invoice.data["lines"]] == ["1"]
    assert invoice.data["gross_total"] == "48.00"  # 2 x 20.00 + 20 % VAT: the chairs only
    assert len(requested_shipments(hub, order_id)) == 2, "nothing routed again"


@pytest.mark.asyncio
async def test_lines_of_a_cancel_after_shipment_are_checked_one_by_one(
    shipped_in_part: tuple[httpx.AsyncClient, Hub, str],
) -> None:
    client, hub, order_id = shipped_in_part
    position = hub.store.max_position()

    async def cancel(lines: dict[str, int]) -> httpx.Response:
        body = {"reason": "desk", "lines": lines}
        return await client.post(f"/v1/orders/{order_id}/cancel", json=body)

    shipped_line, unknown, too_many, part = (
        await cancel({"1": 2}),
        await cancel({"9": 1}),
        await cancel({"3": 2}),
        await cancel({"3": 1}),
    )

    assert shipped_line.status_code == 409
    assert shipped_line.headers["content-type"] == PROBLEM_JSON
    assert shipped_line.json()["errors"] == [
        {
            "field": "lines.1",
            "message": "line 1 shipped in full: only a return is possible",
            "code": "shipped",
        }
    ]
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "lines.9"
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["code"] == "too_many"
    assert part.status_code == 409
    assert "whole rest (2: 1, 3: 1)" in part.json()["title"]
    assert hub.store.max_position() == position
    assert await status_of(client, order_id) == "backordered"

    whole = await cancel({"2": 1, "3": 1})
    assert whole.status_code == 202, whole.text
    assert await status_of(client, order_id) == "cancelling"
