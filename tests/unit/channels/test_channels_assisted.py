"""Assisted entry (tills, call center): the operator is the actor; click & collect ships to the
store."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.channels import ChannelContext, Mapped, Refused
from connectors.channels.assisted import parse
from schemas.submission import Address, DeliveryMethod, PaymentState
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "assisted"
RECEIVED_AT = datetime(2026, 11, 20, 12, tzinfo=UTC)
STORE_LYON = Address(
    name="Store Lyon Bellecour",
    line1="1 place Bellecour",
    city="Lyon",
    postal_code="69002",
    country="FR",
)
CONTEXT = ChannelContext(
    channel_id="stores-fr",
    received_at=RECEIVED_AT,
    default_currency="EUR",
    default_country="FR",
    sku_map={"rc-01": "RED-CHAIR"},
    stores={"store-lyon": STORE_LYON},
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def entry(name: str, **changes: Any) -> bytes:
    body = json.loads(sample(name))
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def parse_one(raw: bytes, context: ChannelContext = CONTEXT) -> Mapped | Refused:
    [result] = parse(raw, context)
    return result


class TestGoodSamples:
    def test_click_and_collect_ships_to_the_store_and_acts_as_the_operator(self) -> None:
        order = mapped(parse_one(sample("good-click-and-collect.json")))

        submission = order.submission
        assert order.actor == "user:op-042"
        assert submission.external_id == "store-lyon/T3-000871"
        assert submission.delivery_method is DeliveryMethod.CLICK_AND_COLLECT
        assert submission.ship_to == STORE_LYON
        assert submission.payment_state is PaymentState.CAPTURED
        assert submission.placed_at == datetime(2026, 11, 20, 14, 42, tzinfo=UTC)
        assert [(li.line_id, li.sku, li.quantity, li.unit_price) for li in submission.lines] == [
            ("1", "RED-CHAIR", 1, Decimal("19.90")),
            ("2", "BLUE-LAMP", 2, Decimal("5.00")),
        ]

    def test_call_center_entry_with_express_delivery(self) -> None:
        order = mapped(parse_one(sample("good-call-center.json")))

        submission = order.submission
        assert order.actor == "user:agent-17"
        assert submission.external_id == "CC-2026-004411"
        assert submission.delivery_method is DeliveryMethod.EXPRESS
        assert submission.customer.demand_class == "vip"
        assert submission.ship_to.country == "FR"  # sent as "fr"
        assert submission.currency == "EUR"  # the channel's default
        assert submission.promised_by == datetime(2026, 11, 22, 17, tzinfo=UTC)
        assert submission.payment_state is PaymentState.AUTHORIZED
        assert [(li.line_id, li.sku, li.unit_price) for li in submission.lines] == [
            ("L1", "OAK-TABLE", Decimal("249"))
        ]

    def test_ship_from_store_takes_defaults_and_maps_skus(self) -> None:
        order = mapped(parse_one(sample("good-ship-from-store.json")))

        submission = order.submission
        assert submission.external_id == "store-paris-9/88123"
        assert submission.ship_to.country == "FR"
        assert submission.delivery_method is DeliveryMethod.STANDARD
        assert submission.payment_state is PaymentState.PENDING
        assert [(li.sku, li.quantity, li.unit_price) for li in submission.lines] == [
            ("RED-CHAIR", 6, Decimal("17.50"))
        ]


class TestBadSamples:
    def test_missing_ship_to_float_price_and_negative_quantity(self) -> None:
        result = parse_one(sample("bad-missing-ship-to-float-price.json"))

        assert refused(result) == {
            "ship_to": "missing",
            "lines[0].unit_price": "float_money",
            "lines[1].quantity": "not_whole_number",
        }
        assert isinstance(result, Refused) and result.external_id == "store-lyon/T1-000002"

    def test_unknown_mode_and_no_operator(self) -> None:
        result = parse_one(sample("bad-unknown-store-and-mode.json"))

        assert refused(result) == {"mode": "unknown_value", "operator_id": "missing"}


class TestOperatorAndStore:
    def test_the_signed_in_operator_is_the_actor_when_the_body_names_none(self) -> None:
        context = ChannelContext(
            channel_id="stores-fr",
            received_at=RECEIVED_AT,
            operator="op-042",
            stores=CONTEXT.stores,
        )

        result = parse_one(entry("good-click-and-collect.json", operator_id=None), context)

        assert mapped(result).actor == "user:op-042"

    def test_the_body_may_not_name_another_operator_than_the_signed_in_one(self) -> None:
        context = ChannelContext(
            channel_id="stores-fr",
            received_at=RECEIVED_AT,
            operator="op-001",
            stores=CONTEXT.stores,
        )

        result = parse_one(sample("good-click-and-collect.json"), context)

        assert refused(result) == {"operator_id": "operator_mismatch"}

    def test_click_and_collect_at_a_store_without_an_address_is_refused(self) -> None:
        result = parse_one(entry("good-click-and-collect.json", store_id="store-nowhere"))

        assert refused(result) == {"store_id": "unknown_value"}

    def test_a_store_address_in_the_body_wins(self) -> None:
        address = {
            "name": "Pop-up Lille",
            "line1": "1 rue Faidherbe",
            "city": "Lille",
            "postal_code": "59000",
            "country": "FR",
        }

        result = parse_one(entry("good-click-and-collect.json", store_address=address))

        assert mapped(result).submission.ship_to.city == "Lille"

    def test_without_placed_at_the_entry_is_placed_when_received(self) -> None:
        result = parse_one(entry("good-call-center.json", placed_at=None, promised_by=None))

        assert mapped(result).submission.placed_at == RECEIVED_AT

    def test_click_and_collect_is_not_a_delivery_method_to_choose_for_shipping(self) -> None:
        result = parse_one(entry("good-call-center.json", delivery_method="click_and_collect"))

        assert refused(result) == {"delivery_method": "unknown_value"}
