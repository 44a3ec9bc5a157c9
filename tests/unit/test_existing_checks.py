"""The distributed capture's duplicate checks: answered as `check_existing` answers each, those
queued during a read of the store taken together in the next, an error to every caller."""

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from hub.services.existing_checks import ExistingChecks
from hub.services.intake import IntakeService, Outcome, PlaceResult, SubmitOrder
from tests.contracts.factories import NOW, fixed_clock, popo_store, submit_order


def _intake_with(*recorded: SubmitOrder) -> IntakeService:
    intake = IntakeService(popo_store(), fixed_clock(NOW))
    intake.place_orders(list(recorded))
    return intake


def test_each_answer_is_what_check_existing_answers() -> None:
    intake = _intake_with(submit_order(external_id="WEB-1"), submit_order(external_id="WEB-2"))
    commands = [
        submit_order(external_id="WEB-1"),  # the same again: a duplicate
        submit_order(external_id="WEB-2", currency="USD"),  # other content: a conflict
        submit_order(external_id="WEB-3"),  # new
    ]
    checks = ExistingChecks(intake.check_existing_many)

    async def all_at_once() -> list[PlaceResult | None]:
        return list(await asyncio.gather(*(checks.check(c) for c in commands)))

    answers = asyncio.run(all_at_once())

    assert answers == [intake.check_existing(c) for c in commands]
    assert [a.outcome if a else None for a in answers] == [
        Outcome.DUPLICATE,
        Outcome.CONFLICT,
        None,
    ]


class Gated:
    """A store read that holds its first call until released, recording each call's orders."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.reading = threading.Event()
        self.release = threading.Event()

    def __call__(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult | None]:
        self.calls.append([c.submission.external_id for c in commands])
        self.reading.set()
        assert self.release.wait(5)
        return [None] * len(commands)


def test_checks_queued_during_a_read_go_in_one_read_the_first_at_once() -> None:
    read = Gated()
    checks = ExistingChecks(read)

    async def scenario() -> list[PlaceResult | None]:
        first = asyncio.ensure_future(checks.check(submit_order(external_id="A")))
        await asyncio.to_thread(read.reading.wait, 5)  # the first is read without waiting
        rest = [asyncio.ensure_future(checks.check(submit_order(external_id=n))) for n in "BCD"]
        await asyncio.sleep(0.05)
        read.release.set()
        return list(await asyncio.gather(first, *rest))

    assert asyncio.run(scenario()) == [None] * 4
    assert read.calls == [["A"], ["B", "C", "D"]]


def test_a_failed_read_fails_every_check_of_it_and_the_next_read_goes_on() -> None:
    failing = True

    def read(commands: Sequence[SubmitOrder]) -> list[PlaceResult | None]:
        if failing:
            raise ConnectionError("the store is gone")
        return [None] * len(commands)

    checks = ExistingChecks(read)

    async def check_two() -> list[object]:
        found = [checks.check(submit_order(external_id=n)) for n in "AB"]
        return list(await asyncio.gather(*found, return_exceptions=True))

    assert [type(a) for a in asyncio.run(check_two())] == [ConnectionError, ConnectionError]
    failing = False
    assert asyncio.run(check_two()) == [None, None]


def test_a_cancelled_check_leaves_the_others_answered() -> None:
    read = Gated()
    checks = ExistingChecks(read)

    async def scenario() -> PlaceResult | None:
        first = asyncio.ensure_future(checks.check(submit_order(external_id="A")))
        await asyncio.to_thread(read.reading.wait, 5)
        gone = asyncio.ensure_future(checks.check(submit_order(external_id="B")))
        kept = asyncio.ensure_future(checks.check(submit_order(external_id="C")))
        await asyncio.sleep(0.01)
        gone.cancel()
        read.release.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(scenario()) is None


def test_the_thread_ends_when_idle_and_starts_again() -> None:
    intake = _intake_with(submit_order(external_id="WEB-1"))
    checks = ExistingChecks(intake.check_existing_many, idle_seconds=0.05)

    def threads() -> int:
        return sum(t.name == "existing-checks" and t.is_alive() for t in threading.enumerate())

    before = threads()
    found = asyncio.run(checks.check(submit_order(external_id="WEB-1")))
    assert found is not None and found.outcome is Outcome.DUPLICATE
    deadline = time.monotonic() + 5
    while threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads() == before
    assert asyncio.run(checks.check(submit_order(external_id="WEB-9"))) is None


def test_a_round_waits_its_gather_time_for_others_to_join() -> None:
    calls: list[list[str]] = []

    def read(commands: Sequence[SubmitOrder]) -> list[PlaceResult | None]:
        calls.append([c.submission.external_id for c in commands])
        return [None] * len(commands)

    async def one_then_two(checks: ExistingChecks) -> float:
        started = time.monotonic()
        first = asyncio.ensure_future(checks.check(submit_order(external_id="A")))
        await asyncio.sleep(0.02)  # inside the first's round when it gathers 0.2 s
        rest = [checks.check(submit_order(external_id=n)) for n in "BC"]
        assert await asyncio.gather(first, *rest) == [None] * 3
        return time.monotonic() - started

    waited = asyncio.run(one_then_two(ExistingChecks(read, gather_seconds=0.2)))
    assert calls == [["A", "B", "C"]]
    assert waited >= 0.2

    calls.clear()
    asyncio.run(one_then_two(ExistingChecks(read)))  # nothing gathered: the first read alone
    assert calls[0] == ["A"]
    assert [n for call in calls[1:] for n in call] == ["B", "C"]
