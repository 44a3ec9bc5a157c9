"""Embedded delivery: a follower that cannot handle an event never blocks what follows."""

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.embedded.delivery import SETTLE_ROUNDS, STREAM, InProcessDelivery
from hub.services.intake import IntakeService, SubmitOrder
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
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
        store,
        [follower],
        [],
        batch_size=100,
        park=lambda name, env, _: parked.append((name, env.id)),
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
    delivery = InProcessDelivery(store, [follower], [], batch_size=3)
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
    delivery = InProcessDelivery(store, [follower], [], batch_size=100)
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


class Gated(InMemoryOrderStatusView):
    """A slow follower: its passes wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise RuntimeError("the test never opened the gate")
        super().apply(envelopes, positions)


@pytest.mark.asyncio
async def test_requests_waiting_for_a_pass_leave_the_worker_threads_to_record_orders(
    tmp_path: Path,
) -> None:
    # More waiting requests than worker threads: the waits must not hold the threads that
    # record the orders, or under load each pass serves only as many orders as threads.
    store = _sqlite_store(tmp_path)
    follower = Gated()
    delivery = InProcessDelivery(store, [follower], [], batch_size=100)
    pool = ThreadPoolExecutor(max_workers=2)
    asyncio.get_running_loop().set_default_executor(pool)
    delivery.start()
    recorded: list[str] = []

    async def record_then_wait(n: int) -> str:
        (order_id,) = await asyncio.to_thread(_orders, store, f"WEB-A{n}")
        recorded.append(order_id)
        await delivery.delivered(wait=30)
        return order_id

    try:
        first = asyncio.create_task(record_then_wait(0))
        assert await asyncio.to_thread(follower.entered.wait, 10), "a pass runs, held"
        callers = []
        for n in range(1, 9):  # each comes once the one before is waiting
            callers.append(asyncio.create_task(record_then_wait(n)))
            async with asyncio.timeout(10):
                while len(recorded) <= n:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.02)
        assert not first.done(), "its pass has not finished"

        follower.gate.set()
        order_ids = await asyncio.gather(first, *callers)

        assert all(follower.get(order_id) is not None for order_id in order_ids)
    finally:
        follower.gate.set()
        delivery.stop()
        pool.shutdown()


@pytest.mark.asyncio
async def test_an_async_caller_gets_its_pass_error_and_a_caller_that_stops_waiting_gets_none(
    tmp_path: Path,
) -> None:
    store = _sqlite_store(tmp_path)
    (order_id,) = _orders(store, "WEB-E1")
    unreadable = Unreadable(times=1)
    delivery = InProcessDelivery(store, [unreadable], [], batch_size=100)
    delivery.start()
    try:
        with pytest.raises(RuntimeError, match="database is locked"):
            await delivery.delivered(wait=30)
        await delivery.delivered(wait=30)
        assert unreadable.get(order_id) is not None
    finally:
        delivery.stop()

    gated = Gated()
    delivery = InProcessDelivery(store, [gated], [], batch_size=100)
    delivery.start()
    try:
        await delivery.delivered(wait=0.2)  # answered; the pass goes on in the background
        assert gated.get(order_id) is None
        gated.gate.set()
        await delivery.delivered(wait=30)
        assert gated.get(order_id) is not None
    finally:
        gated.gate.set()
        delivery.stop()


# -- two lanes -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_caller_waiting_for_the_views_is_not_held_by_a_blocked_work_lane(
    tmp_path: Path,
) -> None:
    store = _sqlite_store(tmp_path)
    view, routing = InMemoryOrderStatusView(), Gated()
    delivery = InProcessDelivery(store, [view], [routing], batch_size=100)
    delivery.start()
    try:
        (order_id,) = await asyncio.to_thread(_orders, store, "WEB-L1")

        await delivery.seen_by_views(wait=30)

        assert view.get(order_id) is not None, "the read model has it"
        assert await asyncio.to_thread(routing.entered.wait, 10), "the work lane was woken"
        assert routing.get(order_id) is None, "and is still held"
        await delivery.delivered(wait=0.2)  # everything: answered when the wait is over
        assert routing.get(order_id) is None
        routing.gate.set()
        await delivery.delivered(wait=30)
        assert routing.get(order_id) is not None
    finally:
        routing.gate.set()
        delivery.stop()


def test_each_lane_keeps_its_own_positions(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path)
    view, routing = InMemoryOrderStatusView(), InMemoryOrderStatusView()
    delivery = InProcessDelivery(store, [view], [routing], batch_size=2)
    _orders(store, "WEB-P1", "WEB-P2")

    assert delivery.views.catch_up() == store.max_position()

    assert view.positions()[STREAM] == store.max_position()
    assert routing.positions() == {}, "the work lane has not moved"
    assert delivery.catch_up() == store.max_position(), "it starts from its own position"
    assert routing.positions()[STREAM] == store.max_position()
    assert delivery.catch_up() == 0


class Recording(InMemoryOrderStatusView):
    """A follower that records an order for each order it sees accepted (as routing records
    a decision), but not for the ones it recorded itself."""

    def __init__(self, store: OrderStore) -> None:
        super().__init__()
        self.store = store
        self.recorded: set[str] = set()

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        for env in envelopes:
            if env.type == EventType.ORDER_ACCEPTED and env.subject not in self.recorded:
                self.recorded.update(_orders(self.store, f"R-{len(self.recorded)}"))
        super().apply(envelopes, positions)


def test_what_the_work_lane_records_reaches_the_views_when_everything_is_delivered(
    tmp_path: Path,
) -> None:
    store = _sqlite_store(tmp_path)
    view, recording = InMemoryOrderStatusView(), Recording(store)
    delivery = InProcessDelivery(store, [view], [recording], batch_size=100)
    delivery.start()
    try:
        (order_id,) = _orders(store, "WEB-R1")
        delivery.deliver(wait=30)

        assert view.get(order_id) is not None
        (led_to,) = recording.recorded
        assert view.get(led_to) is not None, "and what it led to"
        assert view.positions()[STREAM] == store.max_position()
    finally:
        delivery.stop()


@pytest.mark.parametrize("poisoned", ["views", "work"])
def test_a_parked_event_in_one_lane_does_not_stop_the_other(tmp_path: Path, poisoned: str) -> None:
    store = _sqlite_store(tmp_path)
    good, bad, later = _orders(store, "WEB-X1", "WEB-X2", "WEB-X3")
    choosy, healthy = Choosy(refuses=bad), InMemoryOrderStatusView()
    lanes = ([choosy], [healthy]) if poisoned == "views" else ([healthy], [choosy])
    parked: list[str] = []
    delivery = InProcessDelivery(
        store, *lanes, batch_size=100, park=lambda name, env, _: parked.append(env.subject)
    )
    delivery.start()
    try:
        delivery.deliver(wait=30)
    finally:
        delivery.stop()

    assert parked == [bad, bad]
    assert all(healthy.get(o) is not None for o in (good, bad, later))
    assert choosy.get(good) is not None and choosy.get(later) is not None
    assert choosy.positions()[STREAM] == healthy.positions()[STREAM] == store.max_position()


def test_a_caller_is_answered_in_a_few_passes_while_orders_keep_coming(tmp_path: Path) -> None:
    # Under a steady stream of captures something is always recorded between the two lanes'
    # passes: the caller was held for the whole wait (30 s), then answered "not settled".
    store = _sqlite_store(tmp_path)
    follower = InMemoryOrderStatusView()
    # The work lane records on what it sees, as routing does: its records land after it.
    delivery = InProcessDelivery(store, [follower], [Recording(store)], batch_size=50)
    asked = []
    request = delivery.work.request
    delivery.work.request = lambda on_served: (asked.append(1), request(on_served))  # type: ignore[method-assign]
    delivery.start()
    stop = threading.Event()

    def keep_capturing() -> None:
        n = 0
        while not stop.is_set():
            _orders(store, f"WEB-S{n}")
            n += 1
            time.sleep(0.002)

    stream = threading.Thread(target=keep_capturing)
    stream.start()
    try:
        time.sleep(0.3)
        (order_id,) = _orders(store, "WEB-MINE")
        asked.clear()
        delivery.deliver(wait=60)
        assert len(asked) <= SETTLE_ROUNDS, "a bounded number of passes, not the whole wait"
        assert follower.get(order_id) is not None, "the command itself is delivered"
        # The API's way, on the event loop: the same bound.
        (order_id,) = _orders(store, "WEB-MINE-2")
        asked.clear()
        asyncio.run(delivery.delivered(wait=60))
        assert len(asked) <= SETTLE_ROUNDS
        assert follower.get(order_id) is not None
        stop.set()
        stream.join(timeout=30)
        # At rest again, a caller is answered settled.
        assert delivery.deliver(wait=30)
    finally:
        stop.set()
        stream.join(timeout=30)
        delivery.stop()
