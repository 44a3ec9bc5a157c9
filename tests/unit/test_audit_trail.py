"""The audit trail: one sentence per event type, and the contract run against each view."""

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, DomainEvent
from hypothesis import given
from hypothesis import strategies as st

import aggregates
from projections.audit_trail import InMemoryAuditTrail, SqlAuditTrail
from projections.positions import save_positions
from projections.sqldb import SqlDatabase
from projections.summaries import MAX_LENGTH, generic, summarize
from schemas.envelope import Actor, EventEnvelope
from tests.contracts.audit_trail_contract import (
    STREAM,
    AuditTrailContract,
    MakeView,
    all_envelopes,
    envelopes,
    full_order,
)
from tests.contracts.factories import NOW, named_cases, order_envelopes
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
        "orderhub.order.reroute_requested",
        {"source_id": "wh-lyon", "reason": "source is late", "withdrawn": ["S1", "S2"]},
        "user:alice",
    ),
    "unroutable": _env(
        "orderhub.order.routed",
        {
            "policy_id": "default",
            "policy_version": 3,
            "decision": {"shipments": {}},
            "waiting_lines": [],
            "unroutable_reason": "no source ships to IS",
        },
    ),
    "routed_to_nothing": _env(
        "orderhub.order.routed",
        {"policy_id": "default", "policy_version": 1, "decision": None, "waiting_lines": []},
    ),
    "backordered_lines": _env(
        "orderhub.order.routed",
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
        "orderhub.order.shipment_progressed",
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
        "orderhub.order.return_received",
        {
            "rma_id": "RMA-2",
            "disposition": "write_off",
            "source_id": None,
            "lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}],
        },
    ),
    "express_promised": _env(
        "orderhub.order.fulfillment_requested",
        {
            "shipment_id": "S9",
            "source_id": "store-lille",
            "lines": [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1}],
            "delivery_method": "same_day",
            "promised_by": "2026-11-20T18:30:00+00:00",
        },
    ),
    "nothing_to_withdraw": _env(
        "orderhub.order.cancellation_requested",
        {"reason": "", "withdrawn": [], "withdrawn_from": {}},
    ),
    "source_key": _env(
        "orderhub.api_key.issued",
        {"key_id": "key-8", "role": "source", "channel_id": None, "source_id": "wh-lyon"},
    ),
    "expiring_key": _env(
        "orderhub.api_key.issued",
        {
            "key_id": "key-9",
            "role": "ops",
            "channel_id": None,
            "label": "night shift",
            "expires_at": "2026-12-31T00:00:00+00:00",
        },
    ),
    "rotated_with_grace": _env(
        "orderhub.api_key.rotated",
        {"secret_sha256": "ab" * 32, "previous_valid_until": "2026-11-21T09:00:00+00:00"},
    ),
    "rotated_now": _env(
        "orderhub.api_key.rotated", {"secret_sha256": "cd" * 32, "previous_valid_until": None}
    ),
    "bootstrap_revoked": _env("orderhub.bootstrap_key.revoked", {"secret_sha256": "ef" * 32}),
    "inputs_recorded": _env(
        "orderhub.recorded_inputs.recorded", {"digest": "0123456789ab" + "c" * 52, "body": "{}"}
    ),
    "source_recorded": _env(
        "orderhub.recorded_source.recorded",
        {"digest": "ba9876543210" + "d" * 52, "definition": "{}"},
    ),
}


def _placed_with(**overrides: Any) -> EventEnvelope:
    return order_envelopes("WEB-3001", "placed", **overrides)[0]


# (case, event, the sentence). Every type the hub records has at least one row.
SENTENCES = [
    (
        "placed",
        _RECORDED["orderhub.order.placed"],
        "Placed by channel web-shop as WEB-2001: 2 lines, 44.80 EUR, standard delivery to FR",
    ),
    (
        "placed express with a promise",
        _placed_with(delivery_method="express", promised_by="2026-11-22T12:00:00Z"),
        "Placed by channel web-shop as WEB-3001: 2 lines, 44.80 EUR, express delivery to FR, "
        "promised by 2026-11-22 12:00 UTC",
    ),
    ("accepted", _RECORDED["orderhub.order.accepted"], "Accepted: passed the intake checks"),
    (
        "rejected",
        _RECORDED["orderhub.order.rejected"],
        "Rejected at intake: placed_at: in the future",
    ),
    ("held", _RECORDED["orderhub.order.held"], "Held by rule high_value: total over 1000 EUR"),
    (
        "hold_released",
        _RECORDED["orderhub.order.hold_released"],
        "Hold released: customer verified by phone",
    ),
    (
        "routed",
        _RECORDED["orderhub.order.routed"],
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
        _RECORDED["orderhub.order.fulfillment_requested"],
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
        _RECORDED["orderhub.order.shipment_progressed"],
        "Shipment S1 accepted by wh-lyon",
    ),
    (
        "shipment delivery failed",
        _MADE["delivery_failed"],
        "Shipment S1 delivery failed (reported by wh-lyon): nobody home",
    ),
    (
        "shipment_rejected",
        _RECORDED["orderhub.order.shipment_rejected"],
        "Shipment S2 rejected by wh-paris: out of stock",
    ),
    (
        "shipment_cancelled",
        _RECORDED["orderhub.order.shipment_cancelled"],
        "Shipment S3 cancelled: wh-lyon confirmed the withdrawal of 1 unit",
    ),
    (
        "cancellation_requested",
        _RECORDED["orderhub.order.cancellation_requested"],
        "Cancellation requested: customer changed their mind; withdrawing S3 from wh-lyon",
    ),
    (
        "cancellation with nothing to withdraw",
        _MADE["nothing_to_withdraw"],
        "Cancellation requested: no reason given; no shipment to withdraw",
    ),
    (
        "changed",
        _RECORDED["orderhub.order.changed"],
        "Changed to revision 2: 1 line, 59.70 EUR; withdrawing S4 from wh-lyon",
    ),
    (
        "invoice_issued",
        _RECORDED["orderhub.order.invoice_issued"],
        "Invoice INV-1 issued for shipment S1: 47.76 EUR (39.80 net + 7.96 tax at 20%)",
    ),
    (
        "payment_captured",
        _RECORDED["orderhub.order.payment_captured"],
        "Payment of 47.76 EUR captured for invoice INV-1",
    ),
    (
        "return_requested",
        _RECORDED["orderhub.order.return_requested"],
        "Return RMA-1 authorised for 1 unit (line 1): arrived broken",
    ),
    (
        "return_received",
        _RECORDED["orderhub.order.return_received"],
        "Return RMA-1 received: 1 unit restocked at wh-lyon",
    ),
    ("return written off", _MADE["written_off"], "Return RMA-2 received: 3 units written off"),
    ("refunded", _RECORDED["orderhub.order.refunded"], "Refunded 19.90 EUR: arrived broken"),
    (
        "reroute_requested",
        _MADE["reroute_requested"],
        "Reroute requested away from wh-lyon: source is late; withdrawing S1, S2",
    ),
    (
        "exception opened",
        _RECORDED["orderhub.exception_case.opened"],
        "Jeopardy exception EXC-2001 opened",
    ),
    (
        "exception flagged",
        _RECORDED["orderhub.exception_case.flagged"],
        "Jeopardy raised (medium): promised by 2026-11-21 17:00 UTC",
    ),
    (
        "exception assigned",
        _RECORDED["orderhub.exception_case.assigned"],
        "Jeopardy exception EXC-2001 assigned to alice",
    ),
    (
        "exception resolved",
        _RECORDED["orderhub.exception_case.resolved"],
        "Jeopardy exception EXC-2001 resolved: carrier confirmed the delivery date",
    ),
    (
        "stock registered",
        _RECORDED["orderhub.stock_item.registered"],
        "Stock of RED-CHAIR at wh-lyon registered: 10 on hand, 1 kept as safety stock",
    ),
    (
        "stock counted",
        _RECORDED["orderhub.stock_item.counted"],
        "Stock of RED-CHAIR at wh-lyon counted: 8 on hand, safety stock 1 (cycle count)",
    ),
    (
        "stock adjusted",
        _RECORDED["orderhub.stock_item.adjusted"],
        "Stock of RED-CHAIR at wh-lyon adjusted by +5: goods received",
    ),
    (
        "stock reserved",
        _RECORDED["orderhub.stock_item.reserved"],
        "2 RED-CHAIR reserved at wh-lyon (reservation order-1:S1:1)",
    ),
    (
        "stock consumed",
        _RECORDED["orderhub.stock_item.consumed"],
        "1 RED-CHAIR shipped from wh-lyon (reservation order-1:S1:1); 1 unshipped unit freed",
    ),
    (
        "stock released",
        _RECORDED["orderhub.stock_item.released"],
        "1 RED-CHAIR released at wh-lyon (reservation order-2:S2:1): order cancelled",
    ),
    ("policy created", _RECORDED["orderhub.policy_versions.created"], "Policy default created"),
    (
        "policy published",
        _RECORDED["orderhub.policy_versions.published"],
        "Policy version 1 published and made active (digest sha256:aaaa1111bbbb)",
    ),
    (
        "policy rolled back",
        _RECORDED["orderhub.policy_versions.rolled_back"],
        "Policy rolled back to version 1",
    ),
    (
        "source registered",
        _RECORDED["orderhub.fulfillment_source.registered"],
        "Source wh-lyon registered: Lyon warehouse (warehouse in FR)",
    ),
    (
        "source redefined",
        _RECORDED["orderhub.fulfillment_source.redefined"],
        "Source wh-lyon redefined",
    ),
    (
        "source paused",
        _RECORDED["orderhub.fulfillment_source.paused"],
        "Source paused: stocktaking",
    ),
    (
        "source resumed",
        _RECORDED["orderhub.fulfillment_source.resumed"],
        "Source resumed: it takes shipments again",
    ),
    (
        "channel registered",
        _RECORDED["orderhub.channel.registered"],
        "Channel web-shop registered: Web shop (web, canonical format)",
    ),
    ("channel redefined", _RECORDED["orderhub.channel.redefined"], "Channel web-shop redefined"),
    (
        "api key issued",
        _RECORDED["orderhub.api_key.issued"],
        "API key key-7 issued for role channel of channel web-shop: web-shop production",
    ),
    (
        "api key for a source",
        _MADE["source_key"],
        "API key key-8 issued for role source of source wh-lyon: no label",
    ),
    (
        "api key revoked",
        _RECORDED["orderhub.api_key.revoked"],
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
    ("directory created", _RECORDED["orderhub.directory.created"], "Directory of sources created"),
    ("directory added", _RECORDED["orderhub.directory.added"], "wh-lyon added to the directory"),
    (
        "submission refused",
        _RECORDED["orderhub.rejected_submission.recorded"],
        "Submission from channel web-shop refused (no order id, canonical): "
        "the payload is not valid JSON; 1 problem",
    ),
]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def recordable_event_types() -> set[str]:
    """The public type of every @event of every aggregate in aggregates/, found by looking."""
    found = set()
    for module_info in pkgutil.iter_modules(aggregates.__path__):
        module = importlib.import_module(f"aggregates.{module_info.name}")
        for aggregate in vars(module).values():
            if not (inspect.isclass(aggregate) and issubclass(aggregate, Aggregate)):
                continue
            if aggregate.__module__ != module.__name__:
                continue
            for name, event_class in vars(aggregate).items():
                if not (inspect.isclass(event_class) and issubclass(event_class, DomainEvent)):
                    continue
                # "Event" is the base class; "Created" is a default nobody records unless an
                # @event("Created") gave it fields.
                if name == "Event" or (name == "Created" and not event_class.__annotations__):
                    continue
                found.add(f"orderhub.{_snake(aggregate.__name__)}.{_snake(name)}")
    return found


class TestSummaries:
    @pytest.mark.parametrize(("case", "env", "sentence"), **named_cases(SENTENCES))
    def test_an_event_reads_as_one_plain_sentence(
        self, case: str, env: EventEnvelope, sentence: str
    ) -> None:
        assert summarize(env) == sentence

    def test_the_types_are_found_by_looking_at_the_aggregates(self) -> None:
        types = recordable_event_types()

        assert {"orderhub.order.placed", "orderhub.order.hold_released"} <= types
        assert {"orderhub.exception_case.flagged", "orderhub.stock_item.consumed"} <= types
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
        summary = summarize(_env("orderhub.order.hold_released", {"note": note}))

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
        numbers = count()
        opened: list[SqlDatabase] = []

        def make() -> SqlAuditTrail:
            db = SqlDatabase(f"sqlite:///{tmp_path}/views-{next(numbers)}.db")
            opened.append(db)
            return SqlAuditTrail(db)

        yield make
        for db in opened:
            db.close()

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
