"""GET /v1/orders/{id}/decisions: every routing decision of an order, oldest first, with what
prompted it, the policy version, its digests and outcome (embedded, over HTTP)."""

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from aggregates.ids import source_aggregate_id
from hub.bootstrap import Hub
from hub.services.intake import SubmitOrder
from orchestration_policies.explain_record import record_digest
from schemas.decision_record import DecisionRecord
from schemas.event_types import EventType
from schemas.submission import OrderSubmission
from tests.contracts.factories import NOW, submission_dict
from tests.e2e.test_embedded_orchestration import (
    SOURCES,
    adjust_stock,
    events,
    place,
    put_source,
    put_stock,
)
from tests.support.running_hub import running


@pytest_asyncio.fixture
async def hub_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    async with running(tmp_path) as (client, hub):
        for source_id in SOURCES:
            await put_source(client, source_id)
        yield client, hub


async def _decisions(client: httpx.AsyncClient, order_id: str) -> list[dict[str, object]]:
    response = await client.get(f"/v1/orders/{order_id}/decisions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == order_id
    return list(body["decisions"])


@pytest.mark.asyncio
async def test_each_decision_is_listed_in_order_with_its_trigger_outcome_and_digests(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 3)
    order_id = await place(client, "WEB-D1", quantity=5, payment_state="pending")
    await client.post(f"/v1/orders/{order_id}/release-hold", json={"note": "paid"})
    await adjust_stock(client, "wh-lyon", +3)  # the backorder wakes up and ships
    (request,) = events(hub, order_id, EventType.ORDER_FULFILLMENT_REQUESTED)
    await put_stock(client, "store-lille", 10)
    rejected = await client.post(
        "/v1/fulfillment/updates",
        json={
            "order_id": order_id,
            "shipment_id": request.data["shipment_id"],
            "source_id": "wh-lyon",
            "kind": "rejected",
            "at": NOW.isoformat(),
            "reason": "damaged",
        },
    )
    assert rejected.status_code in (200, 202), rejected.text

    decisions = await _decisions(client, order_id)

    assert [(d["n"], d["trigger"], d["outcome"]) for d in decisions] == [
        (1, "order_accepted", "held"),
        (2, "hold_released", "backordered"),
        (3, "backorder_wakeup", "routed"),
        (4, "shipment_rejected", "routed"),
    ]
    assert [d["decision"]["shipments"] for d in decisions[2:]] == [  # type: ignore[index]
        {"wh-lyon": [["1", "RED-CHAIR", 5]]},
        {"store-lille": [["1", "RED-CHAIR", 5]]},
    ]
    routed = events(hub, order_id, EventType.ORDER_ROUTED)
    assert [d["decision_digest"] for d in decisions[1:]] == [
        e.data["decision_digest"] for e in routed
    ]
    assert [d["inputs_digest"] for d in decisions[1:]] == [e.data["inputs_digest"] for e in routed]
    for d in decisions:
        assert d["policy"] == {"id": "default", "version": 1}
        recorded = DecisionRecord.from_plain(d["decision"])
        assert d["decision_digest"] == record_digest(recorded)
        assert isinstance(d["inputs_digest"], str) and len(d["inputs_digest"]) == 64
        assert d["explanation"] and d["actor"] == "system:orchestrator"
    assert [d["sequence"] for d in decisions] == sorted(d["sequence"] for d in decisions)  # type: ignore[type-var]
    latest = (await client.get(f"/v1/orders/{order_id}/decision")).json()
    assert latest["decision"] == decisions[-1]["decision"]


@pytest.mark.asyncio
async def test_an_order_not_decided_yet_lists_none_and_an_id_that_is_no_order_is_a_404(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    body = OrderSubmission.model_validate(submission_dict(external_id="WEB-D2"))
    command = SubmitOrder(body, body.model_dump_json(), "channel:web-shop", "c-d2")
    (placed,) = hub.intake.place_orders([command])  # accepted; not orchestrated yet

    undecided = await _decisions(client, str(placed.order_id))
    unknown = await client.get(f"/v1/orders/{uuid4()}/decisions")
    a_source = await client.get(f"/v1/orders/{source_aggregate_id('wh-lyon')}/decisions")

    assert undecided == []
    for response in (unknown, a_source):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
