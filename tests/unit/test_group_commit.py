"""Embedded capture: concurrent requests' orders recorded together, each request answered for
its own orders, in its own order."""

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.group_commit import GroupCommit
from hub.services.intake import IntakeService, Outcome, PlaceResult, SubmitOrder
from tests.contracts.factories import NOW, fixed_clock, sqlite_store, submit_order


class HeldFirstWrite:
    """The intake's place_orders, with the first write held until the test lets it go."""

    def __init__(self, intake: IntakeService) -> None:
        self.intake = intake
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult]:
        self.calls.append([c.submission.external_id for c in commands])
        if len(self.calls) == 1:
            self.started.set()
            assert self.go.wait(timeout=30)
        return self.intake.place_orders(commands)


@pytest.mark.asyncio
async def test_requests_that_come_during_a_write_are_recorded_together_and_each_gets_its_own(
    tmp_path: Path,
) -> None:
    store = sqlite_store(tmp_path / "events.db")
    place = HeldFirstWrite(IntakeService(store, fixed_clock(NOW)))
    writes = GroupCommit(place, max_items=500)

    first = asyncio.create_task(writes.place([submit_order(external_id="WEB-1")]))
    assert await asyncio.to_thread(place.started.wait, 10)
    later = [
        asyncio.create_task(writes.place([submit_order(external_id=f"WEB-{n}")])) for n in (2, 3)
    ]
    # A resend of WEB-1 and a request carrying two orders, one of them WEB-2 again.
    resend = asyncio.create_task(writes.place([submit_order(external_id="WEB-1")]))
    pair = asyncio.create_task(
        writes.place([submit_order(external_id="WEB-4"), submit_order(external_id="WEB-2")])
    )
    await asyncio.sleep(0.05)
    place.go.set()

    (one,) = await first
    two, three = [(await t)[0] for t in later]
    (again,) = await resend
    four, two_again = await pair

    assert place.calls == [["WEB-1"], ["WEB-2", "WEB-3", "WEB-1", "WEB-4", "WEB-2"]]
    assert [one.outcome, two.outcome, three.outcome, four.outcome] == [Outcome.CREATED] * 4
    assert again.outcome is Outcome.DUPLICATE and again.order_id == one.order_id
    assert two_again.outcome is Outcome.DUPLICATE and two_again.order_id == two.order_id
    store.close()


@pytest.mark.asyncio
async def test_a_failed_write_fails_each_request_in_it_and_the_next_write_goes_ahead() -> None:
    calls: list[int] = []

    def place(commands: Sequence[SubmitOrder]) -> list[PlaceResult]:
        calls.append(len(commands))
        if len(calls) == 1:
            raise RuntimeError("disk I/O error")
        return [PlaceResult(c.order_id, Outcome.CREATED, "accepted", c.digest) for c in commands]

    writes = GroupCommit(place, max_items=2)
    requests = [writes.place([submit_order(external_id=f"WEB-{n}")]) for n in range(3)]
    answers = await asyncio.gather(*requests, return_exceptions=True)

    assert calls == [2, 1], "at most max_orders a write"
    assert [type(a).__name__ for a in answers[:2]] == ["RuntimeError", "RuntimeError"]
    assert isinstance(answers[2], list) and answers[2][0].outcome is Outcome.CREATED
