"""Orchestration in the embedded hub, over HTTP: sources and stock in, orders routed, decisions
explained, policies versioned; the event store is read to check who did what."""

import dataclasses
import hashlib
import json
from typing import Any

import httpx
import pytest
import pytest_asyncio

from aggregates import order_id_for
from hub.bootstrap import Hub
from hub.services.decision_records import decision_record
from hub.services.recorded_inputs import load_inputs
from hub.services.routing_inputs import order_to_route
from hub.services.supply_view import candidate_from
from orchestration_policies import StockLevel, decide, default_policy, explain_text
from orchestration_policies.decision_inputs import DecisionInputs, PolicyRef
from orchestration_policies.explain_record import explain_record, record_digest
from schemas.decision_record import DecisionRecord
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import NOW, PLACED_AT, submission_dict
from tests.support.running_hub import decided

PROBLEM_JSON = "application/problem+json"
SKU = "RED-CHAIR"
# A customer in Lyon: wh-lyon is 2 km away, store-lille about 560 km.
LYON_CUSTOMER = {
    "name": "Ada Lovelace",
    "line1": "3 place Bellecour",
    "city": "Lyon",
    "postal_code": "69002",
    "country": "FR",
    "lat": 45.757,
    "lon": 4.832,
}
SOURCES = {
    "wh-lyon": {"name": "Lyon DC", "kind": "warehouse", "lat": 45.75, "lon": 4.85},
    "store-lille": {"name": "Lille store", "kind": "store", "lat": 50.63, "lon": 3.06},
}


@pytest_asyncio.fixture
async def hub_client(
    running_hub: tuple[httpx.AsyncClient, Hub],
) -> tuple[httpx.AsyncClient, Hub]:
    await put_sources(running_hub[0])
    return running_hub


# --- small steps, in HTTP -------------------------------------------------------------------


async def put_source(client: httpx.AsyncClient, source_id: str) -> None:
    definition = {
        "source_id": source_id,
        **SOURCES[source_id],
        "country": "FR",
        "ships_to": ["FR", "BE"],
        "delivery_methods": ["standard", "express"],
        "daily_capacity": 500,
        "lead_time_days": 1,
        "cost": {"base": "4.50", "per_unit": "0.40", "per_km": "0.01", "currency": "EUR"},
    }
    response = await client.put(f"/v1/sources/{source_id}", json=definition)
    assert response.status_code in (200, 201), response.text


async def put_sources(client: httpx.AsyncClient, on_hand: int | None = None) -> None:
    """Every one of SOURCES, each holding ``on_hand`` of SKU when given."""
    for source_id in SOURCES:
        await put_source(client, source_id)
        if on_hand is not None:
            await put_stock(client, source_id, on_hand)


async def put_stock(
    client: httpx.AsyncClient, source_id: str, on_hand: int, sku: str = SKU
) -> dict[str, Any]:
    response = await client.put(f"/v1/stock/{source_id}/{sku}", json={"on_hand": on_hand})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def adjust_stock(
    client: httpx.AsyncClient, source_id: str, delta: int, sku: str = SKU
) -> httpx.Response:
    return await client.post(
        "/v1/stock/adjustments",
        json={"source_id": source_id, "sku": sku, "delta": delta, "reason": "receipt"},
    )


async def stock(client: httpx.AsyncClient, source_id: str, sku: str = SKU) -> dict[str, Any]:
    response = await client.get(f"/v1/stock/{source_id}/{sku}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def place(
    client: httpx.AsyncClient,
    external_id: str,
    quantity: int = 2,
    payment_state: str = "authorized",
    demand_class: str = "standard",
    placed_at: str = PLACED_AT,
    channel: str = "web-shop",
) -> str:
    payload = submission_dict(
        channel=channel,
        external_id=external_id,
        placed_at=placed_at,
        customer={"id": f"CUST-{external_id}", "demand_class": demand_class},
        ship_to=LYON_CUSTOMER,
        lines=[{"line_id": "1", "sku": SKU, "quantity": quantity, "unit_price": "19.90"}],
        payment_state=payment_state,
    )
    response = await client.post("/v1/orders", json=payload)
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]
    assert order_id == str(order_id_for(channel, external_id))
    await decided(client, order_id)  # routing runs after the answer
    return str(order_id)


async def status_of(client: httpx.AsyncClient, order_id: str) -> str:
    response = await client.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def decision_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/orders/{order_id}/decision")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def publish(client: httpx.AsyncClient, document: str) -> httpx.Response:
    return await client.post(
        "/v1/policies", content=document.encode(), headers={"content-type": "application/yaml"}
    )


def events(hub: Hub, subject: str, event_type: str) -> list[EventEnvelope]:
    return [
        env
        for _, env in hub.store.read_envelopes(None, 100_000)
        if env.subject == subject and env.type == event_type
    ]


def shipped_from(decision: dict[str, Any]) -> list[str]:
    return sorted(decision["decision"]["shipments"])


# --- routing --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_authorised_order_is_routed_to_the_closest_source_and_the_decision_says_why(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 10)

    order_id = await place(client, "WEB-2001", quantity=2)

    assert await status_of(client, order_id) == "routed"
    decided = await decision_of(client, order_id)
    assert decided["status"] == "routed"
    assert decided["decision"]["policy"] == {"id": "default", "version": 1}
    assert decided["decision"]["shipments"] == {"wh-lyon": [["1", SKU, 2]]}
    assert "from wh-lyon: 2 x RED-CHAIR" in decided["explanation"]
    assert "by policy default version 1" in decided["explanation"]
    lyon, lille = await stock(client, "wh-lyon"), await stock(client, "store-lille")
    assert (lyon["on_hand"], lyon["reserved"], lyon["available"]) == (10, 2, 8)
    assert lille["reserved"] == 0
    (shipment,) = events(hub, order_id, EventType.ORDER_FULFILLMENT_REQUESTED)
    assert shipment.data["source_id"] == "wh-lyon"
    assert shipment.data["lines"] == [{"line_id": "1", "sku": SKU, "quantity": 2}]


@pytest.mark.asyncio
async def test_a_paused_source_is_not_chosen_until_it_is_resumed(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 10)
    paused = await client.post("/v1/sources/wh-lyon/pause", json={"reason": "stock take"})
    assert (paused.status_code, paused.json()["active"]) == (200, False)

    while_paused = await place(client, "WEB-2002")
    await client.post("/v1/sources/wh-lyon/resume")
    after_resume = await place(client, "WEB-2003")

    decided = await decision_of(client, while_paused)
    assert shipped_from(decided) == ["store-lille"]
    (lyon,) = [
        c for c in decided["decision"]["explanation"]["candidates"] if c["source_id"] == "wh-lyon"
    ]
    assert (lyon["status"], lyon["rule"]) == ("excluded", "inactive")
    assert "xx wh-lyon: excluded by 'inactive'" in decided["explanation"]
    assert (await stock(client, "store-lille"))["reserved"] == 2
    assert shipped_from(await decision_of(client, after_resume)) == ["wh-lyon"]


@pytest.mark.asyncio
async def test_a_pending_payment_order_is_held_until_a_user_releases_it(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 10)
    order_id = await place(client, "WEB-2004", payment_state="pending")

    held = await decision_of(client, order_id)
    assert held["status"] == "held"
    assert held["decision"]["held"] == {
        "rule": "payment-not-authorized",
        "reason": "payment is not authorised yet",
    }
    assert held["decision"]["shipments"] == {}
    assert (await stock(client, "wh-lyon"))["reserved"] == 0

    released = await client.post(
        f"/v1/orders/{order_id}/release-hold",
        json={"note": "paid by bank transfer"},
        headers={"X-Actor": "alice"},
    )

    assert released.status_code == 200, released.text
    assert released.json()["released_by"] == "user:alice"
    assert await status_of(client, order_id) == "routed"
    assert shipped_from(await decision_of(client, order_id)) == ["wh-lyon"]
    assert (await stock(client, "wh-lyon"))["reserved"] == 2
    (release,) = events(hub, order_id, EventType.ORDER_HOLD_RELEASED)
    assert str(release.actor) == "user:alice"
    assert release.data["note"] == "paid by bank transfer"


@pytest.mark.asyncio
async def test_releasing_an_order_that_is_not_held_is_refused(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    order_id = await place(client, "WEB-2005")

    response = await client.post(
        f"/v1/orders/{order_id}/release-hold", json={"note": "why not"}, headers={"X-Actor": "bob"}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert await status_of(client, order_id) == "routed"


@pytest.mark.asyncio
async def test_an_order_for_more_than_available_waits_and_is_routed_when_stock_arrives(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 3)
    order_id = await place(client, "WEB-2006", quantity=5)

    waiting = await decision_of(client, order_id)
    assert waiting["status"] == "backordered"
    assert [(b["line_id"], b["quantity"]) for b in waiting["decision"]["backordered"]] == [("1", 5)]
    assert (await stock(client, "wh-lyon"))["reserved"] == 0

    adjusted = await adjust_stock(client, "wh-lyon", +3)

    assert adjusted.status_code == 200, adjusted.text
    assert await status_of(client, order_id) == "routed"
    assert (await decision_of(client, order_id))["decision"]["shipments"] == {
        "wh-lyon": [["1", SKU, 5]]
    }
    assert (adjusted.json()["on_hand"], adjusted.json()["reserved"]) == (6, 5)


@pytest.mark.asyncio
async def test_stock_for_one_of_two_backorders_goes_to_the_vip_one_though_it_came_later(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 0)
    standard = await place(
        client, "WEB-2007", quantity=9, demand_class="standard", placed_at="2026-11-20T07:00:00Z"
    )
    vip = await place(
        client, "WEB-2008", quantity=9, demand_class="vip", placed_at="2026-11-20T08:30:00Z"
    )
    assert [await status_of(client, o) for o in (standard, vip)] == ["backordered"] * 2

    # 10 units: either order could take 9 (the default policy keeps 1 back from non-vip orders).
    await adjust_stock(client, "wh-lyon", +10)

    assert await status_of(client, vip) == "routed"
    assert await status_of(client, standard) == "backordered"
    lyon = await stock(client, "wh-lyon")
    assert (lyon["on_hand"], lyon["reserved"], lyon["available"]) == (10, 9, 1)


# --- policies -------------------------------------------------------------------------------

FRANCE_WEB = """
id: france-web
version: 1
name: France web orders
applies_to:
  countries: [FR]
ranking:
  weights:
    distance_km: 1.0
    shipping_cost: 1.0
"""
# The same policy, changed: Lyon is not to be used.
FRANCE_WEB_WITHOUT_LYON = FRANCE_WEB + "excluded_sources: [wh-lyon]\n"


@pytest.mark.asyncio
async def test_a_published_policy_gets_versions_and_each_decision_names_the_one_that_made_it(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 10)

    first = await publish(client, FRANCE_WEB)
    by_v1 = await place(client, "WEB-2010")
    second = await publish(client, FRANCE_WEB_WITHOUT_LYON)
    by_v2 = await place(client, "WEB-2011")
    rolled_back = await client.post("/v1/policies/france-web/rollback", json={"version": 1})
    by_v1_again = await place(client, "WEB-2012")

    assert (first.status_code, first.json()) == (201, {"policy_id": "france-web", "version": 1})
    assert first.headers["location"] == "/v1/policies/france-web/versions/1"
    assert (second.status_code, second.json()["version"]) == (201, 2)
    assert (rolled_back.status_code, rolled_back.json()["active_version"]) == (200, 1)
    for order_id, version, source in [
        (by_v1, 1, "wh-lyon"),
        (by_v2, 2, "store-lille"),
        (by_v1_again, 1, "wh-lyon"),
    ]:
        decided = await decision_of(client, order_id)
        assert decided["decision"]["policy"] == {"id": "france-web", "version": version}
        assert f"by policy france-web version {version}" in decided["explanation"]
        assert shipped_from(decided) == [source]
    (listed,) = (await client.get("/v1/policies")).json()
    assert (listed["policy_id"], listed["active_version"], listed["versions"]) == (
        "france-web",
        1,
        [1, 2],
    )
    kept = await client.get("/v1/policies/france-web/versions/2")
    assert (kept.status_code, kept.text) == (200, FRANCE_WEB_WITHOUT_LYON)


@pytest.mark.asyncio
async def test_rolling_back_to_a_version_that_does_not_exist_is_refused(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await publish(client, FRANCE_WEB)

    response = await client.post("/v1/policies/france-web/rollback", json={"version": 7})

    assert response.status_code == 422
    assert "no version 7" in response.json()["title"]
    (listed,) = (await client.get("/v1/policies")).json()
    assert listed["active_version"] == 1


BAD_POLICIES: dict[str, tuple[str, str, str | None]] = {
    # case: (what is added to a valid document, the field named, a part of the message)
    "unknown field": ("split:\n  max_shipment: 2\n", "split.max_shipment", "Extra inputs"),
    "CEL syntax error": (
        "holds:\n  - name: big-order\n    condition: order.total >\n    reason: too big\n",
        "holds[0].condition",
        "line 1, column 13",
    ),
    "a weight that is not a number": (
        "split:\n  split_penalty: lots\n",
        "split.split_penalty",
        "valid number",
    ),
    "unknown source": ("excluded_sources: [nowhere]\n", "excluded_sources[0]", "'nowhere'"),
    "unknown demand class": (
        "allocation:\n  - demand_class: platinum\n    share: 0.2\n",
        "allocation[0].demand_class",
        "'platinum'",
    ),
    "unknown demand class in a condition": (
        "holds:\n  - name: gold\n    condition: order.demand_class == 'gold'\n"
        "    reason: gold orders wait\n",
        "holds[0].condition",
        "'gold'",
    ),
}


@pytest.mark.parametrize(
    ("addition", "field", "message"), list(BAD_POLICIES.values()), ids=list(BAD_POLICIES)
)
@pytest.mark.asyncio
async def test_a_bad_policy_is_refused_naming_the_field_and_the_active_version_stays_active(
    hub_client: tuple[httpx.AsyncClient, Hub], addition: str, field: str, message: str
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    assert (await publish(client, FRANCE_WEB)).json()["version"] == 1

    refused = await publish(client, FRANCE_WEB + addition)
    checked = await client.post(
        "/v1/policies/validate",
        content=(FRANCE_WEB + addition).encode(),
        headers={"content-type": "application/yaml"},
    )

    for response in (refused, checked):
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert problem["type"] == "/problems/invalid-policy"
        errors = {e["field"]: e["message"] for e in problem["errors"]}
        assert field in errors, errors
        assert message in errors[field]
    (listed,) = (await client.get("/v1/policies")).json()
    assert (listed["active_version"], listed["versions"]) == (1, [1])
    decided = await decision_of(client, await place(client, "WEB-2020"))
    assert decided["decision"]["policy"] == {"id": "france-web", "version": 1}


@pytest.mark.parametrize("weight", ["1", "2.5", "0"], ids=["an integer", "a decimal", "zero"])
@pytest.mark.asyncio
async def test_weights_written_as_plain_numbers_are_accepted(
    hub_client: tuple[httpx.AsyncClient, Hub], weight: str
) -> None:
    client, _ = hub_client
    document = FRANCE_WEB.replace("distance_km: 1.0", f"distance_km: {weight}")

    response = await client.post(
        "/v1/policies/validate",
        content=document.encode(),
        headers={"content-type": "application/yaml"},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"valid": True, "id": "france-web", "name": "France web orders"}


MARKETPLACE_ONLY = """
id: marketplace
version: 1
name: Marketplace orders
applies_to:
  channels: [marketplace]
"""


@pytest.mark.asyncio
async def test_an_order_no_published_policy_applies_to_is_decided_by_the_bundled_default(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 10)
    assert (await publish(client, MARKETPLACE_ONLY)).status_code == 201

    order_id = await place(client, "WEB-2030", payment_state="pending")

    decided = await decision_of(client, order_id)
    assert decided["decision"]["policy"] == {"id": "default", "version": 1}
    assert decided["status"] == "held"
    assert (await stock(client, "wh-lyon"))["reserved"] == 0


LINE_SPLITTING = """
id: line-splitting
version: 1
name: A line may ship in parts
split:
  lines: true
"""


@pytest.mark.asyncio
async def test_the_rest_of_a_partly_shipped_line_ships_from_the_same_source_when_stock_arrives(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 3)
    assert (await publish(client, LINE_SPLITTING)).status_code == 201
    order_id = await place(client, "WEB-2040", quantity=5)
    partly = await decision_of(client, order_id)
    assert partly["status"] == "backordered"
    assert partly["decision"]["shipments"] == {"wh-lyon": [["1", SKU, 3]]}

    adjusted = await adjust_stock(client, "wh-lyon", +2)

    assert adjusted.status_code == 200, adjusted.text
    assert await status_of(client, order_id) == "routed"
    assert (await stock(client, "wh-lyon"))["reserved"] == 5
    await put_stock(client, "store-lille", 4, sku="BLUE-LAMP")
    unrelated = await client.post(
        "/v1/orders",
        json=submission_dict(
            external_id="WEB-2041",
            ship_to=LYON_CUSTOMER,
            lines=[{"line_id": "1", "sku": "BLUE-LAMP", "quantity": 1, "unit_price": "5.00"}],
            payment_state="authorized",
        ),
    )
    assert (await decided(client, unrelated.json()["order_id"]))["status"] == "routed"


# --- stock over HTTP ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stock_for_an_unknown_source_is_a_404_and_records_nothing(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    position = hub.store.max_position()

    counted = await client.put(f"/v1/stock/nowhere/{SKU}", json={"on_hand": 5})
    adjusted = await adjust_stock(client, "nowhere", +5)

    for response in (counted, adjusted):
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "nowhere" in response.json()["title"]
    assert hub.store.max_position() == position


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"on_hand": -1}, "body.on_hand"),
        ({"on_hand": 5, "safety_stock": -2}, "body.safety_stock"),
        ({"on_hand": "5"}, "body.on_hand"),
        ({"on_hand": 5, "colour": "red"}, "body.colour"),
    ],
    ids=["negative on_hand", "negative safety_stock", "on_hand as text", "unknown field"],
)
@pytest.mark.asyncio
async def test_an_impossible_count_is_a_422_naming_the_field(
    hub_client: tuple[httpx.AsyncClient, Hub], body: dict[str, Any], field: str
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 10)
    position = hub.store.max_position()

    response = await client.put(f"/v1/stock/wh-lyon/{SKU}", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert hub.store.max_position() == position
    assert (await stock(client, "wh-lyon"))["on_hand"] == 10


@pytest.mark.asyncio
async def test_an_adjustment_below_zero_on_hand_is_refused(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, _ = hub_client
    await put_stock(client, "wh-lyon", 2)

    response = await adjust_stock(client, "wh-lyon", -3)

    assert response.status_code == 422
    assert "cannot go down by 3" in response.json()["title"]
    assert (await stock(client, "wh-lyon"))["on_hand"] == 2


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_deciding_again_from_the_recorded_inputs_gives_the_recorded_decision(
    hub_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = hub_client
    await put_stock(client, "wh-lyon", 10)
    await put_stock(client, "store-lille", 4)
    order_id = await place(client, "WEB-2050", quantity=3)
    (routed,) = events(hub, order_id, EventType.ORDER_ROUTED)
    recorded = routed.data["decision"]

    # The decision's digest is the sha256 of its canonical JSON.
    canonical = json.dumps(recorded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert routed.data["decision_digest"] == hashlib.sha256(canonical.encode()).hexdigest()

    # Rebuild what decide() saw: the order, and each source's stock before this order took any.
    order = hub.intake.find(order_id_for("web-shop", "WEB-2050"))
    assert order is not None
    # ... as it was before it was routed: without the shipment this decision requested.
    to_route = dataclasses.replace(order_to_route(order), live_shipment_sources=())
    candidates = []
    for source in hub.catalog.list_sources():
        item = hub.catalog.find_stock(source.source_id, SKU)
        assert item is not None
        mine = sum(q for key, q in item.reservations.items() if key.startswith(f"{order_id}:"))
        before = item.reserved - mine
        levels = {SKU: StockLevel(item.on_hand, before, item.safety_stock)}
        candidates.append(candidate_from(source.definition, source.active, levels))
    # Everything decide() saw is recorded, under the digest the event names.
    candidates.sort(key=lambda c: c.source_id)
    seen = DecisionInputs(to_route, tuple(candidates), PolicyRef("default", 1), NOW)
    assert seen.digest == routed.data["inputs_digest"]
    assert load_inputs(hub.store, seen.digest) == seen

    again = decide(to_route, candidates, default_policy(), NOW)
    in_reverse = decide(to_route, list(reversed(candidates)), default_policy(), NOW)

    # Both sources hold the SKU: every candidate is listed, none only counted.
    holders = {c.source_id for c in candidates}
    records = [decision_record(d, holders, others=0) for d in (again, in_reverse)]
    assert record_digest(records[0]) == record_digest(records[1]) == routed.data["decision_digest"]
    assert records[0].plain() == recorded  # the envelope carries the record's JSON
    assert recorded["explanation"]["omitted"] == {}
    # The text is not stored any more: it is derived from the record, and reads as the live one.
    assert routed.data["explanation"] == ""
    assert explain_record(DecisionRecord.from_plain(recorded)) == explain_text(again)
    assert (await decision_of(client, order_id))["explanation"] == explain_text(again)
