"""`GET /v1/events/{subject}/{sequence}`: where a claim check's `ce_dataref` points. The event
as a CloudEvent in structured mode, for the roles that read every channel's events; never an
event the relay keeps back (credentials, decision inputs)."""

from pathlib import Path

import orjson
import pytest

from aggregates.channel import api_key_aggregate_id
from connectors.claim_check import dataref
from hub.api.app import create_app
from schemas.channels import ChannelDefinition, IssueKey, Role
from schemas.event_types import EventType
from tests.contracts.factories import submit_order
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, embedded_hub, serving, stock_up

ADMIN = "events-admin-key-6a1f0c93be27d5e4"
SOURCES = {"wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50})}


@pytest.mark.asyncio
async def test_the_event_a_claim_check_names_is_served_to_the_roles_that_see_every_channel(
    tmp_path: Path, clock: Clock
) -> None:
    hub = embedded_hub(tmp_path, clock, auth_required=True, admin_api_key=ADMIN)
    try:
        stock_up(hub, SOURCES)
        command = submit_order(external_id="WEB-9", ship_to=LYON, payment_state="authorized")
        hub.intake.place_orders([command])
        hub.deliver()
        order = str(command.order_id)
        stored = hub.store.events_of(order)
        hub.access.register_channel(
            ChannelDefinition.model_validate(
                {"channel_id": "web-shop", "name": "web", "kind": "web", "format": "canonical"}
            ),
            "user:admin",
        )
        channel_key = hub.access.issue_key(
            IssueKey(role=Role.CHANNEL, channel_id="web-shop", label="web"), "user:admin"
        )
        auditor_key = hub.access.issue_key(IssueKey(role=Role.AUDITOR, label="au"), "user:admin")
        key_events = hub.store.events_of(str(api_key_aggregate_id(auditor_key.key_id)))

        def bearer(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}"}

        async with serving(create_app(hub)) as client:
            served = [
                await client.get(dataref(order, e.sequence), headers=bearer(auditor_key.api_key))
                for e in stored
            ]
            as_admin = await client.get(dataref(order, 1), headers=bearer(ADMIN))
            as_channel = await client.get(dataref(order, 1), headers=bearer(channel_key.api_key))
            unknown = await client.get(dataref(order, len(stored) + 1), headers=bearer(ADMIN))
            credential = await client.get(dataref(key_events[0].subject, 1), headers=bearer(ADMIN))
            zero = await client.get(dataref(order, 0), headers=bearer(ADMIN))
            anonymous = await client.get(dataref(order, 1))
    finally:
        hub.close()

    assert EventType.ORDER_ROUTED in {e.type for e in stored}
    assert {r.status_code for r in served} == {200}
    assert {r.headers["content-type"] for r in served} == {"application/cloudevents+json"}
    assert [r.json() for r in served] == [
        orjson.loads(orjson.dumps(e.model_dump(mode="json"))) for e in stored
    ]
    first = served[0].json()
    assert (first["specversion"], first["subject"], first["sequence"]) == ("1.0", order, 1)
    assert as_admin.status_code == 200
    assert as_channel.status_code == 403
    assert unknown.status_code == 404
    assert key_events and credential.status_code == 404
    assert zero.status_code == 422
    assert anonymous.status_code == 401
