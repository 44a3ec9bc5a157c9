"""The embedded hub end to end: HTTP in, event store, in-process projection, HTTP out."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregates import order_id_for
from hub.bootstrap import Hub
from hub.services.intake import SubmitOrder
from schemas.event_types import EventType
from tests.contracts.factories import NOW, fixed_clock, in_the_future, submission, submission_dict
from tests.support.running_hub import decided, embedded_hub, running

PROBLEM_JSON = "application/problem+json"
ORDER_ID = str(order_id_for("web-shop", "WEB-1001"))
# Embedded mode routes an accepted order in-process straight away, so by the time GET answers
# the order may have moved on; each of these statuses is only reachable through acceptance.
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}


def _event_types(hub: Hub, order_id: str) -> list[str]:
    return [
        env.type for _, env in hub.store.read_envelopes(None, 10_000) if env.subject == order_id
    ]


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def _post(client: httpx.AsyncClient, content: bytes) -> httpx.Response:
    return await client.post(
        "/v1/orders", content=content, headers={"content-type": "application/json"}
    )


@pytest.mark.asyncio
async def test_an_order_posted_is_accepted_and_readable_at_its_location(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, hub):
        created = await _post(client, _body(submission_dict()))

        assert created.status_code == 202
        assert created.headers["location"] == f"/v1/orders/{ORDER_ID}"
        assert (created.json()["outcome"], created.json()["status"]) == ("created", "accepted")
        shown = await client.get(created.headers["location"])
        assert shown.status_code == 200
        order = shown.json()
        assert order["order_id"] == ORDER_ID
        assert order["status"] in ACCEPTED_OR_LATER
        assert (order["channel"], order["external_id"]) == ("web-shop", "WEB-1001")
        assert (order["total"], order["currency"], order["line_count"]) == ("44.80", "EUR", 2)
        assert _event_types(hub, ORDER_ID)[:2] == [
            EventType.ORDER_PLACED,
            EventType.ORDER_ACCEPTED,
        ]


@pytest.mark.asyncio
async def test_the_same_order_resent_in_another_spelling_is_answered_200_with_the_same_id(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, hub):
        first = await _post(client, _body(submission_dict()))
        await hub.delivered()  # its routing too, which runs after the answer
        position = hub.store.max_position()
        respelled = json.dumps(
            dict(reversed(list(submission_dict(currency="eur").items()))), indent=3
        ).encode()

        again = await _post(client, respelled)

        assert again.status_code == 200
        assert again.headers["location"] == first.headers["location"]
        assert (again.json()["order_id"], again.json()["outcome"]) == (ORDER_ID, "duplicate")
        assert again.json()["digest"] == first.json()["digest"]
        assert hub.store.max_position() == position


@pytest.mark.asyncio
async def test_the_same_key_with_other_content_is_a_409_naming_both_digests(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, hub):
        first = await _post(client, _body(submission_dict()))
        await hub.delivered()  # its routing too, which runs after the answer
        position = hub.store.max_position()
        lines = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 9, "unit_price": "19.90"}]

        conflict = await _post(client, _body(submission_dict(lines=lines)))

        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == PROBLEM_JSON
        problem = conflict.json()
        assert problem["order_id"] == ORDER_ID
        assert problem["existing_digest"] == first.json()["digest"]
        assert problem["submitted_digest"] not in (None, first.json()["digest"])
        assert conflict.headers["location"] == f"/v1/orders/{ORDER_ID}"
        assert hub.store.max_position() == position
        assert (await client.get(f"/v1/orders/{ORDER_ID}")).json()["total"] == "44.80"


def _without(key: str) -> dict[str, Any]:
    payload = submission_dict()
    del payload[key]
    return payload


def _line(**overrides: Any) -> list[dict[str, Any]]:
    return [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "19.90", **overrides}]


def _ship_to(**overrides: Any) -> dict[str, Any]:
    return {**submission_dict()["ship_to"], **overrides}


# (body, expected status, the field path in errors[] or None for a body-level error)
BAD_INPUTS: dict[str, tuple[bytes, int, str | None]] = {
    "malformed JSON": (b'{"channel": "web-shop", "lines": [', 400, "(body)"),
    "body not UTF-8": (b"\xff\xfe{}", 400, None),
    "missing customer": (_body(_without("customer")), 422, "customer"),
    "quantity zero": (_body(submission_dict(lines=_line(quantity=0))), 422, "lines.0.quantity"),
    "quantity negative": (
        _body(submission_dict(lines=_line(quantity=-3))),
        422,
        "lines.0.quantity",
    ),
    "unknown currency": (_body(submission_dict(currency="XYZ")), 422, "currency"),
    "price as a float": (
        _body(submission_dict(lines=_line(unit_price=19.9))),
        422,
        "lines.0.unit_price",
    ),
    "a 2 MB body": (_body(submission_dict(padding="x" * 2_000_000)), 413, None),
    "unknown field": (_body(submission_dict(gift_wrap=True)), 422, "gift_wrap"),
    "unknown country": (
        _body(submission_dict(ship_to=_ship_to(country="XX"))),
        422,
        "ship_to.country",
    ),
    "an array, not an object": (b'[{"channel": "web-shop"}]', 422, "(body)"),
}


@pytest.mark.parametrize(
    ("body", "status", "field"), list(BAD_INPUTS.values()), ids=list(BAD_INPUTS)
)
@pytest.mark.asyncio
async def test_bad_input_is_a_4xx_problem_naming_the_field_and_records_no_order(
    tmp_path: Path, body: bytes, status: int, field: str | None
) -> None:
    async with running(tmp_path) as (client, hub):
        await _post(client, _body(submission_dict(external_id="WEB-0999")))  # not an empty store
        await hub.delivered()  # its routing too, which runs after the answer
        position = hub.store.max_position()

        response = await _post(client, body)

        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert problem["status"] == status
        assert problem["title"]
        if field is not None:
            assert field in [e["field"] for e in problem["errors"]]
        assert (await client.get(f"/v1/orders/{ORDER_ID}")).status_code == 404
        recorded = [env for _, env in hub.store.read_envelopes(position, 10)]
        if status == 422:
            # Kept as a rejected submission (never as an order), with its reasons and payload.
            (kept,) = recorded
            assert kept.type == EventType.REJECTED_SUBMISSION_RECORDED
            assert kept.data["raw_payload"] == body.decode()
            assert field in [p["field"] for p in kept.data["problems"]]
            assert problem["rejection_id"] == kept.subject
            listed = (await client.get("/v1/submissions/rejected")).json()
            assert [r["id"] for r in listed] == [kept.subject]
        else:
            assert recorded == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"lines": [{"quantity": ' + b"9" * 5000 + b"}]}",
    ],
    ids=["JSON nested 5000 deep", "an integer of 5000 digits"],
)
@pytest.mark.asyncio
async def test_json_the_parser_cannot_hold_is_a_400_not_a_500(tmp_path: Path, body: bytes) -> None:
    async with running(tmp_path) as (client, hub):
        response = await _post(client, body)

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
        assert hub.store.max_position() == 0


@pytest.mark.asyncio
async def test_an_unknown_order_is_a_404_problem(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.get(f"/v1/orders/{ORDER_ID}")

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.asyncio
async def test_an_order_id_that_is_not_a_uuid_is_a_422_problem_on_the_path(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, _):
        response = await client.get("/v1/orders/RED-CHAIR")

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert [e["field"] for e in response.json()["errors"]] == ["path.order_id"]


@pytest.mark.asyncio
async def test_an_order_placed_far_in_the_future_is_recorded_and_rejected_with_the_reason(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, hub):
        response = await _post(client, _body(submission_dict(placed_at=in_the_future(NOW))))

        assert response.status_code == 202
        receipt = response.json()
        assert (receipt["outcome"], receipt["status"]) == ("created", "rejected")
        assert receipt["reasons"] and receipt["reasons"][0].startswith("placed_at:")
        shown = (await client.get(response.headers["location"])).json()
        assert (shown["status"], shown["reasons"]) == ("rejected", receipt["reasons"])
        assert _event_types(hub, ORDER_ID) == [EventType.ORDER_PLACED, EventType.ORDER_REJECTED]


@pytest.mark.asyncio
async def test_after_a_restart_orders_are_still_readable_and_duplicates_still_recognised(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (client, _):
        assert (await _post(client, _body(submission_dict()))).status_code == 202
        before_restart = await decided(client, ORDER_ID)

    async with running(tmp_path) as (client, hub):
        position = hub.store.max_position()
        shown = await client.get(f"/v1/orders/{ORDER_ID}")
        again = await _post(client, json.dumps(submission_dict(), indent=2).encode())

        assert (shown.status_code, shown.json()) == (200, before_restart)
        assert (again.status_code, again.json()["order_id"]) == (200, ORDER_ID)
        assert again.json()["outcome"] == "duplicate"
        assert hub.store.max_position() == position


@pytest.mark.asyncio
async def test_events_recorded_but_not_delivered_before_a_crash_are_delivered_on_start(
    tmp_path: Path,
) -> None:
    # A crash between the store's commit and the in-process delivery: the view is behind.
    crashed = embedded_hub(tmp_path, fixed_clock(NOW))
    crashed.intake.place_order(SubmitOrder(submission(), "{}", "channel:web-shop", "req-1"))
    assert crashed.order_status.get(ORDER_ID) is None
    crashed.close()

    async with running(tmp_path) as (client, _):
        shown = await client.get(f"/v1/orders/{ORDER_ID}")

        assert shown.status_code == 200
        assert shown.json()["status"] in ACCEPTED_OR_LATER


@pytest.mark.asyncio
async def test_health_reports_embedded_mode_and_the_store_position(tmp_path: Path) -> None:
    async with running(tmp_path) as (client, hub):
        await _post(client, _body(submission_dict()))
        await hub.delivered()  # its routing too, which runs after the answer

        health = (await client.get("/healthz")).json()

        assert health["mode"] == "embedded"
        assert health["event_store_position"] == hub.store.max_position() >= 2
