"""CSV bulk uploads: consecutive rows of one external_id are one order; problems name the row."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.channels import ChannelContext, Refused, UnparseablePayload
from connectors.channels.csv_bulk import REQUIRED_COLUMNS, parse
from schemas.submission import DeliveryMethod
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "csv"
CONTEXT = ChannelContext(
    channel_id="bulk-upload",
    received_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
    default_currency="EUR",
    sku_map={"rc-01": "RED-CHAIR"},
)
HEADER = ",".join(REQUIRED_COLUMNS)
ROW = (
    "B-1,2026-11-20T08:00:00Z,CUST-1,one@example.org,Ann One,1 High St,Leeds,LS1 1AA,GB,"
    "RED-CHAIR,1,19.90,GBP,standard"
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def lines_of(result: object) -> list[tuple[str, str, int, Decimal]]:
    return [
        (li.line_id, li.sku, li.quantity, li.unit_price) for li in mapped(result).submission.lines
    ]


class TestGoodSamples:
    def test_consecutive_rows_become_the_lines_of_one_order(self) -> None:
        first, second, third = parse(sample("good-bulk-upload.csv"), CONTEXT)

        assert [r.index for r in (first, second, third)] == [0, 1, 2]
        one = mapped(first).submission
        assert mapped(first).actor == "channel:bulk-upload"
        assert one.external_id == "B2C-5001"
        assert one.ship_to.line1 == "3 place Bellecour, bat. B"  # a quoted comma
        assert one.customer.email == "ada@example.org"
        assert lines_of(first) == [
            ("1", "RED-CHAIR", 2, Decimal("19.90")),
            ("2", "BLUE-LAMP", 1, Decimal("5.00")),
        ]
        two = mapped(second).submission
        assert two.customer.email is None
        assert two.placed_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        assert (two.currency, two.delivery_method) == ("GBP", DeliveryMethod.EXPRESS)
        three = mapped(third).submission
        assert three.ship_to.name == "Turing, Alan"
        assert three.currency == "EUR"  # blank: the channel's default
        assert three.delivery_method is DeliveryMethod.SAME_DAY
        # the second row leaves the order's columns blank; rc-01 goes through the SKU map
        assert lines_of(third) == [
            ("1", "RED-CHAIR", 3, Decimal("18.50")),
            ("2", "BLUE-LAMP", 4, Decimal("4.99")),
        ]

    def test_each_order_keeps_the_header_and_its_own_rows_as_raw(self) -> None:
        _, second, _ = parse(sample("good-bulk-upload.csv"), CONTEXT)

        lines = second.raw.splitlines()
        assert lines[0].startswith("external_id,placed_at")
        assert len(lines) == 2 and lines[1].startswith("B2C-5002,")

    def test_an_excel_export_with_bom_semicolons_crlf_and_decimal_commas(self) -> None:
        raw = sample("good-excel-semicolon-bom.csv")
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw

        [result] = parse(raw, CONTEXT)

        submission = mapped(result).submission
        assert submission.customer.name == "Jeanne Baret"
        assert submission.ship_to.country == "FR"  # sent as "fr"
        assert submission.delivery_method is DeliveryMethod.CLICK_AND_COLLECT
        assert lines_of(result) == [
            ("10", "RED-CHAIR", 1, Decimal("19.90")),
            ("20", "BLUE-LAMP", 3, Decimal("4.5")),
        ]


class TestBadSamples:
    def test_every_order_is_refused_on_its_own_rows(self) -> None:
        results = parse(sample("bad-rows.csv"), CONTEXT)

        assert [type(r).__name__ for r in results] == ["Mapped"] + ["Refused"] * 6
        _, naive, zero, negative, repeated, shifted, conflicting = results
        assert refused(naive) == {"row 3: placed_at": "bad_timestamp"}
        assert refused(zero) == {
            "row 4: quantity": "not_whole_number",
            "row 4: ship_country": "string_too_long",
        }
        assert refused(negative) == {
            "row 5: unit_price": "greater_than_equal",
            "row 5: delivery_method": "enum",
        }
        assert refused(repeated) == {"row 6: external_id": "duplicate"}
        assert refused(shifted) == {"row 8": "malformed", "row 7: quantity": "not_whole_number"}
        assert refused(conflicting) == {
            "row 10: currency": "conflicting_value",
            "row 9: sku": "missing",
            "row 10: unit_price": "bad_money",
        }

    def test_the_message_reads_as_row_column_and_rule(self) -> None:
        results = parse(sample("bad-rows.csv"), CONTEXT)

        shifted = results[5]
        assert isinstance(shifted, Refused)
        problem = next(p for p in shifted.problems if p.field == "row 7: quantity")
        assert f"{problem.field}: {problem.message}" == (
            "row 7: quantity: must be a whole number > 0 (got '2.5')"
        )
        assert shifted.external_id == "B2C-6005"

    def test_a_missing_or_misspelt_column_makes_the_file_unreadable(self) -> None:
        with pytest.raises(UnparseablePayload) as caught:
            parse(sample("bad-missing-column.csv"), CONTEXT)

        assert "missing: customer_email, quantity" in caught.value.message
        assert "unknown: qty" in caught.value.message


class TestShapes:
    def test_a_header_alone_carries_no_orders(self) -> None:
        assert parse(f"{HEADER}\n\n".encode(), CONTEXT) == []

    def test_tab_separated_values(self) -> None:
        raw = f"{HEADER}\n{ROW}\n".replace(",", "\t").encode()

        [result] = parse(raw, CONTEXT)

        assert lines_of(result) == [("1", "RED-CHAIR", 1, Decimal("19.90"))]

    def test_windows_1252_text(self) -> None:
        raw = f"{HEADER}\n{ROW.replace('Ann One', 'Anaïs Müller')}\n".encode("cp1252")

        [result] = parse(raw, CONTEXT)

        assert mapped(result).submission.ship_to.name == "Anaïs Müller"

    def test_a_blank_external_id_is_named(self) -> None:
        [result] = parse(f"{HEADER}\n{ROW.replace('B-1', '', 1)}\n".encode(), CONTEXT)

        assert refused(result) == {"row 2: external_id": "missing"}

    @pytest.mark.parametrize(
        "raw",
        [b"", b"\n\n", b"\x00\x01\x02", b"hello,world\n1,2\n", b'{"orders": []}'],
    )
    def test_what_is_not_a_bulk_upload_is_unparseable(self, raw: bytes) -> None:
        with pytest.raises(UnparseablePayload):
            parse(raw, CONTEXT)
