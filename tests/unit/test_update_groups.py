"""Sources' updates over REST that come together are applied together: one read of their
orders, one save, each request answered for itself; a group that fails is applied one update
at a time, so that a poison update fails alone."""

import asyncio
import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from hub.group_commit import GroupCommit
from hub.services.fulfillment_batch import UpdateResult
from hub.services.fulfillment_updates import Parked, grouped_updates
from hub.services.intake import IntakeService
from tests.contracts.factories import NOW, fixed_clock
from tests.unit.test_fulfillment_batch import K, as_json, consumed, messages, refusal, two_orders
from tests.unit.test_shipment_state_machine import LYON, Update


class Poisoned(Exception):
    pass


class HeldFirst:
    """A group's write that holds its first call until let go, and fails any group holding
    "poison" (as a batch fails whole on one update it cannot handle)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.alone: list[str] = []
        self.started = threading.Event()
        self.go = threading.Event()

    def write(self, items: Sequence[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.started.set()
            assert self.go.wait(timeout=30)
        if "poison" in items:
            raise Poisoned("cannot apply poison")
        return [f"applied {item}" for item in items]

    def one(self, item: str) -> str:
        self.alone.append(item)
        return self.write([item])[0]


async def writing_a() -> tuple[HeldFirst, GroupCommit[str, str], "asyncio.Task[list[str]]"]:
    """Groups (written alone when one fails) whose first write, of "a", is under way and held."""
    held = HeldFirst()
    writes = GroupCommit(held.write, max_items=100, alone=held.one)
    first = asyncio.create_task(writes.place(["a"]))
    assert await asyncio.to_thread(held.started.wait, 10)
    return held, writes, first


@pytest.mark.asyncio
async def test_a_failed_group_is_written_again_one_request_at_a_time() -> None:
    held, writes, first = await writing_a()
    later = [asyncio.create_task(writes.place([item])) for item in ("b", "poison", "c")]
    await asyncio.sleep(0.05)
    held.go.set()
    answers = await asyncio.gather(first, *later, return_exceptions=True)

    assert held.calls[:2] == [["a"], ["b", "poison", "c"]], "the later three came as a group"
    assert held.alone == ["b", "poison", "c"], "the failed group, one at a time"
    assert answers[0] == ["applied a"]
    assert answers[1] == ["applied b"] and answers[3] == ["applied c"]
    assert isinstance(answers[2], Poisoned), "the poison's failure is its own answer"


@pytest.mark.asyncio
async def test_without_alone_a_failed_group_fails_each_request_in_it() -> None:
    held = HeldFirst()
    held.go.set()
    writes = GroupCommit(held.write, max_items=100)

    answers = await asyncio.gather(
        *(writes.place([item]) for item in ("b", "poison")), return_exceptions=True
    )

    assert held.calls == [["b", "poison"]]
    assert all(isinstance(answer, Poisoned) for answer in answers)


@pytest.mark.asyncio
async def test_a_group_that_meets_the_store_out_of_reach_is_not_written_again_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request written again by itself would wait out the store's timeout in turn."""
    store, service, orders = two_orders()
    calls: list[int] = []

    def unreachable(batch: Any, *args: Any) -> Any:
        calls.append(len(batch))
        raise OperationalError("database is locked")

    monkeypatch.setattr(service, "apply_updates", unreachable)
    updates = grouped_updates(service, IntakeService(store, fixed_clock(NOW)))
    script = [(n, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", f"JD{n}")) for n in (0, 1)]

    answers = await posted(updates, messages(orders, script), return_exceptions=True)

    assert calls == [2], "one try for the group, none alone"
    assert all(isinstance(answer, OperationalError) for answer in answers)


@pytest.mark.asyncio
async def test_a_writer_stopped_mid_write_answers_the_requests_it_took() -> None:
    held, writes, first = await writing_a()

    assert writes._writer is not None
    writes._writer.cancel()
    (answer,) = await asyncio.gather(first, return_exceptions=True)
    held.go.set()

    assert isinstance(answer, RuntimeError), "told, not left waiting"
    assert await writes.place(["b"]) == ["applied b"], "the next request starts a new writer"


def test_requests_left_by_a_closed_loop_do_not_stop_the_next_loops() -> None:
    """A loop closed while a request waited behind a write (each test has a loop of its own)
    left it behind: the next loop's writer took it, could not answer it, and stopped without
    answering its own requests."""
    held = HeldFirst()
    writes = GroupCommit(held.write, max_items=100)
    gone = asyncio.new_event_loop()
    placed = [gone.create_task(writes.place(["x"]))]
    gone.run_until_complete(asyncio.to_thread(held.started.wait, 10))
    placed.append(gone.create_task(writes.place(["y"])))  # waits behind x's write
    gone.run_until_complete(asyncio.sleep(0.01))
    gone.close()
    held.go.set()

    async def later() -> list[str]:
        return await asyncio.wait_for(writes.place(["z"]), timeout=10)

    assert asyncio.run(later()) == ["applied z"]
    assert held.calls == [["x"], ["z"]], "y's loop is gone: nobody to answer"
    assert not any(task.done() for task in placed)


@pytest.mark.asyncio
async def test_concurrent_updates_share_one_save_and_each_gets_its_own_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, service, orders = two_orders()
    updates = grouped_updates(service, IntakeService(store, fixed_clock(NOW)))
    saves: list[int] = []
    real_save = store.save

    def counted(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len(objs))
        return real_save(*objs, **kwargs)

    monkeypatch.setattr(store, "save", counted)
    script = [
        (0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")),
        (1, Update(LYON, K.SHIPPED, "store-paris", "DHL", "X1")),  # another source's shipment
        (1, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0147")),
    ]
    answers = await posted(updates, messages(orders, script))

    shipped, refused, other = answers
    assert isinstance(shipped, UpdateResult) and shipped.order_id == orders[0].id
    assert isinstance(other, UpdateResult) and other.order_id == orders[1].id
    assert shipped.applied and other.applied
    assert isinstance(refused, Parked) and refused.reason == "UnknownShipmentError"
    assert len(saves) == 1, "the three updates and the refusal's record in one save"
    for order in orders:
        assert store.repository.get(order.id).shipments[LYON].state == "shipped"
    stranger = messages(orders, script)[1]
    assert refusal(store, "store-paris", consumed(as_json(stranger), 0)) == "UnknownShipmentError"


@pytest.mark.asyncio
async def test_a_group_whose_save_fails_is_applied_one_update_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, service, orders = two_orders()
    real_apply = service.apply_updates

    batches: list[int] = []

    def only_alone(batch: Any, *args: Any) -> Any:
        batches.append(len(batch))
        if len(batch) > 1:
            raise RuntimeError("a group that cannot be saved")
        return real_apply(batch, *args)

    monkeypatch.setattr(service, "apply_updates", only_alone)
    updates = grouped_updates(service, IntakeService(store, fixed_clock(NOW)))
    script = [
        (0, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0146")),
        (1, Update(LYON, K.SHIPPED, "wh-lyon", "DHL", "JD0147")),
    ]
    answers = await posted(updates, messages(orders, script))

    assert batches == [2, 1, 1], "the group refused, then each update alone"
    assert [a.applied for a in answers if isinstance(a, UpdateResult)] == [True, True]
    for order in orders:
        assert store.repository.get(order.id).shipments[LYON].state == "shipped"


async def posted(
    updates: GroupCommit[str, Any], sent: list[Any], return_exceptions: bool = False
) -> list[Any]:
    """The updates posted at once, as concurrent requests to the route."""
    texts = [json.dumps(as_json(update)) for update in sent]
    answers = await asyncio.gather(
        *(updates.place([text]) for text in texts), return_exceptions=return_exceptions
    )
    return [a if isinstance(a, BaseException) else a[0] for a in answers]
