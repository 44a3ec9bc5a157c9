"""The canonical adapter: OrderSubmission JSON in, problems named by their path in the payload."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.channels import ChannelContext, Refused, UnparseablePayload
from connectors.channels.canonical import parse
from schemas.submission import DeliveryMethod, PaymentState
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "canonical"
CONTEXT = ChannelContext(channel_id="web-shop", received_at=datetime(2026, 11, 20, 12, tzinfo=UTC))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class TestGoodSamples:
    def test_a_single_order_maps_with_exact_decimal_prices(self) -> None:
        [result] = parse(sample("good-single-order.json"), CONTEXT)

        order = mapped(result)
        submission = order.submission
        assert order.actor == "channel:web-shop"
        assert order.index == 0
        assert submission.external_id == "WEB-1001"
        assert submission.placed_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        assert [(li.sku, li.quantity, li.unit_price) for li in submission.lines] == [
            ("RED-CHAIR", 2, Decimal("19.90")),
            ("BLUE-LAMP", 1, Decimal("5")),
        ]
        assert submission.currency == "EUR"
        assert submission.delivery_method is DeliveryMethod.STANDARD
        assert submission.payment_state is PaymentState.CAPTURED
        assert submission.customer.demand_class == "standard"

    def test_the_raw_of_a_single_order_is_the_payload_as_sent(self) -> None:
        [result] = parse(sample("good-single-order.json"), CONTEXT)

        assert mapped(result).raw == sample("good-single-order.json").decode()

    def test_a_list_gives_one_result_per_order_with_its_own_raw(self) -> None:
        first, second = parse(sample("good-two-orders.json"), CONTEXT)

        vip, plain = mapped(first), mapped(second)
        assert (vip.index, plain.index) == (0, 1)
        assert vip.submission.channel == "web-shop"  # left out: the submitting channel
        assert vip.submission.customer.demand_class == "vip"
        assert vip.submission.currency == "GBP"
        assert vip.submission.ship_to.country == "GB"
        assert vip.submission.delivery_method is DeliveryMethod.EXPRESS
        assert vip.submission.promised_by == datetime(2026, 11, 21, 18, tzinfo=UTC)
        assert vip.submission.ship_to.lat == pytest.approx(51.5034)
        assert plain.submission.placed_at == datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
        assert [li.unit_price for li in plain.submission.lines] == [
            Decimal("18.5"),
            Decimal("4.9900"),
        ]
        assert '"external_id":"WEB-1003"' in plain.raw
        assert "WEB-1002" not in plain.raw


class TestBadSamples:
    def test_a_float_price_is_refused_at_its_line(self) -> None:
        [result] = parse(sample("bad-float-price.json"), CONTEXT)

        assert refused(result) == {"lines[1].unit_price": "float_money"}
        assert isinstance(result, Refused) and result.external_id == "WEB-2001"

    def test_every_missing_or_wrong_field_is_named(self) -> None:
        [result] = parse(sample("bad-missing-fields.json"), CONTEXT)

        assert refused(result) == {
            "channel": "channel_mismatch",
            "placed_at": "bad_timestamp",
            "ship_to": "missing",
            "lines[0].sku": "missing",
            "currency": "string_too_long",
        }

    def test_in_a_list_each_order_stands_alone_and_paths_start_at_its_index(self) -> None:
        good, bad, not_an_order = parse(sample("bad-list-with-zero-quantity.json"), CONTEXT)

        assert mapped(good).submission.external_id == "WEB-3001"
        assert refused(bad) == {
            "[1].lines[0].quantity": "greater_than",
            "[1].lines[0].unit_price": "greater_than_equal",
            "[1].lines[1].quantity": "int_type",  # 2.0 is not a count
        }
        assert refused(not_an_order) == {"[2]": "wrong_type"}

    def test_truncated_json_is_unparseable(self) -> None:
        with pytest.raises(UnparseablePayload, match="not JSON"):
            parse(sample("bad-truncated.json"), CONTEXT)


class TestEdges:
    @pytest.mark.parametrize(
        "payload",
        [
            b"",
            b"\xff\xfe{}",
            b"NaN",
            b'{"a": Infinity}',
            b"[" * 50 + b"]" * 50,
            b"1e9999999999999999999999",
        ],
    )
    def test_what_is_not_strict_json_is_unparseable(self, payload: bytes) -> None:
        with pytest.raises(UnparseablePayload):
            parse(payload, CONTEXT)

    def test_an_empty_list_carries_no_orders(self) -> None:
        assert parse(b"[]", CONTEXT) == []

    def test_a_time_out_of_range_in_utc_is_refused_not_raised(self) -> None:
        body = sample("good-single-order.json").replace(
            b"2026-11-20T09:00:00+01:00", b"0001-01-01T00:00:00+01:00"
        )

        [result] = parse(body, CONTEXT)

        assert refused(result) == {"placed_at": "bad_timestamp"}
