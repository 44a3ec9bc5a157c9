"""Billing a batch of shipments at once: the same invoices and payments as one by one, none
twice when a batch comes again, none twice when another writer saves an order meanwhile; and a
source's update that ships invoicing in its own save, the same invoices billing's follower
issues, so that the follower reads nothing for them."""

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from benchmarks.projection_events import envelopes, record_history
from benchmarks.route_profile import NOW
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.support.uninvoiced import shipments_left_uninvoiced

BILLED = ("orderhub.order.invoice_issued", "orderhub.order.payment_captured")


def _hub(path: Path, inline: bool = False) -> Hub:
    path.mkdir()
    hub = bootstrap(Settings(data_dir=path), clock=lambda: NOW)
    if inline:
        record_history(hub, orders=30, sources=6, skus=40)
    else:
        with shipments_left_uninvoiced():
            record_history(hub, orders=30, sources=6, skus=40)
    return hub


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[tuple[Hub, Hub]]:
    one, other = _hub(tmp_path / "one"), _hub(tmp_path / "other")
    try:
        yield one, other
    finally:
        one.close()
        other.close()


def _shipped(hub: Hub) -> list[EventEnvelope]:
    return [e for e in envelopes(hub) if e.type == EventType.ORDER_SHIPMENT_PROGRESSED]


def _billed(hub: Hub, in_order: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
    """Every billing event: order, type and data, in the order they were recorded per order
    (or sorted within it too: two writers may record an order's invoices in either order)."""
    found = [(e.subject, e.type, e.data) for e in envelopes(hub) if e.type in BILLED]
    if in_order:
        return sorted(found, key=lambda row: row[0])
    return sorted(found, key=lambda row: (row[0], row[1], json.dumps(row[2], sort_keys=True)))


def _one_by_one(hub: Hub) -> None:
    """Billing as it ran before: each shipped shipment loaded, invoiced and saved alone."""
    for env in _shipped(hub):
        if env.data["state"] == "shipped":
            hub.fulfillment.invoice_shipment(UUID(env.subject), env.data["shipment_id"])


def test_batches_bill_as_one_by_one_did_and_a_redelivered_batch_bills_nothing(
    hubs: tuple[Hub, Hub],
) -> None:
    reference, batched = hubs
    _one_by_one(reference)
    events = list(envelopes(batched))
    for start in range(0, len(events), 7):
        batched.billing.apply(events[start : start + 7], {})
    expected = _billed(reference)
    assert _billed(batched) == expected
    invoices = [data for _, kind, data in expected if kind == BILLED[0]]
    assert len(invoices) == len({(d["shipment_id"]) for d in invoices}) >= 5
    for data in invoices:
        net = sum((Decimal(line["net"]) for line in data["lines"]), Decimal(0))
        assert Decimal(data["net_total"]) == net
        assert Decimal(data["gross_total"]) == net + Decimal(data["tax_total"])
        assert data["currency"]
    # At least once: the whole history again, in one batch and in batches, bills nothing.
    batched.billing.apply(events, {})
    assert (
        batched.fulfillment.invoice_shipments(
            (UUID(e.subject), e.data["shipment_id"]) for e in _shipped(batched)
        )
        == 0
    )
    assert _billed(batched) == expected


def test_an_order_saved_meanwhile_is_billed_once(
    hubs: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer invoices one of the batch's shipments between the batch's read and its
    save: the save fails whole, each shipment is billed again from fresh state, once."""
    reference, hub = hubs
    _one_by_one(reference)
    shipped = [
        (UUID(e.subject), str(e.data["shipment_id"]))
        for e in _shipped(hub)
        if e.data["state"] == "shipped"
    ]
    store, save = hub.store, hub.store.save
    raced: list[int] = []

    def racing_save(*objs: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(1)
            assert hub.fulfillment.invoice_shipment(*shipped[2])  # the other writer
        return save(*objs, **kwargs)

    monkeypatch.setattr(store, "save", racing_save)
    assert hub.fulfillment.invoice_shipments(shipped) == len(shipped) - 1
    assert raced
    assert _billed(hub, in_order=False) == _billed(reference, in_order=False)


def test_a_shipped_update_invoices_in_its_own_save_as_billing_did(
    tmp_path: Path, hubs: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same invoices and payments as billing's follower issued afterwards, each recorded
    right behind its shipment; given them, the follower reads no order and records nothing."""
    reference, _ = hubs
    _one_by_one(reference)
    inline = _hub(tmp_path / "inline", inline=True)
    try:
        assert _billed(inline) == _billed(reference)
        events = list(envelopes(inline))
        for n, env in enumerate(events):
            if env.type == EventType.ORDER_SHIPMENT_PROGRESSED and env.data["state"] == "shipped":
                behind = events[n + 1]
                assert (behind.type, behind.subject) == (BILLED[0], env.subject)
                assert behind.data["shipment_id"] == env.data["shipment_id"]
        reads: list[Any] = []
        get_many = inline.store.get_many
        monkeypatch.setattr(
            inline.store, "get_many", lambda *a, **k: reads.append(a) or get_many(*a, **k)
        )
        position = inline.store.max_position()
        inline.billing.apply(events, {})
        assert reads == []
        assert inline.store.max_position() == position
        # A batch cut between a shipment and its invoice reads the order and finds it billed.
        cut = next(n for n, e in enumerate(events) if e.type == BILLED[0])
        inline.billing.apply(events[:cut], {})
        assert reads
        assert inline.store.max_position() == position
    finally:
        inline.close()
