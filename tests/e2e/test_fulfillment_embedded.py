"""Fulfillment in the embedded hub, over HTTP: sources report on their shipments, orders are
followed to delivery and invoiced, re-routed when a source rejects, cancelled before they ship;
refused updates are parked and change nothing."""

from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from aggregates import Order, order_id_for
from hub.bootstrap import Hub
from schemas.envelope import EventEnvelope
from tests.contracts.factories import NOW, submission_dict
from tests.e2e.test_embedded_orchestration import LYON_CUSTOMER, put_sources
from tests.support.running_hub import decided

PROBLEM_JSON = "application/problem+json"
SKU = "RED-CHAIR"
UNIT_PRICE = "19.99"
AT = NOW + timedelta(hours=2)
BRUSSELS_CUSTOMER = {
    "name": "Hergé Remi",
    "line1": "Rue de la Loi 16",
    "city": "Bruxelles",
    "postal_code": "1000",
    "country": "BE",
    "lat": 50.846,
    "lon": 4.352,
}


@pytest_asyncio.fixture
async def hub_client(
    running_hub: tuple[httpx.AsyncClient, Hub],
) -> tuple[httpx.AsyncClient, Hub]:
    """Two sources with 10 chairs each."""
    await put_sources(running_hub[0], on_hand=10)
    return running_hub


# --- small steps, in HTTP -------------------------------------------------------------------


async def place(
    client: httpx.AsyncClient,
    external_id: str,
    quantity: int = 3,
    ship_to: dict[str, Any] = LYON_CUSTOMER,
) -> str:
    payload = submission_dict(
        external_id=external_id,
        customer={"id": f"CUST-{external_id}"},
        ship_to=ship_to,
        lines=[{"line_id": "1", "sku": SKU, "quantity": quantity, "unit_price": UNIT_PRICE}],
        payment_state="authorized",
    )
    response = await client.post("/v1/orders", json=payload)
    assert response.status_code == 202, response.text
    order_id = str(order_id_for("web-shop", external_id))
    await decided(client, order_id)  # routing runs after the answer
    return order_id


def update(
    order_id: str, shipment_id: str, source_id: str, kind: str, minute: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "shipment_id": shipment_id,
        "source_id": source_id,
        "kind": kind,
        "at": (AT + timedelta(minutes=minute)).isoformat(),
        **extra,
    }


async def report(
    client: httpx.AsyncClient, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await client.post("/v1/fulfillment/updates", json=body, headers=headers)


async def applied(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await report(client, body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def status_of(client: httpx.AsyncClient, order_id: str) -> str:
    """The status the order view shows, which must be the one the order itself has."""
    response = await client.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    decided = await client.get(f"/v1/orders/{order_id}/decision")
    assert decided.status_code == 200, decided.text
    shown, actual = response.json()["status"], decided.json()["status"]
    assert shown == actual, f"the view shows {shown}, the order is {actual}"
    return str(shown)


async def stock(client: httpx.AsyncClient, source_id: str) -> tuple[int, int]:
    response = await client.get(f"/v1/stock/{source_id}/{SKU}")
    assert response.status_code == 200, response.text
    level = response.json()
    return level["on_hand"], level["reserved"]


def events(hub: Hub, order_id: str, event_type: str) -> list[EventEnvelope]:
    return [
        env
        for _, env in hub.store.read_envelopes(None, 100_000)
        if env.subject == order_id and env.type == f"orderhub.order.{event_type}"
    ]


def requested_shipments(hub: Hub, order_id: str) -> list[tuple[str, str]]:
    """(shipment id, source) of every FulfillmentRequested, in order."""
    return [
        (str(e.data["shipment_id"]), str(e.data["source_id"]))
        for e in events(hub, order_id, "fulfillment_requested")
    ]


def order_of(hub: Hub, order_id: str) -> Order:
    order = hub.intake.find(UUID(order_id))
    assert order is not None
    return order


async def routed_to(
    client: httpx.AsyncClient, hub: Hub, external_id: str, source_id: str = "wh-lyon"
) -> tuple[str, str]:
    order_id = await place(client, external_id)
    assert await status_of(client, order_id) == "routed"
    ((shipment_id, source),) = requested_shipments(hub, order_id)
    assert source == source_id
    return order_id, shipment_id


SHIPPED = {"carrier": "DHL", "tracking": "JD014600006281"}


# --- the whole way --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_order_followed_to_delivery_is_invoiced_with_french_vat_and_completed(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4001")
    assert await stock(client, "wh-lyon") == (10, 3)

    seen = []
    for minute, kind in enumerate(["accepted", "picked", "packed"]):
        answer = await applied(client, update(order_id, shipment, "wh-lyon", kind, minute))
        assert answer["applied"] is True
        seen.append(await status_of(client, order_id))
    shipped = await applied(client, update(order_id, shipment, "wh-lyon", "shipped", 3, **SHIPPED))
    after_shipping = await status_of(client, order_id)
    on_the_way = await stock(client, "wh-lyon")
    delivered = await applied(client, update(order_id, shipment, "wh-lyon", "delivered", 4))

    assert seen == ["in_fulfillment"] * 3
    assert (shipped["applied"], after_shipping) == (True, "shipped")
    assert on_the_way == (7, 0), "3 chairs left the shelf, the reservation is used up"
    assert delivered == {
        "order_id": order_id,
        "shipment_id": shipment,
        "applied": True,
        "order_status": "completed",
    }
    assert await status_of(client, order_id) == "completed"
    assert await stock(client, "wh-lyon") == (7, 0)
    assert await stock(client, "store-lille") == (10, 0)
    progressed = events(hub, order_id, "shipment_progressed")
    assert [e.data["state"] for e in progressed] == [
        "accepted",
        "picked",
        "packed",
        "shipped",
        "delivered",
    ]
    assert {str(e.actor) for e in progressed} == {"source:wh-lyon"}
    assert (progressed[3].data["carrier"], progressed[3].data["tracking"]) == (
        "DHL",
        "JD014600006281",
    )
    (invoice,) = events(hub, order_id, "invoice_issued")
    assert str(invoice.actor) == "system:billing"
    assert invoice.data["shipment_id"] == shipment
    assert invoice.data["lines"] == [
        {"line_id": "1", "sku": SKU, "quantity": 3, "unit_price": "19.99", "net": "59.97"}
    ]
    # 3 x 19.99 = 59.97; VAT 20 % = 11.994, rounded to the cent.
    assert (invoice.data["currency"], invoice.data["tax_rate"]) == ("EUR", "0.20")
    assert (
        invoice.data["net_total"],
        invoice.data["tax_total"],
        invoice.data["gross_total"],
    ) == ("59.97", "11.99", "71.96")


@pytest.mark.asyncio
async def test_an_order_shipped_to_belgium_is_invoiced_with_belgian_vat(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id = await place(client, "WEB-4002", ship_to=BRUSSELS_CUSTOMER)
    ((shipment, source),) = requested_shipments(hub, order_id)

    await applied(client, update(order_id, shipment, source, "shipped", **SHIPPED))

    (invoice,) = events(hub, order_id, "invoice_issued")
    # 59.97 x 21 % = 12.5937
    assert (
        invoice.data["tax_rate"],
        invoice.data["net_total"],
        invoice.data["tax_total"],
        invoice.data["gross_total"],
    ) == ("0.21", "59.97", "12.59", "72.56")


@pytest.mark.asyncio
async def test_a_shipment_reported_shipped_before_accepted_is_shipped_and_the_late_steps_are_stale(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4003")

    first = await applied(client, update(order_id, shipment, "wh-lyon", "shipped", 5, **SHIPPED))
    late = [
        await applied(client, update(order_id, shipment, "wh-lyon", kind, minute))
        for minute, kind in enumerate(["accepted", "picked", "packed"])
    ]

    assert (first["applied"], first["order_status"]) == (True, "shipped")
    assert [answer["applied"] for answer in late] == [False, False, False]
    assert await status_of(client, order_id) == "shipped"
    assert await stock(client, "wh-lyon") == (7, 0)
    assert [e.data["state"] for e in events(hub, order_id, "shipment_progressed")] == ["shipped"]
    delivered = await applied(client, update(order_id, shipment, "wh-lyon", "delivered", 6))
    assert delivered["order_status"] == "completed"


@pytest.mark.asyncio
async def test_a_shipment_reported_delivered_without_shipped_is_invoiced_and_completes(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4012")

    answer = await applied(client, update(order_id, shipment, "wh-lyon", "delivered"))

    assert answer["applied"] is True
    assert await stock(client, "wh-lyon") == (7, 0), "the goods left the shelf"
    (invoice,) = events(hub, order_id, "invoice_issued")
    assert invoice.data["gross_total"] == "71.96"
    assert await status_of(client, order_id) == "completed"


@pytest.mark.asyncio
async def test_a_repeated_update_answers_applied_false_and_records_nothing(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4004")
    shipped = update(order_id, shipment, "wh-lyon", "shipped", **SHIPPED)
    assert (await applied(client, shipped))["applied"] is True
    position = hub.store.max_position()

    again = await applied(client, shipped)
    packed_late = await applied(client, update(order_id, shipment, "wh-lyon", "packed"))

    assert (again["applied"], again["order_status"]) == (False, "shipped")
    assert packed_late["applied"] is False
    assert hub.store.max_position() == position
    assert await stock(client, "wh-lyon") == (7, 0), "on-hand went down once"
    assert len(events(hub, order_id, "invoice_issued")) == 1


# --- rejection and re-routing ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_rejected_shipment_is_routed_again_to_another_source_than_the_rejecting_one(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, lyon_shipment = await routed_to(client, hub, "WEB-4005")

    answer = await applied(
        client,
        update(order_id, lyon_shipment, "wh-lyon", "rejected", reason="shelf empty after a count"),
    )

    assert answer["applied"] is True
    assert await status_of(client, order_id) == "routed"
    first, second = requested_shipments(hub, order_id)
    assert first == (lyon_shipment, "wh-lyon")
    assert second[1] == "store-lille" and second[0] != lyon_shipment
    (rejected,) = events(hub, order_id, "shipment_rejected")
    assert (rejected.data["source_id"], rejected.data["reason"]) == (
        "wh-lyon",
        "shelf empty after a count",
    )
    assert rejected.data["lines"] == [{"line_id": "1", "sku": SKU, "quantity": 3}]
    assert len(events(hub, order_id, "routed")) == 2
    order = order_of(hub, order_id)
    assert (order.routing_attempts, order.rejected_sources) == (2, ["wh-lyon"])
    assert await stock(client, "wh-lyon") == (10, 0), "Lyon's reservation was given back"
    assert await stock(client, "store-lille") == (10, 3)

    # The new shipment is followed like any other; Lyon cannot report on it.
    lille_shipment = second[0]
    wrong = await report(client, update(order_id, lille_shipment, "wh-lyon", "accepted"))
    done = await applied(
        client, update(order_id, lille_shipment, "store-lille", "shipped", **SHIPPED)
    )
    assert wrong.status_code == 422
    assert done["order_status"] == "shipped"
    assert await stock(client, "store-lille") == (7, 0)


async def rejected_everywhere(client: httpx.AsyncClient, hub: Hub, external_id: str) -> str:
    order_id, lyon_shipment = await routed_to(client, hub, external_id)
    await applied(client, update(order_id, lyon_shipment, "wh-lyon", "rejected", reason="broken"))
    (_, (lille_shipment, _)) = requested_shipments(hub, order_id)
    await applied(
        client, update(order_id, lille_shipment, "store-lille", "rejected", 1, reason="lost")
    )
    return order_id


@pytest.mark.asyncio
async def test_an_order_every_source_rejected_is_unroutable_and_asks_no_source_again(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client

    order_id = await rejected_everywhere(client, hub, "WEB-4006")

    decided = await client.get(f"/v1/orders/{order_id}/decision")
    assert decided.json()["status"] == "unroutable"
    assert decided.json()["decision"]["shipments"] == {}
    last = events(hub, order_id, "routed")[-1]
    assert last.data["unroutable_reason"] == "1: no_eligible_source"
    assert len(requested_shipments(hub, order_id)) == 2, "no source was asked a third time"
    assert sorted(order_of(hub, order_id).rejected_sources) == ["store-lille", "wh-lyon"]
    assert await stock(client, "wh-lyon") == (10, 0)
    assert await stock(client, "store-lille") == (10, 0)


@pytest.mark.asyncio
async def test_the_order_view_shows_an_order_no_source_is_left_for_as_an_exception(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client

    order_id = await rejected_everywhere(client, hub, "WEB-4006")

    shown = (await client.get(f"/v1/orders/{order_id}")).json()
    assert shown["status"] in ("backordered", "unroutable")
    assert shown["reasons"], "the exception says why"


# --- cancellation ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_order_cancelled_before_it_ships_is_cancelled_when_the_source_confirms(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4007")
    await applied(client, update(order_id, shipment, "wh-lyon", "accepted"))

    cancelled = await client.post(
        f"/v1/orders/{order_id}/cancel", json={"reason": "customer changed her mind"}
    )

    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json() == {
        "order_id": order_id,
        "withdrawn_shipments": [shipment],
        "status": "cancelling",
    }
    (requested,) = events(hub, order_id, "cancellation_requested")
    assert requested.data["withdrawn_from"] == {shipment: "wh-lyon"}
    assert requested.data["reason"] == "customer changed her mind"
    assert await stock(client, "wh-lyon") == (10, 3), "held until the source confirms"
    assert await status_of(client, order_id) == "cancelling"

    confirmed = await applied(
        client, update(order_id, shipment, "wh-lyon", "cancellation_confirmed", 1)
    )

    assert (confirmed["applied"], confirmed["order_status"]) == (True, "cancelled")
    assert await status_of(client, order_id) == "cancelled"
    assert await stock(client, "wh-lyon") == (10, 0)
    assert len(events(hub, order_id, "shipment_cancelled")) == 1
    assert len(requested_shipments(hub, order_id)) == 1, "not routed again"
    late = await applied(client, update(order_id, shipment, "wh-lyon", "shipped", 2, **SHIPPED))
    assert late["applied"] is False
    assert await stock(client, "wh-lyon") == (10, 0)


@pytest.mark.asyncio
async def test_a_cancel_asked_again_is_answered_as_the_first_and_records_nothing(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    # A client retrying after a timeout, while the source has not answered and after.
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4010")
    body = {"reason": "customer changed her mind"}
    first = await client.post(f"/v1/orders/{order_id}/cancel", json=body)
    assert first.status_code == 202, first.text
    position = hub.store.max_position()

    again = await client.post(f"/v1/orders/{order_id}/cancel", json=body)

    assert again.status_code == 202, again.text
    assert again.json() == {"order_id": order_id, "withdrawn_shipments": [], "status": "cancelling"}
    assert hub.store.max_position() == position, "nothing recorded, nothing sent to the source"
    await applied(client, update(order_id, shipment, "wh-lyon", "cancellation_confirmed", 1))
    position = hub.store.max_position()

    late = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "once more"})

    assert late.status_code == 202, late.text
    assert late.json() == {"order_id": order_id, "withdrawn_shipments": [], "status": "cancelled"}
    assert hub.store.max_position() == position
    assert len(events(hub, order_id, "cancellation_requested")) == 1


@pytest.mark.asyncio
async def test_cancelling_an_order_that_shipped_is_a_conflict_and_records_nothing(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4008")
    await applied(client, update(order_id, shipment, "wh-lyon", "shipped", **SHIPPED))
    position = hub.store.max_position()

    response = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "too late"})

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "shipped" in response.json()["title"]
    assert hub.store.max_position() == position
    assert await status_of(client, order_id) == "shipped"


async def rejected_after_cancelling(client: httpx.AsyncClient, hub: Hub) -> tuple[str, str]:
    order_id, shipment = await routed_to(client, hub, "WEB-4009")
    cancelled = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "no longer"})
    assert cancelled.status_code == 202, cancelled.text
    # Lyon rejected before it read the cancellation; its rejection arrives afterwards.
    await applied(client, update(order_id, shipment, "wh-lyon", "rejected", reason="broken"))
    return order_id, shipment


@pytest.mark.asyncio
async def test_a_rejection_crossing_a_cancellation_does_not_route_the_order_elsewhere(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client

    order_id, shipment = await rejected_after_cancelling(client, hub)

    assert requested_shipments(hub, order_id) == [(shipment, "wh-lyon")]
    assert await stock(client, "store-lille") == (10, 0)
    assert await stock(client, "wh-lyon") == (10, 0)
    decided = await client.get(f"/v1/orders/{order_id}/decision")
    assert decided.json()["status"] == "cancelled"


@pytest.mark.asyncio
async def test_the_order_view_shows_a_cancelled_order_whose_source_rejected_as_cancelled(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client

    order_id, _ = await rejected_after_cancelling(client, hub)

    assert await status_of(client, order_id) == "cancelled"


# --- refused updates --------------------------------------------------------------------------

BAD_UPDATES: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (what replaces fields of a good `shipped` update, the source it is parked under,
    #        a part of the reason)
    "unknown shipment": ({"shipment_id": "SHP-NOWHERE"}, "wh-lyon", "no shipment SHP-NOWHERE"),
    # Answered like an unknown shipment: the refusal never names the source that owns it.
    "a source that does not own the shipment": (
        {"source_id": "store-lille"},
        "store-lille",
        "store-lille has no shipment",
    ),
    "more shipped than requested": (
        {"lines": [{"line_id": "1", "quantity": 4}]},
        "wh-lyon",
        "shipped 4, requested 3",
    ),
    "a line not in the shipment": (
        {"lines": [{"line_id": "9", "quantity": 1}]},
        "wh-lyon",
        "line 9 is not in this shipment",
    ),
    "missing carrier": ({"carrier": None}, "wh-lyon", "carrier"),
    "unknown kind": ({"kind": "teleported"}, "wh-lyon", "kind"),
    "an order that does not exist": (
        {"order_id": "00000000-0000-4000-8000-000000000000"},
        "wh-lyon",
        "wh-lyon has no shipment",
    ),
}


@pytest.mark.parametrize(
    ("changes", "parked_under", "message"), list(BAD_UPDATES.values()), ids=list(BAD_UPDATES)
)
@pytest.mark.asyncio
async def test_a_refused_update_is_a_422_parked_under_its_source_and_changes_nothing(
    hub_client: tuple[httpx.AsyncClient, Hub],
    changes: dict[str, Any],
    parked_under: str,
    message: str,
) -> None:
    client, hub = hub_client
    order_id, shipment = await routed_to(client, hub, "WEB-4010")
    version = order_of(hub, order_id).version
    body = {**update(order_id, shipment, "wh-lyon", "shipped", **SHIPPED), **changes}

    response = await report(client, body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "/problems/update-refused"
    assert any(message in f"{e['field']}: {e['message']}" for e in problem["errors"]), problem
    if parked_under != "wh-lyon":
        assert "wh-lyon" not in response.text  # another source's shipment is not revealed
    assert order_of(hub, order_id).version == version
    assert await status_of(client, order_id) == "routed"
    assert await stock(client, "wh-lyon") == (10, 3)
    assert events(hub, order_id, "invoice_issued") == []
    listed = await client.get(
        "/v1/submissions/rejected", params={"channel": f"source:{parked_under}"}
    )
    assert listed.status_code == 200, listed.text
    (parked,) = listed.json()
    assert parked["channel"] == f"source:{parked_under}"
    assert parked["format"] == "fulfillment-update"
    assert parked["raw_payload"] == response.request.content.decode()


# --- source keys ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_source_key_reports_on_its_own_shipments_only_and_reads_no_orders(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    issued = await client.post("/v1/keys", json={"role": "source", "source_id": "wh-lyon"})
    assert issued.status_code == 201, issued.text
    key = issued.json()["api_key"]
    order_id, shipment = await routed_to(client, hub, "WEB-4011")
    version = order_of(hub, order_id).version

    as_lille = await report(client, update(order_id, shipment, "store-lille", "accepted"), key)
    read = await client.get(f"/v1/orders/{order_id}", headers={"Authorization": f"Bearer {key}"})
    cancel = await client.post(
        f"/v1/orders/{order_id}/cancel",
        json={"reason": "not mine to cancel"},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert as_lille.status_code == 403
    assert [e["field"] for e in as_lille.json()["errors"]] == ["source_id"]
    assert read.status_code == 403
    assert cancel.status_code == 403
    assert order_of(hub, order_id).version == version

    as_lyon = await report(client, update(order_id, shipment, "wh-lyon", "accepted"), key)

    assert as_lyon.status_code == 200, as_lyon.text
    assert as_lyon.json()["applied"] is True
    (accepted,) = events(hub, order_id, "shipment_progressed")
    assert str(accepted.actor) == "source:wh-lyon"
