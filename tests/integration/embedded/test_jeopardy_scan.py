"""The jeopardy clock's tick reads every open promise but looks further only at those whose band
rose since the tick before: new orders and risen bands are still flagged at the next tick, a
page's flags are saved together, and a case another worker saved meanwhile is not raised twice."""

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import hub.services.jeopardy as jeopardy_module
from hub.bootstrap import Hub
from hub.services.jeopardy import JeopardyWatch, Tick
from projections.exception_rules import ExceptionRow
from tests.integration.embedded.test_jeopardy import (
    CHAIRS_AND_LAMPS,
    PROMISE,
    case_events,
    flag_of,
    open_flags,
    place,
    tick_at,
)
from tests.support.running_hub import Clock, embedded_hub, stock_up


@pytest.fixture
def hub(tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path, clock)) as hub:
        stock_up(hub, {"wh-lyon": (45.75, 4.85, CHAIRS_AND_LAMPS)})
        yield hub


class Lookups:
    """The exception queue's lookups the clock makes, by the ids it asks for."""

    def __init__(self, hub: Hub) -> None:
        self.asked: list[list[str]] = []
        watch = hub.jeopardy
        self._inner: Callable[[Sequence[str]], dict[str, ExceptionRow]] = watch._exceptions
        watch._exceptions = self

    def __call__(self, ids: Sequence[str]) -> dict[str, ExceptionRow]:
        self.asked.append(list(ids))
        return self._inner(ids)

    def taken(self) -> list[str]:
        asked, self.asked = [i for ids in self.asked for i in ids], []
        return asked


def test_promises_whose_band_did_not_rise_are_not_looked_up_again(hub: Hub, clock: Clock) -> None:
    first = place(hub, "WEB-1")  # promised 30 h from NOW
    later = place(hub, "WEB-2", promise=PROMISE + timedelta(hours=4))
    lookups = Lookups(hub)

    assert tick_at(hub, clock, PROMISE - timedelta(hours=17)) == Tick(looked_at=2, flagged=2)
    assert len(lookups.taken()) == 2

    # A minute later, the same bands: both read, neither looked up nor flagged.
    assert tick_at(hub, clock, PROMISE - timedelta(hours=16, minutes=59)) == Tick(2, 0)
    assert lookups.taken() == []

    # WEB-1 reaches medium (16 h left), WEB-2 is still low: only WEB-1 is looked up and raised.
    assert tick_at(hub, clock, PROMISE - timedelta(hours=16)) == Tick(2, 1)
    assert lookups.taken() == [f"jeopardy:{first}:2026-11-21T15:00:00.000000Z"]
    assert sorted(open_flags(hub)) == [("jeopardy", "low"), ("jeopardy", "medium")]
    flag = flag_of(hub, "jeopardy", later)
    assert flag is not None and flag.severity == "low"


def test_an_order_placed_between_two_ticks_is_flagged_at_the_next(hub: Hub, clock: Clock) -> None:
    place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=20))

    clock.at = PROMISE - timedelta(hours=19, minutes=59)
    newcomer = place(hub, "WEB-2", promise=PROMISE - timedelta(hours=12))  # 7 h left: high

    assert tick_at(hub, clock, PROMISE - timedelta(hours=19, minutes=58)) == Tick(2, 1)
    flag = flag_of(hub, "jeopardy", newcomer)
    assert flag is not None and flag.severity == "high"


def test_a_page_of_flags_is_saved_in_one_transaction(
    hub: Hub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        place(hub, f"WEB-{n}", PROMISE + timedelta(minutes=n))
    saves: list[int] = []
    save = hub.store.save

    def counted(*aggregates: Any) -> Any:
        saves.append(len(aggregates))
        return save(*aggregates)

    monkeypatch.setattr(hub.store, "save", counted)

    assert tick_at(hub, clock, PROMISE - timedelta(hours=2)) == Tick(5, 5)
    assert saves == [5]
    assert case_events(hub) == Counter({"opened": 5, "flagged": 5})


def test_a_case_another_worker_saved_meanwhile_is_raised_once(
    hub: Hub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other worker's flag is saved after this tick read the cases: the page's save fails
    on it, and the page is flagged one case at a time, that one found raised."""
    ids = [place(hub, f"WEB-{n}", PROMISE + timedelta(minutes=n)) for n in range(3)]
    other = JeopardyWatch(
        hub.store,
        hub.order_status,
        hub.exceptions.get_many,
        lambda: PROMISE - timedelta(hours=2),
        timedelta(hours=24),
    )
    find_many = jeopardy_module.find_many
    others: list[Tick] = []

    def then_the_other_worker(*args: Any) -> Any:
        found = find_many(*args)
        if not others:  # this tick's read: the other worker flags them all now
            others.append(Tick(0, 0))
            others.append(other.tick())
        return found

    monkeypatch.setattr(jeopardy_module, "find_many", then_the_other_worker)
    clock.at = PROMISE - timedelta(hours=2)

    assert hub.jeopardy.tick() == Tick(3, 0)
    assert others[-1] == Tick(3, 3)
    hub.deliver()
    assert case_events(hub) == Counter({"opened": 3, "flagged": 3})
    assert all(flag_of(hub, "jeopardy", order_id) for order_id in ids)


def test_late_orders_are_read_again_only_by_a_full_look(
    hub: Hub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jeopardy_module, "FULL_SCAN_EVERY", 3)
    place(hub, "WEB-1")
    place(hub, "WEB-2", promise=PROMISE + timedelta(hours=6))

    looked = [tick_at(hub, clock, PROMISE + timedelta(minutes=1 + n)).looked_at for n in range(4)]

    assert looked == [2, 1, 1, 2]  # WEB-1 late from the first; the fourth tick a full look
    assert sorted(open_flags(hub)) == [("jeopardy", "high"), ("late", "high")]
