"""The audit trail: one sentence per event type, and the contract run against each view."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.audit_trail import InMemoryAuditTrail, SqlAuditTrail
from projections.positions import save_positions
from projections.sqldb import SqlDatabase
from projections.summaries import MAX_LENGTH, generic, summarize
from schemas.envelope import Actor, EventEnvelope
from schemas.event_types import EventType
from tests.contracts.audit_trail_contract import (
    STREAM,
    AuditTrailContract,
    MakeView,
    all_envelopes,
    envelopes,
    full_order,
)
from tests.contracts.factories import NOW, named_cases, order_envelopes
from tests.support.event_catalogue import recordable_event_types
from tests.support.views import sqlite_views
from tests.unit.test_layering import ROOT, violations


def _env(type_: str, data: dict[str, Any], actor: str = "system:orderhub") -> EventEnvelope:
    return EventEnvelope(
        id="0b6d3e4a-0000-4000-8000-000000000001",
        source="/orderhub/orders",
        type=type_,
        subject="7d3f1c1e-0000-4000-8000-000000000000",
        time=NOW,
        sequence=3,
        correlationid="corr-1",
        causationid="cause-1",
        actor=Actor.parse(actor),
        schemaversion=1,
        data=data,
    )


# The first recorded event of each type, as the real aggregates and mapper make it.
_RECORDED: dict[str, EventEnvelope] = {}
for _recorded in all_envelopes():
    _RECORDED.setdefault(_recorded.type, _recorded)

# A hand-made event for types (or branches) the histories do not record.
_MADE = {
    "reroute_requested": _env(
        EventType.ORDER_REROUTE_REQUESTED,
        {"source_id": "wh-lyon", "reason": "source is late", "withdrawn": ["S1", "S2"]},
        "user:alice",
    ),
    "unroutable": _env(
        EventType.ORDER_ROUTED,
        {
            "policy_id": "default",
            "policy_version": 3,
            "decision": {"shipments": {}},
            "waiting_lines": [],
            "unroutable_reason": "no source ships to IS",
        },
    ),
    "routed_to_nothing": _env(
        EventType.ORDER_ROUTED,
        {"policy_id": "default", "policy_version": 1, "decision": None, "waiting_lines": []},
    ),
    "backordered_lines": _env(
        EventType.ORDER_ROUTED,
        {
            "policy_id": "vip",
            "policy_version": 2,
            "decision": {"shipments": {}},
            "waiting_lines": [
                {"line_id": "1", "sku": "RED-CHAIR", "quantity": 2},
                {"line_id": "2", "sku": "BLUE-LAMP", "quantity": 1},
            ],
        },
    ),
    "delivery_failed": _env(
        EventType.ORDER_SHIPMENT_PROGRESSED,
        {
            "shipment_id": "S1",
            "source_id": "wh-lyon",
            "state": "delivery_failed",
            "carrier": None,
            "tracking": None,
            "lines": [],
            "reason": "nobody home",
        },
    ),
    "written_off": _env(
        EventType.ORDER_RETURN_RECEIVED,
        {
            "rma_id": "RMA-2",
            "disposition": "write_off",
            "source_id": None,
            "lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}],
        },
    ),
    "express_promised": _env(
        EventType.ORDER_FULFILLMENT_REQUESTED,
        {
            "shipment_id": "S9",
            "source_id": "store-lille",
            "lines": [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1}],
            "delivery_method": "same_day",
            "promised_by": "2026-11-20T18:30:00+00:00",
        },
    ),
    "nothing_to_withdraw": _env(
        EventType.ORDER_CANCELLATION_REQUESTED,
        {"reason": "", "withdrawn": [], "withdrawn_from": {}},
    ),
    "source_key": _env(
        EventType.API_KEY_ISSUED,
        {"key_id": "key-8", "role": "source", "channel_id": None, "source_id": "wh-lyon"},
    ),
    "expiring_key": _env(
        EventType.API_KEY_ISSUED,
        {
            "key_id": "key-9",
            "role": "ops",
            "channel_id": None,
            "label": "night shift",
            "expires_at": "2026-12-31T00:00:00+00:00",
        },
    ),
    "rotated_with_grace": _env(
        EventType.API_KEY_ROTATED,
        {"secret_sha256": "ab" * 32, "previous_valid_until": "2026-11-21T09:00:00+00:00"},
    ),
    "rotated_now": _env(
        EventType.API_KEY_ROTATED, {"secret_sha256": "cd" * 32, "previous_valid_until": None}
    ),
    "bootstrap_revoked": _env(EventType.BOOTSTRAP_KEY_REVOKED, {"secret_sha256": "ef" * 32}),
    "inputs_recorded": _env(
        EventType.RECORDED_INPUTS_RECORDED, {"digest": "0123456789ab" + "c" * 52, "body": "{}"}
    ),
    "source_recorded": _env(
        EventType.RECORDED_SOURCE_RECORDED,
        {"digest": "ba9876543210" + "d" * 52, "definition": "{}"},
    ),
}


def _placed_with(**overrides: Any) -> EventEnvelope:
    return order_envelopes("WEB-3001", "placed", **overrides)[0]


# (case, event, the sentence). Every type the hub records has at least one row.
SENTENCES = [
    (
        "placed",
        _RECORDED[EventType.ORDER_PLACED],
        "Placed by channel web-shop as WEB-2001: 2 lines, 44.80 EUR, standard delivery to FR",
    ),
    (
        "placed express with a promise",
        _placed_with(delivery_method="express", promised_by="2026-11-22T12:00:00Z"),
        "Placed by channel web-shop as WEB-3001: 2 lines, 44.80 EUR, express delivery to FR, "
        "promised by 2026-11-22 12:00 UTC",
    ),
    ("accepted", _RECORDED[EventType.ORDER_ACCEPTED], "Accepted: passed the intake checks"),
    (
        "rejected",
        _RECORDED[EventType.ORDER_REJECTED],
        "Rejected at intake: placed_at: in the future",
    ),
    ("held", _RECORDED[EventType.ORDER_HELD], "Held by rule high_value: total over 1000 EUR"),
    (
        "hold_released",
        _RECORDED[EventType.ORDER_HOLD_RELEASED],
        "Hold released: customer verified by phone",
    ),
    (
        "routed",
        _RECORDED[EventType.ORDER_ROUTED],
        "Routed with policy default v1: wh-lyon ships 2 units; 1 line waits for BLUE-LAMP",
    ),
    (
        "routed unroutable",
        _MADE["unroutable"],
        "Routed with policy default v3: cannot be routed (no source ships to IS)",
    ),
    (
        "routed all backordered",
        _MADE["backordered_lines"],
        "Routed with policy vip v2: 2 lines wait for BLUE-LAMP, RED-CHAIR",
    ),
    (
        "routed nothing",
        _MADE["routed_to_nothing"],
        "Routed with policy default v1: nothing to ship",
    ),
    (
        "fulfillment_requested",
        _RECORDED[EventType.ORDER_FULFILLMENT_REQUESTED],
        "Shipment S1 requested from wh-lyon: 2 RED-CHAIR (standard delivery)",
    ),
    (
        "fulfillment_requested promised",
        _MADE["express_promised"],
        "Shipment S9 requested from store-lille: 1 RED-CHAIR "
        "(same day delivery, promised by 2026-11-20 18:30 UTC)",
    ),
    (
        "shipment_progressed",
        _RECORDED[EventType.ORDER_SHIPMENT_PROGRESSED],
        "Shipment S1 accepted by wh-lyon",
    ),
    (
        "shipment delivery failed",
        _MADE["delivery_failed"],
        "Shipment S1 delivery failed (reported by wh-lyon): nobody home",
    ),
    (
        "shipment_rejected",
        _RECORDED[EventType.ORDER_SHIPMENT_REJECTED],
        "Shipment S2 rejected by wh-paris: out of stock",
    ),
    (
        "shipment_cancelled",
        _RECORDED[EventType.ORDER_SHIPMENT_CANCELLED],
        "Shipment S3 cancelled: wh-lyon confirmed the withdrawal of 1 unit",
    ),
    (
        "cancellation_requested",
        _RECORDED[EventType.ORDER_CANCELLATION_REQUESTED],
        "Cancellation requested: customer changed their mind; withdrawing S3 from wh-lyon",
    ),
    (
        "cancellation with nothing to withdraw",
        _MADE["nothing_to_withdraw"],
        "Cancellation requested: no reason given; no shipment to withdraw",
    ),
    (
        "changed",
        _RECORDED[EventType.ORDER_CHANGED],
        "Changed to revision 2: 1 line, 59.70 EUR; withdrawing S4 from wh-lyon",
    ),
    (
        "invoice_issued",
        _RECORDED[EventType.ORDER_INVOICE_ISSUED],
        "Invoice INV-1 issued for shipment S1: 47.76 EUR (39.80 net + 7.96 tax at 20%)",
    ),
    (
        "payment_captured",
        _RECORDED[EventType.ORDER_PAYMENT_CAPTURED],
        "Payment of 47.76 EUR captured for invoice INV-1",
    ),
    (
        "return_requested",
        _RECORDED[EventType.ORDER_RETURN_REQUESTED],
        "Return RMA-1 authorised for 1 unit (line 1): arrived broken",
    ),
    (
        "return_received",
        _RECORDED[EventType.ORDER_RETURN_RECEIVED],
        "Return RMA-1 received: 1 unit restocked at wh-lyon",
    ),
    ("return written off", _MADE["written_off"], "Return RMA-2 received: 3 units written off"),
    ("refunded", _RECORDED[EventType.ORDER_REFUNDED], "Refunded 19.90 EUR: arrived broken"),
    (
        "reroute_requested",
        _MADE["reroute_requested"],
        "Reroute requested away from wh-lyon: source is late; withdrawing S1, S2",
    ),
    (
        "exception opened",
        _RECORDED[EventType.EXCEPTION_CASE_OPENED],
        "Jeopardy exception EXC-2001 opened",
    ),
    (
        "exception flagged",
        _RECORDED[EventType.EXCEPTION_CASE_FLAGGED],
        "Jeopardy raised (medium): promised by 2026-11-21 17:00 UTC",
    ),
    (
        "exception assigned",
        _RECORDED[EventType.EXCEPTION_CASE_ASSIGNED],
        "Jeopardy exception EXC-2001 assigned to alice",
    ),
    (
        "exception resolved",
        _RECORDED[EventType.EXCEPTION_CASE_RESOLVED],
        "Jeopardy exception EXC-2001 resolved: carrier confirmed the delivery date",
    ),
    (
        "stock registered",
        _RECORDED[EventType.STOCK_ITEM_REGISTERED],
        "Stock of RED-CHAIR at wh-lyon registered: 10 on hand, 1 kept as safety stock",
    ),
    (
        "stock counted",
        _RECORDED[EventType.STOCK_ITEM_COUNTED],
        "Stock of RED-CHAIR at wh-lyon counted: 8 on hand, safety stock 1 (cycle count)",
    ),
    (
        "stock adjusted",
        _RECORDED[EventType.STOCK_ITEM_ADJUSTED],
        "Stock of RED-CHAIR at wh-lyon adjusted by +5: goods received",
    ),
    (
        "stock reserved",
        _RECORDED[EventType.STOCK_ITEM_RESERVED],
        "2 RED-CHAIR reserved at wh-lyon (reservation order-1:S1:1)",
    ),
    (
        "stock consumed",
        _RECORDED[EventType.STOCK_ITEM_CONSUMED],
        "1 RED-CHAIR shipped from wh-lyon (reservation order-1:S1:1); 1 unshipped unit freed",
    ),
    (
        "stock released",
        _RECORDED[EventType.STOCK_ITEM_RELEASED],
        "1 RED-CHAIR released at wh-lyon (reservation order-2:S2:1): order cancelled",
    ),
    ("policy created", _RECORDED[EventType.POLICY_VERSIONS_CREATED], "Policy default created"),
    (
        "policy published",
        _RECORDED[EventType.POLICY_VERSIONS_PUBLISHED],
        "Policy version 1 published and made active (digest sha256:aaaa1111bbbb)",
    ),
    (
        "policy rolled back",
        _RECORDED[EventType.POLICY_VERSIONS_ROLLED_BACK],
        "Policy rolled back to version 1",
    ),
    (
        "source registered",
        _RECORDED[EventType.FULFILLMENT_SOURCE_REGISTERED],
        "Source wh-lyon registered: Lyon warehouse (warehouse in FR)",
    ),
    (
        "source redefined",
        _RECORDED[EventType.FULFILLMENT_SOURCE_REDEFINED],
        "Source wh-lyon redefined",
    ),
    (
        "source paused",
        _RECORDED[EventType.FULFILLMENT_SOURCE_PAUSED],
        "Source paused: stocktaking",
    ),
    (
        "source resumed",
        _RECORDED[EventType.FULFILLMENT_SOURCE_RESUMED],
        "Source resumed: it takes shipments again",
    ),
    (
        "channel registered",
        _RECORDED[EventType.CHANNEL_REGISTERED],
        "Channel web-shop registered: Web shop (web, canonical format)",
    ),
    ("channel redefined", _RECORDED[EventType.CHANNEL_REDEFINED], "Channel web-shop redefined"),
    (
        "api key issued",
        _RECORDED[EventType.API_KEY_ISSUED],
        "API key key-7 issued for role channel of channel web-shop: web-shop production",
    ),
    (
        "api key for a source",
        _MADE["source_key"],
        "API key key-8 issued for role source of source wh-lyon: no label",
    ),
    (
        "api key revoked",
        _RECORDED[EventType.API_KEY_REVOKED],
        "API key revoked: it no longer authenticates",
    ),
    (
        "api key that expires",
        _MADE["expiring_key"],
        "API key key-9 issued for role ops: night shift; it expires at 2026-12-31T00:00:00+00:00",
    ),
    (
        "api key rotated with a grace period",
        _MADE["rotated_with_grace"],
        "API key rotated: a new secret; the previous one works until 2026-11-21T09:00:00+00:00",
    ),
    (
        "api key rotated at once",
        _MADE["rotated_now"],
        "API key rotated: a new secret; the previous one no longer works",
    ),
    (
        "bootstrap key revoked",
        _MADE["bootstrap_revoked"],
        "Bootstrap admin key (ORDERHUB_ADMIN_API_KEY) revoked: that value no longer authenticates",
    ),
    (
        "decision inputs recorded",
        _MADE["inputs_recorded"],
        "Decision inputs recorded for re-runs (digest 0123456789ab...)",
    ),
    (
        "source definition recorded",
        _MADE["source_recorded"],
        "Source definition recorded for re-runs (digest ba9876543210...)",
    ),
    ("directory created", _RECORDED[EventType.DIRECTORY_CREATED], "Directory of sources created"),
    ("directory added", _RECORDED[EventType.DIRECTORY_ADDED], "wh-lyon added to the directory"),
    (
        "submission refused",
        _RECORDED[EventType.REJECTED_SUBMISSION_RECORDED],
        "Submission from channel web-shop refused (no order id, canonical): "
        "the payload is not valid JSON; 1 problem",
    ),
]


class TestSummaries:
    @pytest.mark.parametrize(("case", "env", "sentence"), **named_cases(SENTENCES))
    def test_an_event_reads_as_one_plain_sentence(
        self, case: str, env: EventEnvelope, sentence: str
    ) -> None:
        assert summarize(env) == sentence

    def test_the_types_are_found_by_looking_at_the_aggregates(self) -> None:
        types = recordable_event_types()

        assert {EventType.ORDER_PLACED, EventType.ORDER_HOLD_RELEASED} <= types
        assert {EventType.EXCEPTION_CASE_FLAGGED, EventType.STOCK_ITEM_CONSUMED} <= types
        assert "orderhub.order.created" not in types
        assert len(types) >= 40

    def test_every_event_an_aggregate_can_record_has_its_own_sentence(self) -> None:
        covered = {env.type for _, env, _ in SENTENCES}

        missing = recordable_event_types() - covered

        assert missing == set(), f"add a sentence (and a row in SENTENCES) for {sorted(missing)}"
        for _, env, _ in SENTENCES:
            assert summarize(env) != generic(env), env.type

    def test_the_histories_map_to_the_types_the_aggregates_declare(self) -> None:
        assert set(_RECORDED) <= recordable_event_types()

    def test_money_is_summed_exactly(self) -> None:
        lines = [
            {"line_id": str(i), "sku": "PIN", "quantity": 1, "unit_price": "0.10"} for i in range(3)
        ] + [{"line_id": "x", "sku": "CARD", "quantity": 7, "unit_price": "0.0001"}]

        assert "0.3007 EUR" in summarize(_placed_with(lines=lines))

    def test_an_unknown_type_is_recorded_in_general_words(self) -> None:
        env = _env("orderhub.x.y", {"anything": 1})

        assert summarize(env) == generic(env) == "Event orderhub.x.y recorded"

    @pytest.mark.parametrize("type_", sorted({env.type for _, env, _ in SENTENCES}))
    def test_a_known_type_without_its_fields_falls_back_without_raising(self, type_: str) -> None:
        summary = summarize(_env(type_, {}))

        assert summary.strip()
        assert "None" not in summary and "{" not in summary

    @given(
        data=st.dictionaries(
            st.sampled_from(
                [
                    "submission",
                    "lines",
                    "reasons",
                    "state",
                    "reason",
                    "decision",
                    "waiting_lines",
                    "withdrawn",
                    "withdrawn_from",
                    "tax_rate",
                    "promised_by",
                    "definition",
                    "kind",
                    "band",
                    "disposition",
                    "delta",
                    "freed",
                    "problems",
                    "shipment_id",
                    "source_id",
                ]
            ),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3)
                ),
                max_leaves=8,
            ),
        ),
        type_=st.sampled_from(sorted({env.type for _, env, _ in SENTENCES})),
    )
    def test_no_payload_makes_summarize_raise_or_write_two_lines(
        self, data: dict[str, Any], type_: str
    ) -> None:
        summary = summarize(_env(type_, data))

        assert summary.strip() and "\n" not in summary and len(summary) <= MAX_LENGTH

    def test_long_free_text_is_cut_to_one_readable_line(self) -> None:
        note = "line one\nline two\t" + "blah " * 200
        summary = summarize(_env(EventType.ORDER_HOLD_RELEASED, {"note": note}))

        assert summary.startswith("Hold released: line one line two blah")
        assert len(summary) == MAX_LENGTH and summary.endswith("…")

    def test_the_module_does_no_io(self) -> None:
        source = (ROOT / "projections" / "summaries.py").read_text(encoding="utf-8")

        assert violations(source) == []


class TestInMemoryAuditTrail(AuditTrailContract):
    @pytest.fixture
    def make_view(self) -> MakeView:
        return InMemoryAuditTrail


class TestSqliteAuditTrail(AuditTrailContract):
    @pytest.fixture
    def make_view(self, tmp_path: Path) -> Iterator[MakeView]:
        yield from sqlite_views(tmp_path, SqlAuditTrail)

    def test_entries_and_positions_survive_reopening_the_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/views.db"
        history = envelopes(full_order())
        first = SqlDatabase(url)
        SqlAuditTrail(first).apply(history, {STREAM: 13})
        expected = InMemoryAuditTrail()
        expected.apply(history, {STREAM: 13})
        first.close()

        second = SqlDatabase(url)
        try:
            reopened = SqlAuditTrail(second)
            assert reopened.trail(history[0].subject) == expected.trail(history[0].subject)
            assert reopened.positions() == {STREAM: 13}
        finally:
            second.close()

    def test_reset_leaves_the_other_followers_positions(self, tmp_path: Path) -> None:
        db = SqlDatabase(f"sqlite:///{tmp_path}/views.db")
        try:
            view = SqlAuditTrail(db)
            view.apply([], {STREAM: 5})
            with db.transaction() as cur:
                save_positions(cur, "order_status", {STREAM: 8})

            view.reset()

            with db.transaction() as cur:
                cur.execute("SELECT follower, position FROM orderhub_positions")
                assert cur.fetchall() == [("order_status", 8)]
        finally:
            db.close()
