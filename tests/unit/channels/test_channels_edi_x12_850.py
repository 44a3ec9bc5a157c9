"""EDI X12 850: delimiters from ISA, one result per ST…SE set, counts and control numbers
checked, problems named by segment and element."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.channels import ChannelContext, Refused, UnparseablePayload
from connectors.channels.edi_x12_850 import parse
from schemas.submission import DeliveryMethod, PaymentState
from tests.unit.channels.channels_results import mapped, refused

SAMPLES = (
    Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples" / "edi-x12-850"
)
CONTEXT = ChannelContext(
    channel_id="edi-partners",
    received_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
    default_currency="EUR",
    default_country="DE",
    sku_map={"ACME-55501": "BLUE-LAMP"},
)
ISA = (
    "ISA*00*          *00*          *ZZ*ACMERETAIL     *ZZ*ORDERHUB       "
    "*261120*0830*U*00401*000000905*0*P*>~"
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def lines_of(result: object) -> list[tuple[str, str, int, Decimal]]:
    return [
        (li.line_id, li.sku, li.quantity, li.unit_price) for li in mapped(result).submission.lines
    ]


def interchange(*body: str, terminator: str = "~", element: str = "*") -> bytes:
    """An interchange around one 850 set whose SE count is right."""
    st = ["ST*850*0001", *body]
    segments = [
        ISA.replace("*", element).replace("~", terminator).removesuffix(terminator),
        "GS*PO*ACMERETAIL*ORDERHUB*20261120*0830*905*X*004010",
        *st,
        f"SE*{len(st) + 1}*0001",
        "GE*1*905",
        "IEA*1*000000905",
    ]
    return (terminator.join(s.replace("*", element) for s in segments) + terminator).encode()


MINIMAL = (
    "BEG*00*SA*PO-1**20261120",
    "N1*ST*Store 1",
    "N3*1 Main St",
    "N4*Springfield*IL*62701*US",
    "PO1*1*2*EA*10.00**VP*RED-CHAIR",
    "CTT*1",
)


class TestGoodSamples:
    def test_a_purchase_order_maps_header_parties_and_lines(self) -> None:
        [result] = parse(sample("good-single-po.edi"), CONTEXT)

        order = mapped(result)
        submission = order.submission
        assert order.actor == "channel:edi-partners"
        assert submission.external_id == "PO-778812"
        assert submission.placed_at == datetime(2026, 11, 20, tzinfo=UTC)
        assert submission.promised_by == datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
        assert submission.currency == "USD"
        assert submission.payment_state is PaymentState.NOT_REQUIRED
        assert submission.delivery_method is DeliveryMethod.STANDARD
        customer = submission.customer
        assert (customer.id, customer.name, customer.demand_class) == (
            "ACME-001",
            "ACME Retail Inc",
            "b2b",
        )
        assert customer.email == "purchasing@acme-retail.example"
        ship_to = submission.ship_to
        assert (ship_to.name, ship_to.line1, ship_to.line2) == (
            "ACME Store 42",
            "1200 Market Street",
            "Suite 300",
        )
        assert (ship_to.city, ship_to.region, ship_to.postal_code, ship_to.country) == (
            "San Francisco",
            "CA",
            "94102",
            "US",
        )
        # VP is our part number; a BP id goes through the SKU map; SK is a SKU.
        assert lines_of(result) == [
            ("1", "RED-CHAIR", 12, Decimal("19.90")),
            ("2", "BLUE-LAMP", 4, Decimal("5")),
            ("3", "OAK-TABLE", 1, Decimal("249.00")),
        ]

    def test_two_sets_with_crlf_and_trailing_blanks_after_terminators(self) -> None:
        raw = sample("good-two-sets-crlf.edi")
        assert b"~   \r\n" in raw

        first, second = parse(raw, CONTEXT)

        one, two = mapped(first).submission, mapped(second).submission
        assert (first.index, second.index) == (0, 1)
        assert (one.external_id, two.external_id) == ("G-55001", "G-55002")
        assert one.customer.id == two.customer.id == "GLOBEX"  # no N1*BY: the sender, ISA06
        assert one.currency == "EUR"  # no CUR: the channel's default
        assert one.ship_to.country == "DE"  # N404 "de"
        assert two.ship_to.country == "DE"  # no N404: the channel's default
        # 24.0 is a whole count; .5 is a price of 0.5; a blank PO101 numbers the line.
        assert lines_of(first) == [
            ("10", "BLUE-LAMP", 24, Decimal("3.25")),
            ("20", "TEA-LIGHT", 6, Decimal("0.5")),
        ]
        assert lines_of(second) == [("1", "OAK-TABLE", 2, Decimal("249"))]
        assert first.raw.startswith("ST*850*0001~") and first.raw.endswith("CTT*2~SE*9*0001~")

    def test_a_200_line_b2b_order(self) -> None:
        [result] = parse(sample("good-200-lines.edi"), CONTEXT)

        lines = lines_of(result)
        assert len(lines) == 200
        assert lines[0] == ("1", "PART-0001", 2, Decimal("1.01"))
        assert lines[199] == ("200", "PART-0200", 5, Decimal("200.00"))
        assert mapped(result).submission.customer.id == "INITECH"


class TestBadSamples:
    def test_a_wrong_se_count_refuses_that_set_only(self) -> None:
        wrong, right = parse(sample("bad-wrong-se-count.edi"), CONTEXT)

        assert refused(wrong) == {"ST*0001/SE01": "count_mismatch"}
        assert isinstance(wrong, Refused) and wrong.external_id == "PO-778812"
        assert mapped(right).submission.external_id == "PO-778813"

    def test_line_problems_are_named_by_segment_and_element(self) -> None:
        [result] = parse(sample("bad-lines-and-counts.edi"), CONTEXT)

        assert refused(result) == {
            "ST*0001/CTT01": "count_mismatch",
            "ST*0001/BEG05": "bad_timestamp",
            "ST*0001/PO1[1].PO102": "not_whole_number",
            "ST*0001/PO1[2].PO103": "unsupported",
            "ST*0001/PO1[3].PO107": "unknown_sku",
            "ST*0001/PO1[4].PO102": "not_whole_number",
            "ST*0001/PO1[4].PO104": "greater_than_equal",
        }

    def test_a_truncated_interchange_names_every_missing_trailer(self) -> None:
        [result] = parse(sample("bad-truncated.edi"), CONTEXT)

        assert refused(result) == {
            "ST*0001/SE": "malformed",
            "GS*908/GE": "malformed",
            "ISA*000000908/IEA": "malformed",
        }

    def test_xml_is_not_x12(self) -> None:
        with pytest.raises(UnparseablePayload, match="ISA"):
            parse(sample("bad-not-x12.edi"), CONTEXT)


class TestEnvelope:
    def test_other_separators_are_read_from_the_isa_header(self) -> None:
        [result] = parse(interchange(*MINIMAL, terminator="'", element="|"), CONTEXT)

        assert lines_of(result) == [("1", "RED-CHAIR", 2, Decimal("10.00"))]

    def test_newline_as_the_segment_terminator(self) -> None:
        [result] = parse(interchange(*MINIMAL, terminator="\n"), CONTEXT)

        assert mapped(result).submission.external_id == "PO-1"

    def test_se02_must_repeat_st02(self) -> None:
        raw = interchange(*MINIMAL).replace(b"SE*8*0001", b"SE*8*0002")

        [result] = parse(raw, CONTEXT)

        assert refused(result) == {"ST*0001/SE02": "control_number_mismatch"}

    def test_group_and_interchange_trailers_are_checked(self) -> None:
        raw = (
            interchange(*MINIMAL)
            .replace(b"GE*1*905", b"GE*2*906")
            .replace(b"IEA*1*000000905", b"IEA*1*000000999")
        )

        [result] = parse(raw, CONTEXT)

        assert refused(result) == {
            "GS*905/GE01": "count_mismatch",
            "GS*905/GE02": "control_number_mismatch",
            "ISA*000000905/IEA02": "control_number_mismatch",
        }

    def test_another_transaction_set_is_refused_as_unsupported(self) -> None:
        raw = interchange(*MINIMAL).replace(b"ST*850*0001", b"ST*855*0001")

        [result] = parse(raw, CONTEXT)

        assert refused(result) == {"ST*0001/ST01": "unsupported"}

    def test_a_change_order_is_not_a_new_order(self) -> None:
        raw = interchange(*MINIMAL).replace(b"BEG*00*", b"BEG*05*")

        [result] = parse(raw, CONTEXT)

        assert refused(result) == {"ST*0001/BEG01": "unsupported"}

    def test_missing_ship_to_address_segments_are_named(self) -> None:
        body = tuple(s for s in MINIMAL if not s.startswith(("N3", "N4")))

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/N1*ST/N3": "missing", "ST*0001/N1*ST/N4": "missing"}

    def test_an_interchange_without_sets_is_unparseable(self) -> None:
        raw = ISA + "GS*PO*A*B*20261120*0830*1*X*004010~GE*0*1~IEA*1*000000905~"

        with pytest.raises(UnparseablePayload, match="no transaction set"):
            parse(raw.encode(), CONTEXT)

    @pytest.mark.parametrize(
        "raw", [b"", b"ISA", b"ISA*00*", b"ISAA00A", ISA[:-3].encode(), b"ISA*" + b"*" * 20]
    )
    def test_a_broken_isa_header_is_unparseable(self, raw: bytes) -> None:
        with pytest.raises(UnparseablePayload):
            parse(raw, CONTEXT)


class TestUnsupportedShapes:
    def test_a_group_of_another_functional_id_is_refused(self) -> None:
        raw = interchange(*MINIMAL).replace(b"GS*PO*", b"GS*IN*")

        [result] = parse(raw, CONTEXT)

        assert refused(result) == {"GS*905/GS01": "unsupported"}

    def test_a_ship_to_per_line_is_refused(self) -> None:
        body = (
            *MINIMAL[:-1],
            "N1*ST*Other store",
            "N3*2 Main St",
            "N4*Springfield*IL*62702",
            "CTT*1",
        )

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/PO1[1]/N1*ST": "unsupported"}

    def test_two_header_ship_tos_are_refused(self) -> None:
        body = (MINIMAL[0], "N1*ST*Store 2", *MINIMAL[1:])

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/N1*ST": "duplicate"}

    def test_a_product_known_only_by_upc_needs_the_sku_map(self) -> None:
        body = tuple(
            s.replace("VP*RED-CHAIR", "UP*012345678905") if s.startswith("PO1") else s
            for s in MINIMAL
        )

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/PO1[1].PO107": "unknown_sku"}

    def test_a_second_beg_is_refused_and_the_first_one_counts(self) -> None:
        body = (*MINIMAL[:1], "BEG*00*SA*PO-2**20261121", *MINIMAL[1:])

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/BEG": "duplicate"}
        assert isinstance(result, Refused) and result.external_id == "PO-1"

    def test_text_that_is_no_segment_is_named_by_its_position(self) -> None:
        body = (*MINIMAL[:2], "hello there", *MINIMAL[2:])

        [result] = parse(interchange(*body), CONTEXT)

        assert refused(result) == {"ST*0001/segment 6": "malformed"}

    def test_the_promised_date_email_and_a_party_of_the_line_loop(self) -> None:
        body = (
            *MINIMAL[:1],
            "DTM*011*20261125",  # another date qualifier: not the promised date
            "DTM*002*20261127",
            "PER*BD*Jo Buyer*TE*555-0100*EM*jo@example.com",
            *MINIMAL[1:-1],
            "N1*BT*Billing party",  # a party of the PO1 loop: its N3 is not the ship-to's
            "N3*99 Other Rd",
            "CTT*1",
        )

        submission = mapped(parse(interchange(*body), CONTEXT)[0]).submission

        assert submission.promised_by == datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
        assert submission.customer.email == "jo@example.com"
        assert submission.ship_to.line1 == "1 Main St"
