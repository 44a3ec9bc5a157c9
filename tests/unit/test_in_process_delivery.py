"""Embedded delivery: a follower that cannot handle an event never blocks what follows."""

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.delivery import STREAM, InProcessDelivery
from hub.services.intake import IntakeService, SubmitOrder
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.envelope import EventEnvelope
from schemas.submission import OrderSubmission
from tests.contracts.factories import fixed_clock, submission_dict


class Choosy(InMemoryOrderStatusView):
    """A read model with a bug: it cannot take one particular order."""

    name = "choosy"

    def __init__(self, refuses: str) -> None:
        super().__init__()
        self.refuses = refuses

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        if any(env.subject == self.refuses for env in envelopes):
            raise RuntimeError("boom")
        super().apply(envelopes, positions)


def _orders(store: OrderStore, *external_ids: str) -> list[str]:
    intake = IntakeService(store, fixed_clock())
    commands = []
    for external_id in external_ids:
        submission = OrderSubmission.model_validate(submission_dict(external_id=external_id))
        commands.append(SubmitOrder(submission, submission.model_dump_json(), "channel:web", "c"))
    return [str(r.order_id) for r in intake.place_orders(commands)]


def test_an_event_a_follower_cannot_handle_is_parked_and_the_rest_are_delivered(
    tmp_path: Path,
) -> None:
    store = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )
    good, bad, later = _orders(store, "WEB-1", "WEB-2", "WEB-3")
    follower = Choosy(refuses=bad)
    parked: list[tuple[str, str]] = []
    delivery = InProcessDelivery(
        store, [follower], batch_size=100, park=lambda name, env, _: parked.append((name, env.id))
    )

    delivery.catch_up()

    assert follower.get(good) is not None and follower.get(later) is not None
    assert follower.get(bad) is None
    assert [name for name, _ in parked] == ["choosy", "choosy"], "its Placed and its Accepted"
    assert follower.positions()[STREAM] == store.max_position(), "moved past the bad ones"
    assert delivery.catch_up() == 0, "nothing is retried for ever"


def _sqlite_store(tmp_path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )


def test_callers_of_the_delivery_thread_each_see_what_they_recorded(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path)
    follower = InMemoryOrderStatusView()
    delivery = InProcessDelivery(store, [follower], batch_size=3)
    delivery.start()
    seen: dict[str, bool] = {}

    def record_then_deliver(n: int) -> None:
        (order_id,) = _orders(store, f"WEB-T{n}")
        delivery.deliver(wait=30)
        seen[order_id] = follower.get(order_id) is not None

    callers = [threading.Thread(target=record_then_deliver, args=(n,)) for n in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    delivery.stop()

    assert len(seen) == 8 and all(seen.values())
    assert follower.positions()[STREAM] == store.max_position()


class Unreadable(InMemoryOrderStatusView):
    """A follower whose position cannot be read, the first `times` times."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def positions(self) -> dict[str, int]:
        if self.times:
            self.times -= 1
            raise RuntimeError("database is locked")
        return super().positions()


def test_a_failed_pass_is_reported_to_its_caller_and_the_next_one_delivers(
    tmp_path: Path,
) -> None:
    store = _sqlite_store(tmp_path)
    (order_id,) = _orders(store, "WEB-F1")
    follower = Unreadable(times=1)
    delivery = InProcessDelivery(store, [follower], batch_size=100)
    delivery.start()
    try:
        with pytest.raises(RuntimeError, match="database is locked"):
            delivery.deliver(wait=30)
        assert follower.get(order_id) is None

        delivery.deliver(wait=30)

        assert follower.get(order_id) is not None
    finally:
        delivery.stop()
    # Stopped and started again (an app restarted around the same hub), it still delivers.
    (later,) = _orders(store, "WEB-F2")
    delivery.start()
    delivery.deliver(wait=30)
    delivery.stop()
    assert follower.get(later) is not None
