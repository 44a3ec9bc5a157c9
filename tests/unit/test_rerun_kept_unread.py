"""What a running server keeps for re-runs is left out of the collector's work: an order's
kept decisions hold their stored events, their records decoded again only when read (and
then equal to a fresh read); a served process freezes what it loaded at its start."""

import dataclasses
import gc

import pytest

from hub.api import app as api_app
from hub.services import decisions, rerun
from hub.services.decisions import forget_orders, order_decisions
from tests.unit.test_rerun_orders_kept import _routed, _store


def _decoded(record: object) -> bool:
    try:
        object.__getattribute__(record, "_plain")
    except AttributeError:
        return False
    return True


def test_kept_decisions_hold_their_events_and_read_back_equal_to_a_fresh_read() -> None:
    forget_orders()
    store = _store()
    order = _routed(store, routes=2)
    first = order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)
    kept = decisions._KEPT[store][order.id][1].decisions

    assert first is not None and all(_decoded(d.decision) for d in first.decisions)
    assert not any(_decoded(d.decision) for d in kept)  # left in their stored events
    again = order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)
    assert again is not None
    assert [d.decision_digest for d in again.decisions] == ["0" * 64, "1" * 64]
    assert not any(_decoded(d.decision) for d in kept)  # a digest read decodes nothing

    fresh = order_decisions(store, order.id, inputs_recorded=False)  # read from the events
    assert fresh is not None
    for was, now in zip(fresh.decisions, again.decisions, strict=True):
        assert now.decision.plain() == was.decision.plain()
        assert now.decision.shipments == was.decision.shipments
        assert now.decision.policy == was.decision.policy
        assert now.decision == was.decision
        assert now == dataclasses.replace(was, explanation=None)  # a re-run reads no text
    assert all(_decoded(d.decision) for d in kept)


def test_a_kept_record_still_refuses_to_change() -> None:
    forget_orders()
    store = _store()
    order = _routed(store)
    order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)
    kept = decisions._KEPT[store][order.id][1].decisions[0].decision

    with pytest.raises(AttributeError):
        kept.no_such_part  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):  # frozen: FrozenInstanceError
        kept.order_id = "x"


def test_a_served_process_freezes_what_it_loaded_at_its_start() -> None:
    assert gc.get_freeze_count() == 0
    rerun.warm_in_background().join(timeout=60)
    assert gc.get_freeze_count() == 0  # not asked to (a test's app, many per process)
    try:
        rerun.warm_in_background(freeze=True).join(timeout=60)
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()  # the collector still runs, on what comes after
    finally:
        gc.unfreeze()


def test_only_the_served_app_asks_for_the_freeze() -> None:
    assert api_app.app_from_environment().state.freeze_at_start is True
    assert getattr(api_app.create_app().state, "freeze_at_start", False) is False


def test_what_is_kept_does_not_hold_its_store() -> None:
    forget_orders()
    store = _store()
    order = _routed(store)
    order_decisions(store, order.id, inputs_recorded=False, for_rerun=True)
    assert len(decisions._KEPT) == 1
    del store
    gc.collect()
    assert len(decisions._KEPT) == 0  # per store, weakly: dropped with it
