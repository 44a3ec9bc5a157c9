"""Returns, refunds, payment capture, and changes before shipment, through the embedded API."""

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.bootstrap import Hub
from tests.contracts.factories import source_body
from tests.support.running_hub import decided_sync, embedded_settings

AT = "2026-11-21T10:00:00Z"


def _order(external_id: str, quantity: int = 2, city: str = "Lyon") -> dict[str, Any]:
    return {
        "channel": "web-shop",
        "external_id": external_id,
        "placed_at": "2026-11-20T10:00:00Z",
        "customer": {"id": "CUST-1"},
        "ship_to": {
            "name": "Ana Lopez",
            "line1": "12 rue de la République",
            "city": city,
            "postal_code": "69002",
            "country": "FR",
            "lat": 45.76,
            "lon": 4.83,
        },
        "lines": [
            {"line_id": "1", "sku": "RED-CHAIR", "quantity": quantity, "unit_price": "25.00"}
        ],
        "currency": "EUR",
        "payment_state": "authorized",
    }


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings=embedded_settings(tmp_path))) as c:
        assert c.put("/v1/sources/wh-lyon", json=source_body("wh-lyon")).status_code == 201
        assert c.put("/v1/stock/wh-lyon/RED-CHAIR", json={"on_hand": 10}).status_code == 200
        yield c


def _hub(client: TestClient) -> Hub:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    return hub


def _place(client: TestClient, external_id: str, quantity: int = 2) -> str:
    response = client.post("/v1/orders", json=_order(external_id, quantity))
    assert response.status_code == 202, response.text
    order_id: str = response.json()["order_id"]
    assert decided_sync(client.get, order_id)["status"] == "routed"
    return order_id


def _only_shipment(client: TestClient, order_id: str, live: bool = True) -> str:
    order = _hub(client).intake.find(UUID(order_id))
    assert order is not None
    ids = [
        sid
        for sid, s in order.shipments.items()
        if not live or (s.state not in ("cancelled", "rejected") and sid not in order.withdrawing)
    ]
    assert len(ids) == 1, order.shipments
    return ids[0]


def _update(client: TestClient, order_id: str, shipment: str, kind: str, **extra: Any) -> Any:
    body = {"order_id": order_id, "shipment_id": shipment, "source_id": "wh-lyon", "kind": kind}
    return client.post("/v1/fulfillment/updates", json={**body, "at": AT, **extra})


def _ship_and_deliver(client: TestClient, order_id: str) -> str:
    shipment = _only_shipment(client, order_id)
    assert _update(client, order_id, shipment, "shipped", carrier="DHL", tracking="JD1").json()[
        "applied"
    ]
    assert _update(client, order_id, shipment, "delivered").json()["applied"]
    return shipment


def _events(client: TestClient, order_id: str, kind: str) -> list[Any]:
    return [
        env
        for _, env in _hub(client).store.read_envelopes(None, 1000)
        if env.subject == order_id and env.type == f"orderhub.order.{kind}"
    ]


def _on_hand(client: TestClient) -> int:
    on_hand: int = client.get("/v1/stock/wh-lyon/RED-CHAIR").json()["on_hand"]
    return on_hand


def test_each_invoice_captures_its_gross_amount_once(client: TestClient) -> None:
    order_id = _place(client, "WEB-R1")
    _ship_and_deliver(client, order_id)

    (invoice,) = _events(client, order_id, "invoice_issued")
    (capture,) = _events(client, order_id, "payment_captured")
    assert (invoice.data["net_total"], invoice.data["tax_total"]) == ("50.00", "10.00")
    assert capture.data["amount"] == invoice.data["gross_total"] == "60.00"
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "completed"


def test_a_received_return_restocks_the_source_and_the_order_is_partially_returned(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-R2")
    _ship_and_deliver(client, order_id)
    assert _on_hand(client) == 8

    rma = client.post(
        f"/v1/orders/{order_id}/returns",
        json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "too small"},
    )
    assert rma.status_code == 201
    received = client.post(
        f"/v1/orders/{order_id}/returns/{rma.json()['rma_id']}/receive",
        json={"disposition": "restock", "source_id": "wh-lyon"},
    )

    assert received.status_code == 200
    assert _on_hand(client) == 9
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "partially_returned"


def test_returning_every_shipped_unit_written_off_leaves_stock_alone_and_the_order_returned(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-R3")
    _ship_and_deliver(client, order_id)
    rma = client.post(
        f"/v1/orders/{order_id}/returns",
        json={"lines": [{"line_id": "1", "quantity": 2}], "reason": "damaged"},
    ).json()["rma_id"]

    client.post(f"/v1/orders/{order_id}/returns/{rma}/receive", json={"disposition": "write_off"})

    assert _on_hand(client) == 8
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "returned"
    again = client.post(
        f"/v1/orders/{order_id}/returns/{rma}/receive", json={"disposition": "write_off"}
    )
    assert again.status_code == 409, "a return is received once"


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([{"line_id": "1", "quantity": 3}], "more than shipped"),
        ([{"line_id": "9", "quantity": 1}], "a line the order does not have"),
    ],
)
def test_a_return_of_more_than_was_shipped_is_refused(
    client: TestClient, lines: list[dict[str, Any]], why: str
) -> None:
    order_id = _place(client, "WEB-R4")
    _ship_and_deliver(client, order_id)

    response = client.post(f"/v1/orders/{order_id}/returns", json={"lines": lines, "reason": why})

    assert response.status_code == 409
    assert "returnable" in response.json()["title"]
    assert _events(client, order_id, "return_requested") == []


def test_nothing_can_be_returned_before_it_ships(client: TestClient) -> None:
    order_id = _place(client, "WEB-R5")

    response = client.post(
        f"/v1/orders/{order_id}/returns",
        json={"lines": [{"line_id": "1", "quantity": 1}], "reason": "changed my mind"},
    )

    assert response.status_code == 409


def test_refunds_never_exceed_what_was_captured_and_a_refused_one_is_kept(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-R6")
    _ship_and_deliver(client, order_id)

    first = client.post(f"/v1/orders/{order_id}/refunds", json={"amount": "45.00", "reason": "a"})
    too_much = client.post(
        f"/v1/orders/{order_id}/refunds", json={"amount": "15.01", "reason": "b"}
    )
    rest = client.post(f"/v1/orders/{order_id}/refunds", json={"amount": "15.00", "reason": "c"})

    assert (first.status_code, too_much.status_code, rest.status_code) == (201, 422, 201)
    assert [e.data["amount"] for e in _events(client, order_id, "refunded")] == ["45.00", "15.00"]
    assert sum(Decimal(e.data["amount"]) for e in _events(client, order_id, "refunded")) == 60
    kept = client.get("/v1/submissions/rejected", params={"channel": f"refunds:{order_id}"})
    assert [r["reason"] for r in kept.json()] == ["refund_refused"]
    float_amount = client.post(
        f"/v1/orders/{order_id}/refunds", json={"amount": 1.5, "reason": "float"}
    )
    assert float_amount.status_code == 422


def test_a_change_before_shipment_withdraws_the_shipment_and_routes_the_revision(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-C1", quantity=2)
    first = _only_shipment(client, order_id)

    revised = _order("WEB-C1", quantity=1, city="Villeurbanne")
    response = client.put(f"/v1/orders/{order_id}", json=revised)

    assert response.status_code == 202
    assert response.json()["withdrawn_shipments"] == [first]
    (changed,) = _events(client, order_id, "changed")
    assert changed.data["revision"] == 2
    assert changed.data["shipment_sequences"] == {first: 2}, "the withdrawal is message 2"
    second = _only_shipment(client, order_id)
    assert second != first
    row = client.get(f"/v1/orders/{order_id}").json()
    assert (row["status"], row["total"]) == ("routed", "25.00")
    # Both reservations stand until the source confirms the withdrawal.
    assert client.get("/v1/stock/wh-lyon/RED-CHAIR").json()["reserved"] == 3

    confirmed = _update(client, order_id, first, "cancellation_confirmed")

    assert confirmed.json()["applied"]
    assert client.get("/v1/stock/wh-lyon/RED-CHAIR").json()["reserved"] == 1
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "routed"


def test_a_change_after_shipment_is_refused_only_a_return_is_possible(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-C2")
    _ship_and_deliver(client, order_id)

    response = client.put(f"/v1/orders/{order_id}", json=_order("WEB-C2", quantity=1))

    assert response.status_code == 409
    assert "only a return" in response.json()["title"]


def test_a_change_cannot_move_an_order_to_another_external_id(client: TestClient) -> None:
    order_id = _place(client, "WEB-C3")

    response = client.put(f"/v1/orders/{order_id}", json=_order("WEB-OTHER"))

    assert response.status_code == 409
    assert _events(client, order_id, "changed") == []


def test_cancelling_some_units_routes_the_rest_as_a_new_revision(client: TestClient) -> None:
    order_id = _place(client, "WEB-C4", quantity=3)

    response = client.post(
        f"/v1/orders/{order_id}/cancel", json={"reason": "one too many", "lines": {"1": 1}}
    )

    assert response.status_code == 202
    (changed,) = _events(client, order_id, "changed")
    assert changed.data["submission"]["lines"][0]["quantity"] == 2
    routed = _events(client, order_id, "fulfillment_requested")
    assert routed[-1].data["lines"] == [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 2}]


def test_cancelling_every_unit_cancels_the_order_once_the_source_confirms(
    client: TestClient,
) -> None:
    order_id = _place(client, "WEB-C5", quantity=2)
    shipment = _only_shipment(client, order_id)

    client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "gone", "lines": {"1": 2}})

    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "cancelling"
    _update(client, order_id, shipment, "cancellation_confirmed")
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "cancelled"
    assert client.get("/v1/stock/wh-lyon/RED-CHAIR").json()["reserved"] == 0


def test_a_confirmation_nobody_asked_for_is_refused_and_parked(client: TestClient) -> None:
    order_id = _place(client, "WEB-C6")
    shipment = _only_shipment(client, order_id)

    response = _update(client, order_id, shipment, "cancellation_confirmed")

    assert response.status_code == 422
    assert client.get(f"/v1/orders/{order_id}").json()["status"] == "routed"
    assert client.get("/v1/stock/wh-lyon/RED-CHAIR").json()["reserved"] == 2


def _cancel(client: TestClient, order_id: str, lines: dict[str, int], key: str) -> Any:
    return client.post(
        f"/v1/orders/{order_id}/cancel",
        json={"reason": "one too many", "lines": lines},
        headers={"Idempotency-Key": key},
    )


def test_a_partial_cancel_sent_again_under_its_key_is_the_first_answer_even_after_a_restart(
    tmp_path: Path,
) -> None:
    with TestClient(create_app(settings=embedded_settings(tmp_path))) as client:
        assert client.put("/v1/sources/wh-lyon", json=source_body("wh-lyon")).status_code == 201
        assert client.put("/v1/stock/wh-lyon/RED-CHAIR", json={"on_hand": 10}).status_code == 200
        order_id = _place(client, "WEB-K1", quantity=3)
        shipment = _only_shipment(client, order_id)

        first = _cancel(client, order_id, {"1": 1}, "retry-1")
        again = _cancel(client, order_id, {"1": 1}, "retry-1")

        assert first.status_code == again.status_code == 202, again.text
        assert first.json()["withdrawn_shipments"] == [shipment]
        assert again.json()["withdrawn_shipments"] == [shipment]  # the first answer, not "none"
        (changed,) = _events(client, order_id, "changed")
        assert changed.data["submission"]["lines"][0]["quantity"] == 2
    # The hub stopped; a new one on the same data directory (its event store).
    with TestClient(create_app(settings=embedded_settings(tmp_path))) as restarted:
        after = _cancel(restarted, order_id, {"1": 1}, "retry-1")

        assert after.status_code == 202, after.text
        assert after.json()["withdrawn_shipments"] == [shipment]
        assert len(_events(restarted, order_id, "changed")) == 1
        assert _cancel(restarted, order_id, {"1": 1}, "retry-2").status_code == 202
        assert len(_events(restarted, order_id, "changed")) == 2  # another key: cancelled again


def test_a_key_sent_again_with_another_request_is_a_422_naming_it(client: TestClient) -> None:
    order_id = _place(client, "WEB-K2", quantity=3)
    assert _cancel(client, order_id, {"1": 1}, "k").status_code == 202

    other = _cancel(client, order_id, {"1": 2}, "k")
    change = client.put(
        f"/v1/orders/{order_id}", json=_order("WEB-K2", 1), headers={"Idempotency-Key": "k"}
    )

    for refused in (other, change):
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"] == "/problems/idempotency-key-reused"
        assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert len(_events(client, order_id, "changed")) == 1


def test_a_change_sent_again_under_its_key_is_the_first_answer(client: TestClient) -> None:
    order_id = _place(client, "WEB-K3", quantity=2)
    first_shipment = _only_shipment(client, order_id)
    revised = _order("WEB-K3", quantity=1, city="Villeurbanne")
    key = {"Idempotency-Key": "change-1"}

    first = client.put(f"/v1/orders/{order_id}", json=revised, headers=key)
    again = client.put(f"/v1/orders/{order_id}", json=revised, headers=key)

    assert first.status_code == again.status_code == 202
    assert first.json()["withdrawn_shipments"] == again.json()["withdrawn_shipments"]
    assert again.json()["withdrawn_shipments"] == [first_shipment]
    assert len(_events(client, order_id, "changed")) == 1
    assert again.json()["status"] == "routed"


def test_an_empty_or_overlong_key_is_refused(client: TestClient) -> None:
    order_id = _place(client, "WEB-K4", quantity=2)

    for key in ("", "k" * 256):
        assert _cancel(client, order_id, {"1": 1}, key).status_code == 422
    assert _events(client, order_id, "changed") == []
