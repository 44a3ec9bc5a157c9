"""A re-run's reading of an order's decisions is kept, per store, while the order has no new
event: read again, its decisions are the same without their events read; an event appended
since (a re-route ...) is read; bounded, least recently read first."""

from typing import Any
from uuid import UUID, uuid4

import pytest

from hub.services import decisions
from hub.services.decisions import forget_orders, order_decisions
from hub.store import OrderStore
from tests.unit.test_decision_history import BOT, at, placed_order
from tests.unit.test_decision_history import _route as route


def _store() -> OrderStore:
    return OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _routed(store: OrderStore, routes: int = 1, external_id: str = "WEB-1001") -> Any:
    order = placed_order(external_id)
    order.accept(BOT, at(0))
    for minute in range(routes):
        route(order, minute + 1, decision_digest=f"{minute}" * 64)
    store.save(order)
    return order


def _reads(store: OrderStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[UUID, bool]]:
    """From now on: each read of the store's events (id, whether only the last one)."""
    asked: list[tuple[UUID, bool]] = []
    recorder = store.events.recorder
    real = recorder.select_events

    def counted(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
        asked.append((originator_id, kwargs.get("limit") == 1))
        return real(originator_id, *args, **kwargs)

    monkeypatch.setattr(recorder, "select_events", counted)
    return asked


def _rerun_read(store: OrderStore, order_id: UUID) -> Any:
    return order_decisions(store, order_id, inputs_recorded=False, for_rerun=True)


def test_decisions_read_again_are_the_same_after_only_the_last_event_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_orders()
    store = _store()
    order = _routed(store, routes=2)
    first = _rerun_read(store, order.id)
    asked = _reads(store, monkeypatch)
    again = _rerun_read(store, order.id)

    assert first is not None and again is not None and len(again.decisions) == 2
    assert again == first and asked == [(order.id, True)]  # the order's version, no more
    assert again.decisions is not first.decisions  # the caller's own list
    again.decisions.clear()
    assert len(_rerun_read(store, order.id).decisions) == 2  # what is kept stays as read
    # The decision history (with its text) is read from the events every time.
    assert order_decisions(store, order.id).decisions[0].explanation is not None


def test_an_event_appended_since_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_orders()
    store = _store()
    order = _routed(store)
    assert [d.decision_digest for d in _rerun_read(store, order.id).decisions] == ["0" * 64]
    route(order, 5, decision_digest="9" * 64)  # re-routed since
    store.save(order)
    asked = _reads(store, monkeypatch)

    found = _rerun_read(store, order.id)

    assert [d.decision_digest for d in found.decisions] == ["0" * 64, "9" * 64]
    assert (order.id, False) in asked  # all its events read again


def test_kept_per_store_unknown_orders_not_kept_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_orders()
    store, other = _store(), _store()
    order = _routed(store)
    assert _rerun_read(store, order.id) is not None
    assert _rerun_read(other, order.id) is None  # not an order of that store
    assert _rerun_read(store, uuid4()) is None

    monkeypatch.setattr(decisions, "KNOWN_ORDERS", 2)
    later = [_routed(store, external_id="WEB-2"), _routed(store, external_id="WEB-3")]
    for one in later:
        _rerun_read(store, one.id)
    asked = _reads(store, monkeypatch)
    _rerun_read(store, later[0].id)  # kept: the two last read
    _rerun_read(store, order.id)  # dropped, the least recently read: read again, at once
    assert asked == [(later[0].id, True), (order.id, False)]


def test_an_order_not_kept_is_read_in_one_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first re-run of an order asks for its events once (not for its last one first); the
    next one only for its last event."""
    forget_orders()
    store = _store()
    order = _routed(store, routes=2)
    asked = _reads(store, monkeypatch)

    first = _rerun_read(store, order.id)
    again = _rerun_read(store, order.id)

    assert first is not None and again == first and len(first.decisions) == 2
    assert asked == [(order.id, False), (order.id, True)]
    assert _rerun_read(store, uuid4()) is None  # an unknown order: one query says so
