"""Every native format through `POST /v1/intake/{format}`, embedded, with the samples in
`connectors/channels/samples/`: good payloads become orders whose raw text is their own; bad ones
are a 400 (not the format at all) or refusals kept with the sender's own field paths and raw
payload; nothing of a payload is lost, and a payload sent twice is recognised."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregates import order_id_for
from connectors.channels import ChannelContext, Mapped, Refused, adapter_for
from hub.bootstrap import Hub
from schemas.channels import ChannelDefinition
from schemas.event_types import EventType
from tests.contracts.factories import fixed_clock
from tests.support.running_hub import running

SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "channels" / "samples"
PROBLEM_JSON = "application/problem+json"
ACCEPTED_OR_LATER = {"accepted", "held", "routed", "backordered", "unroutable"}
# The evening after every sample was placed: none of them is "in the future".
NOW = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)

# One channel per format, with what its samples need: item ids to map, defaults to fill in.
CHANNELS: dict[str, dict[str, Any]] = {
    "canonical": {"channel_id": "web-shop", "kind": "web"},
    "webshop": {
        "channel_id": "shop-us",
        "kind": "web",
        # The shop's own SKU for the lamp, and a gift card sold by variant id without a SKU.
        "sku_map": {"lamp-blue-v2": "BLUE-LAMP", "40003": "GIFT-CARD"},
    },
    "marketplace": {
        "channel_id": "market-eu",
        "kind": "marketplace",
        "sku_map": {"B07XJ8C8F5": "RED-CHAIR", "B0OAKTABLE": "OAK-TABLE"},
    },
    "assisted": {
        "channel_id": "stores-fr",
        "kind": "pos",
        "default_currency": "EUR",
        "default_country": "FR",
        "sku_map": {"rc-01": "RED-CHAIR"},
        # Click & collect ships to the store: its address comes from the channel's definition.
        "stores": {
            "store-lyon": {
                "name": "OrderHub Store Lyon",
                "line1": "3 place Bellecour",
                "city": "Lyon",
                "postal_code": "69002",
                "country": "FR",
            }
        },
    },
    "edi-x12-850": {
        "channel_id": "b2b-acme",
        "kind": "b2b",
        "default_currency": "EUR",
        "default_country": "DE",
        "sku_map": {"ACME-55501": "BLUE-LAMP"},
    },
    "csv": {
        "channel_id": "bulk-upload",
        "kind": "web",
        "default_currency": "EUR",
        "sku_map": {"rc-01": "RED-CHAIR"},
    },
}


def definition(fmt: str) -> dict[str, Any]:
    return {"name": f"{fmt} channel", "format": fmt, **CHANNELS[fmt]}


def channel_of(fmt: str) -> str:
    return str(CHANNELS[fmt]["channel_id"])


# Each good sample: the external ids of its orders, in payload order.
GOOD: dict[str, list[str]] = {
    "canonical/good-single-order.json": ["WEB-1001"],
    "canonical/good-two-orders.json": ["WEB-1002", "WEB-1003"],
    "webshop/good-order-created.json": ["5208744935"],
    "webshop/good-guest-pickup-jpy.json": ["5208744999"],
    "marketplace/good-feed.json": ["302-1234567-7654321", "205-9876543-1234567"],
    "assisted/good-call-center.json": ["CC-2026-004411"],
    "assisted/good-click-and-collect.json": ["store-lyon/T3-000871"],
    "assisted/good-ship-from-store.json": ["store-paris-9/88123"],
    "edi-x12-850/good-single-po.edi": ["PO-778812"],
    "edi-x12-850/good-two-sets-crlf.edi": ["G-55001", "G-55002"],
    "edi-x12-850/good-200-lines.edi": ["PO-900200"],
    "csv/good-bulk-upload.csv": ["B2C-5001", "B2C-5002", "B2C-5003"],
    "csv/good-excel-semicolon-bom.csv": ["FR-77001"],
}
GOOD_MARKS: dict[str, list[pytest.MarkDecorator]] = {}


@dataclass(frozen=True)
class Item:
    """One order of a payload: its external id, what became of it, and a field it is refused on
    (named in the sender's terms)."""

    external_id: str | None
    outcome: str  # created | rejected
    field: str | None = None


def taken(external_id: str) -> Item:
    return Item(external_id, "created")


def refused(external_id: str | None, field: str) -> Item:
    return Item(external_id, "rejected", field)


UNPARSEABLE: list[Item] = []
# Each bad sample: the HTTP status, and every order of the payload (none when unparseable).
BAD: dict[str, tuple[int, list[Item]]] = {
    "canonical/bad-truncated.json": (400, UNPARSEABLE),
    "canonical/bad-float-price.json": (422, [refused("WEB-2001", "lines[1].unit_price")]),
    "canonical/bad-missing-fields.json": (422, [refused("WEB-2002", "channel")]),
    "canonical/bad-list-with-zero-quantity.json": (
        200,
        [taken("WEB-3001"), refused("WEB-3002", "[1].lines[0].quantity"), refused(None, "[2]")],
    ),
    "webshop/bad-not-json.json": (400, UNPARSEABLE),
    "webshop/bad-float-price-zero-quantity.json": (
        422,
        [refused("5208745000", "line_items[1].quantity")],
    ),
    "webshop/bad-discount-exceeds-price.json": (
        422,
        [refused("5208745002", "line_items[0].discount_allocations")],
    ),
    "webshop/bad-voided-unknown-country.json": (
        422,
        [refused("5208745001", "shipping_address.country_code")],
    ),
    "marketplace/bad-not-a-feed.json": (422, [refused(None, "(body)")]),
    "marketplace/bad-unknown-asin-fba-missing.json": (
        200,
        [
            taken("302-0000001-0000001"),
            refused("302-0000002-0000002", "orders[1].items[0].asin"),
            refused("302-0000003-0000003", "orders[2].fulfillmentChannel"),
            refused("302-0000004-0000004", "orders[3].purchaseDate"),
        ],
    ),
    "assisted/bad-missing-ship-to-float-price.json": (
        422,
        [refused("store-lyon/T1-000002", "lines[0].unit_price")],
    ),
    "assisted/bad-unknown-store-and-mode.json": (422, [refused("store-unknown/T9-1", "mode")]),
    "edi-x12-850/bad-not-x12.edi": (400, UNPARSEABLE),
    "edi-x12-850/bad-truncated.edi": (422, [refused("PO-778812", "ST*0001/SE")]),
    "edi-x12-850/bad-lines-and-counts.edi": (
        422,
        [refused("PO-778899", "ST*0001/PO1[1].PO102")],
    ),
    "edi-x12-850/bad-wrong-se-count.edi": (
        200,
        [refused("PO-778812", "ST*0001/SE01"), taken("PO-778813")],
    ),
    "csv/bad-missing-column.csv": (400, UNPARSEABLE),
    "csv/bad-rows.csv": (
        200,
        [
            taken("B2C-6001"),
            refused("B2C-6002", "row 3: placed_at"),
            refused("B2C-6003", "row 4: quantity"),
            refused("B2C-6004", "row 5: delivery_method"),
            refused("B2C-6001", "row 6: external_id"),  # the same id again, further down
            refused("B2C-6005", "row 7: quantity"),
            refused("B2C-6006", "row 9: sku"),
        ],
    ),
}


def sample_cases(table: dict[str, Any], marks: dict[str, list[Any]]) -> list[Any]:
    return [pytest.param(name, marks=marks.get(name, []), id=name) for name in table]


def read_sample(name: str) -> tuple[str, bytes]:
    fmt = name.split("/", 1)[0]
    return fmt, (SAMPLES / name).read_bytes()


def raw_of_each_order(fmt: str, body: bytes) -> list[str]:
    """Each order's own raw text, as the channel's adapter cuts the payload."""
    context = ChannelContext.for_channel(ChannelDefinition.model_validate(definition(fmt)), NOW)
    results = adapter_for(fmt)(body, context)
    assert all(isinstance(r, Mapped | Refused) for r in results)
    return [r.raw for r in results]


def is_one_json_order(fmt: str, body: bytes) -> bool:
    """A web-shop webhook, an assisted entry, a canonical object: the body is the order."""
    return fmt in ("webshop", "assisted") or (fmt == "canonical" and body.lstrip().startswith(b"{"))


@asynccontextmanager
async def channel_hub(
    data_dir: Path, fmt: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Hub, dict[str, str]]]:
    """An embedded hub (auth off: the set-up acts as trial admin) with the format's channel
    registered, and that channel's key."""
    async with running(data_dir, fixed_clock(NOW)) as (client, hub):
        channel = channel_of(fmt)
        registered = await client.put(f"/v1/channels/{channel}", json=definition(fmt))
        assert registered.status_code == 201, registered.text
        issued = await client.post("/v1/keys", json={"role": "channel", "channel_id": channel})
        assert issued.status_code == 201, issued.text
        yield client, hub, {"Authorization": f"Bearer {issued.json()['api_key']}"}


def placed_external_ids(hub: Hub, channel: str) -> list[str]:
    return [
        env.data["external_id"]
        for _, env in hub.store.read_envelopes(None, 100_000)
        if env.type == EventType.ORDER_PLACED and env.data["channel"] == channel
    ]


def test_every_sample_is_in_one_of_the_tables() -> None:
    on_disk = {f"{p.parent.name}/{p.name}" for p in SAMPLES.glob("*/*") if p.is_file()}

    assert {n for n in on_disk if "/good-" in n} == set(GOOD)
    assert {n for n in on_disk if "/bad-" in n} == set(BAD)
    assert {n.split("/", 1)[0] for n in on_disk} == set(CHANNELS)


@pytest.mark.parametrize("name", sample_cases(GOOD, GOOD_MARKS))
@pytest.mark.asyncio
async def test_a_good_sample_becomes_orders_each_keeping_its_own_raw_text(
    tmp_path: Path, name: str
) -> None:
    fmt, body = read_sample(name)
    channel = channel_of(fmt)
    external_ids = GOOD[name]
    async with channel_hub(tmp_path, fmt) as (client, hub, key):
        response = await client.post(f"/v1/intake/{fmt}", content=body, headers=key)

        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["channel"] == channel
        results = answer["results"]
        assert [(r["external_id"], r["outcome"]) for r in results] == [
            (external_id, "created") for external_id in external_ids
        ]
        order_ids = [str(order_id_for(channel, external_id)) for external_id in external_ids]
        assert [r["order_id"] for r in results] == order_ids

        raws = raw_of_each_order(fmt, body)
        if is_one_json_order(fmt, body):
            assert raws == [body.decode("utf-8-sig")]
        for index, order_id in enumerate(order_ids):
            shown = await client.get(f"/v1/orders/{order_id}")
            raw = await client.get(f"/v1/orders/{order_id}/raw")

            assert shown.status_code == 200, shown.text
            assert shown.json()["status"] in ACCEPTED_OR_LATER, shown.json()
            assert (shown.json()["channel"], shown.json()["external_id"]) == (
                channel,
                external_ids[index],
            )
            assert raw.text == raws[index]
            others = [e for e in external_ids if e != external_ids[index]]
            assert not any(other in raw.text for other in others)
        assert placed_external_ids(hub, channel) == external_ids


@pytest.mark.parametrize("name", sample_cases(GOOD, GOOD_MARKS))
@pytest.mark.asyncio
async def test_a_good_sample_sent_twice_is_answered_duplicate_with_the_same_order_ids(
    tmp_path: Path, name: str
) -> None:
    fmt, body = read_sample(name)
    async with channel_hub(tmp_path, fmt) as (client, hub, key):
        first = await client.post(f"/v1/intake/{fmt}", content=body, headers=key)
        assert first.status_code == 202, first.text
        await hub.delivered()  # their routing too, which runs after the answer
        position = hub.store.max_position()

        again = await client.post(f"/v1/intake/{fmt}", content=body, headers=key)

        assert again.status_code == 200, again.text
        assert [(r["order_id"], r["outcome"]) for r in again.json()["results"]] == [
            (r["order_id"], "duplicate") for r in first.json()["results"]
        ]
        assert hub.store.max_position() == position


@pytest.mark.parametrize("name", sample_cases(BAD, {}))
@pytest.mark.asyncio
async def test_a_bad_sample_loses_nothing_each_order_is_an_order_or_a_listed_rejection(
    tmp_path: Path, name: str
) -> None:
    fmt, body = read_sample(name)
    channel = channel_of(fmt)
    status, items = BAD[name]
    async with channel_hub(tmp_path, fmt) as (client, hub, key):
        position = hub.store.max_position()

        response = await client.post(f"/v1/intake/{fmt}", content=body, headers=key)

        assert response.status_code == status, response.text
        listed = (await client.get("/v1/submissions/rejected", params={"channel": channel})).json()
        if status == 400:
            assert response.headers["content-type"] == PROBLEM_JSON
            assert (listed, hub.store.max_position()) == ([], position)
            return
        if status == 422:  # one order, refused: the problem names its fields
            assert response.headers["content-type"] == PROBLEM_JSON
            assert items[0].field in [e["field"] for e in response.json()["errors"]]
        else:
            results = response.json()["results"]
            assert [(r["external_id"], r["outcome"]) for r in results] == [
                (i.external_id, i.outcome) for i in items
            ]

        raws = raw_of_each_order(fmt, body)
        assert len(raws) == len(items)
        rows = {row["details"]["index"]: row for row in listed}
        rejected = {index for index, item in enumerate(items) if item.outcome == "rejected"}
        assert set(rows) == rejected
        for index in rejected:
            row, item = rows[index], items[index]
            assert (row["channel"], row["format"], row["reason"]) == (
                channel,
                fmt,
                "invalid_submission",
            )
            assert row["external_id"] == item.external_id
            assert item.field in [p["field"] for p in row["problems"]]
            assert row["raw_payload"] == raws[index]
            if is_one_json_order(fmt, body):
                assert row["raw_payload"] == body.decode("utf-8-sig")

        created = [item.external_id for item in items if item.outcome == "created"]
        assert placed_external_ids(hub, channel) == created
        for external_id in created:
            assert external_id is not None
            shown = await client.get(f"/v1/orders/{order_id_for(channel, external_id)}")
            assert shown.json()["status"] in ACCEPTED_OR_LATER
