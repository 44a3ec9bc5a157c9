"""The marketplace feed adapter: one result per order, ASINs through the SKU map, marketplace-
fulfilled orders refused."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.channels import ChannelContext, Refused
from connectors.channels.marketplace import parse
from schemas.submission import DeliveryMethod, PaymentState
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = (
    Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "marketplace"
)
CONTEXT = ChannelContext(
    channel_id="market-eu",
    received_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
    sku_map={"B07XJ8C8F5": "RED-CHAIR", "B0OAKTABLE": "OAK-TABLE", "RC-01": "NOT-USED"},
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def feed_with(**changes: Any) -> bytes:
    feed = json.loads(sample("good-feed.json"))
    feed["orders"][0].update(changes)
    return json.dumps(feed).encode()


class TestGoodSamples:
    def test_each_order_of_the_feed_maps(self) -> None:
        first, second = (mapped(r) for r in parse(sample("good-feed.json"), CONTEXT))

        assert (first.index, second.index) == (0, 1)
        assert first.actor == second.actor == "channel:market-eu"
        one = first.submission
        assert one.external_id == "302-1234567-7654321"
        assert one.placed_at == datetime(2026, 11, 20, 7, 42, 10, tzinfo=UTC)
        assert one.customer.id == "A1B2C3D4E5F6G7"
        assert one.customer.email == "x7k2abc@marketplace.example"
        assert one.ship_to.country == "DE"  # sent as "De"
        assert one.ship_to.region == "Berlin"
        assert one.currency == "EUR"
        assert one.delivery_method is DeliveryMethod.EXPRESS
        assert one.payment_state is PaymentState.CAPTURED

    def test_asin_wins_over_seller_sku_and_item_price_is_the_line_total(self) -> None:
        first, second = (mapped(r).submission for r in parse(sample("good-feed.json"), CONTEXT))

        assert [(li.line_id, li.sku, li.quantity, li.unit_price) for li in first.lines] == [
            ("61521738901234", "RED-CHAIR", 2, Decimal("19.90")),  # ASIN mapped
            ("61521738905678", "BLUE-LAMP", 1, Decimal("24.90")),  # unknown ASIN: seller SKU
        ]
        # 10.00 for 3 → 3.33 each, in pounds
        assert [(li.sku, li.quantity, li.unit_price) for li in second.lines] == [
            ("OAK-TABLE", 3, Decimal("3.33"))
        ]
        assert second.currency == "GBP"
        assert second.delivery_method is DeliveryMethod.STANDARD

    def test_the_raw_of_each_order_is_that_order_alone(self) -> None:
        first, second = parse(sample("good-feed.json"), CONTEXT)

        assert json.loads(first.raw)["marketplaceOrderId"] == "302-1234567-7654321"
        assert "302-1234567-7654321" not in second.raw


class TestBadSamples:
    def test_orders_are_refused_one_by_one_with_feed_paths(self) -> None:
        good, unknown, fulfilled_by_marketplace, empty = parse(
            sample("bad-unknown-asin-fba-missing.json"), CONTEXT
        )

        assert mapped(good).submission.lines[0].sku == "RED-CHAIR"
        assert refused(unknown) == {
            "orders[1].items[0].asin": "unknown_sku",
            "orders[1].items[1].itemPrice.amount": "float_money",
            "orders[1].items[1].itemPrice.currencyCode": "conflicting_value",
        }
        assert refused(fulfilled_by_marketplace) == {
            "orders[2].fulfillmentChannel": "not_ours_to_fulfil"
        }
        assert refused(empty) == {
            "orders[3].purchaseDate": "bad_timestamp",
            "orders[3].buyer": "missing",
            "orders[3].shippingAddress": "missing",
            "orders[3].items": "too_short",
        }
        assert isinstance(unknown, Refused) and unknown.external_id == "302-0000002-0000002"

    def test_a_feed_that_is_a_bare_list_is_refused_as_a_whole(self) -> None:
        [result] = parse(sample("bad-not-a-feed.json"), CONTEXT)

        assert refused(result) == {"(body)": "wrong_type"}


class TestMappingRules:
    @pytest.mark.parametrize(
        ("level", "method"),
        [
            ("Standard", DeliveryMethod.STANDARD),
            ("NextDay", DeliveryMethod.EXPRESS),
            ("SameDay", DeliveryMethod.SAME_DAY),
            ("Scheduled", DeliveryMethod.STANDARD),
        ],
    )
    def test_service_levels(self, level: str, method: DeliveryMethod) -> None:
        result, _ = parse(feed_with(shipmentServiceLevelCategory=level), CONTEXT)

        assert mapped(result).submission.delivery_method is method

    def test_an_unknown_fulfillment_channel_is_named(self) -> None:
        result, _ = parse(feed_with(fulfillmentChannel="DROPSHIP"), CONTEXT)

        assert refused(result) == {"orders[0].fulfillmentChannel": "unknown_value"}

    def test_a_quantity_sent_as_text_is_refused(self) -> None:
        feed = json.loads(sample("good-feed.json"))
        feed["orders"][1]["items"][0]["quantityOrdered"] = "3"

        _, result = parse(json.dumps(feed).encode(), CONTEXT)

        assert refused(result) == {"orders[1].items[0].quantityOrdered": "not_whole_number"}

    def test_orders_must_be_an_array(self) -> None:
        [result] = parse(b'{"orders": {"marketplaceOrderId": "1"}}', CONTEXT)

        assert refused(result) == {"orders": "wrong_type"}
