"""The web-shop webhook adapter: discounts folded into unit prices, tags into demand classes."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.channels import ChannelContext, Mapped, Refused, UnparseablePayload
from connectors.channels.webshop import parse
from schemas.submission import DeliveryMethod, PaymentState
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "webshop"
CONTEXT = ChannelContext(
    channel_id="shop-us",
    received_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
    sku_map={"lamp-blue-v2": "BLUE-LAMP", "40003": "GIFT-CARD"},
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def good_order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = json.loads(sample("good-order-created.json"))
    order.update(changes)
    return order


def parse_one(payload: dict[str, Any] | bytes) -> Mapped | Refused:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    [result] = parse(raw, CONTEXT)
    return result


class TestGoodSamples:
    def test_an_order_created_webhook_maps_field_by_field(self) -> None:
        order = mapped(parse_one(sample("good-order-created.json")))

        submission = order.submission
        assert order.actor == "channel:shop-us"
        assert submission.channel == "shop-us"
        assert submission.external_id == "5208744935"
        assert submission.placed_at == datetime(2026, 11, 20, 9, 12, 33, tzinfo=UTC)
        assert submission.currency == "USD"
        assert submission.payment_state is PaymentState.CAPTURED
        assert submission.delivery_method is DeliveryMethod.EXPRESS
        assert submission.customer.id == "7311234"
        assert submission.customer.name == "Ada Lovelace"
        assert submission.customer.demand_class == "vip"
        ship_to = submission.ship_to
        assert (ship_to.line1, ship_to.line2, ship_to.city) == (
            "1600 Amphitheatre Pkwy",
            "Building 4",
            "Mountain View",
        )
        assert (ship_to.region, ship_to.postal_code, ship_to.country) == (
            "California",
            "94043",
            "US",
        )
        assert ship_to.lat == pytest.approx(37.422)

    def test_unit_prices_are_net_of_discounts_rounded_to_cents(self) -> None:
        submission = mapped(parse_one(sample("good-order-created.json"))).submission

        # 3 x 20.00 - 1.00 = 59.00 → 19.666… → 19.67; the SKU map renames lamp-blue-v2; a blank
        # SKU falls back to the variant id in the SKU map.
        assert [(li.line_id, li.sku, li.quantity, li.unit_price) for li in submission.lines] == [
            ("13001", "RED-CHAIR", 3, Decimal("19.67")),
            ("13002", "BLUE-LAMP", 2, Decimal("9.95")),
            ("13003", "GIFT-CARD", 1, Decimal("0.80")),
        ]

    def test_a_guest_pickup_in_yen_with_bom_and_crlf(self) -> None:
        raw = sample("good-guest-pickup-jpy.json")
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw

        submission = mapped(parse_one(raw)).submission

        assert submission.customer.id == "guest:guest.buyer@example.jp"
        assert submission.customer.email == "guest.buyer@example.jp"
        assert submission.delivery_method is DeliveryMethod.CLICK_AND_COLLECT
        assert submission.payment_state is PaymentState.AUTHORIZED
        assert submission.ship_to.country == "JP"
        # (3 x 1200 - 100) / 3 = 1166.67 → yen have no minor unit: 1167
        [line] = submission.lines
        assert (line.sku, line.quantity, line.unit_price) == ("MATCHA-TIN", 3, Decimal("1167"))
        assert submission.currency == "JPY"


class TestBadSamples:
    def test_float_price_zero_and_text_quantities_are_refused_per_line(self) -> None:
        result = parse_one(sample("bad-float-price-zero-quantity.json"))

        assert refused(result) == {
            "line_items[0].price": "float_money",
            "line_items[1].quantity": "not_whole_number",
            "line_items[2].quantity": "not_whole_number",
        }
        assert isinstance(result, Refused) and result.external_id == "5208745000"

    def test_voided_order_unknown_country_blank_sku_and_negative_price(self) -> None:
        result = parse_one(sample("bad-voided-unknown-country.json"))

        assert refused(result) == {
            "financial_status": "unknown_value",
            "line_items[0].sku": "unknown_sku",
            "shipping_address.country_code": "value_error",
            "line_items[1].price": "greater_than_equal",
        }

    def test_discounts_larger_than_the_line_are_refused_once(self) -> None:
        result = parse_one(sample("bad-discount-exceeds-price.json"))

        assert refused(result) == {"line_items[0].discount_allocations": "bad_money"}

    def test_an_html_error_page_is_unparseable(self) -> None:
        with pytest.raises(UnparseablePayload):
            parse(sample("bad-not-json.json"), CONTEXT)


class TestMappingRules:
    @pytest.mark.parametrize(
        ("code", "method"),
        [
            ("standard", DeliveryMethod.STANDARD),
            ("EXPRESS", DeliveryMethod.EXPRESS),
            ("pickup", DeliveryMethod.CLICK_AND_COLLECT),
            ("same-day", DeliveryMethod.SAME_DAY),
            ("carrier-calculated-xyz", DeliveryMethod.STANDARD),
        ],
    )
    def test_shipping_line_codes_choose_the_delivery_method(
        self, code: str, method: DeliveryMethod
    ) -> None:
        order = good_order(shipping_lines=[{"code": code}])

        assert mapped(parse_one(order)).submission.delivery_method is method

    @pytest.mark.parametrize(
        ("status", "state"),
        [
            ("paid", PaymentState.CAPTURED),
            ("authorized", PaymentState.AUTHORIZED),
            ("pending", PaymentState.PENDING),
        ],
    )
    def test_financial_status_gives_the_payment_state(
        self, status: str, state: PaymentState
    ) -> None:
        order = good_order(financial_status=status)

        assert mapped(parse_one(order)).submission.payment_state is state

    def test_tags_may_be_a_list(self) -> None:
        order = good_order()
        order["customer"]["tags"] = ["Wholesale", " vip "]

        assert mapped(parse_one(order)).submission.customer.demand_class == "vip"

    def test_without_a_vip_tag_the_demand_class_is_standard(self) -> None:
        order = good_order()
        order["customer"]["tags"] = "vipish, newsletter"

        assert mapped(parse_one(order)).submission.customer.demand_class == "standard"

    def test_a_cancelled_order_is_refused(self) -> None:
        order = good_order(cancelled_at="2026-11-20T05:00:00-05:00")

        assert refused(parse_one(order)) == {"cancelled_at": "unsupported"}

    def test_a_customer_that_is_not_an_object_is_named(self) -> None:
        order = good_order(customer="Ada")

        assert refused(parse_one(order)) == {"customer": "wrong_type"}

    def test_a_body_that_is_not_an_object_is_refused(self) -> None:
        assert refused(parse_one(b"[1, 2]")) == {"(body)": "wrong_type"}

    def test_currency_falls_back_to_the_channel_default(self) -> None:
        order = good_order()
        del order["currency"]
        context = ChannelContext(
            channel_id="shop-us",
            received_at=datetime(2026, 11, 20, tzinfo=UTC),
            default_currency="USD",
            sku_map=CONTEXT.sku_map,
        )

        [result] = parse(json.dumps(order).encode(), context)

        assert mapped(result).submission.currency == "USD"
