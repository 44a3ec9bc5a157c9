"""The jeopardy clock's tick reads only the promises whose band rose since the tick before and
those new or changed since (the view's promise news), after a first look at every open promise:
new orders and risen bands are still flagged at the next tick, a tick that fails or a clock
restarted loses nothing, a page's flags are saved together, and a case another worker saved
meanwhile is not raised twice; on SQLite and PostgreSQL, and on a view of the earlier layout."""

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import hub.services.jeopardy as jeopardy_module
from hub.bootstrap import Hub
from hub.services.jeopardy import JeopardyWatch, Tick
from projections.exception_rules import ExceptionRow
from tests.contracts.factories import NOW
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Hub]:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    with closing(embedded_hub(tmp_path, clock, database_url=url)) as hub:
        stock_up(hub, {"wh-lyon": (45.75, 4.85, CHAIRS_AND_LAMPS)})
        yield hub


def another_watch(hub: Hub, moment: datetime) -> JeopardyWatch:
    """A clock of another worker, or one started again, on the hub's store and views."""
    return JeopardyWatch(
        hub.store, hub.order_status, hub.exceptions.get_many, lambda: moment, timedelta(hours=24)
    )


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

    # A minute later, the same bands: neither read again, looked up nor flagged.
    assert tick_at(hub, clock, PROMISE - timedelta(hours=16, minutes=59)) == Tick(0, 0)
    assert lookups.taken() == []

    # WEB-1 reaches medium (16 h left), WEB-2 is still low: only WEB-1 is read and raised.
    assert tick_at(hub, clock, PROMISE - timedelta(hours=16)) == Tick(1, 1)
    assert lookups.taken() == [f"jeopardy:{first}:2026-11-21T15:00:00.000000Z"]
    assert sorted(open_flags(hub)) == [("jeopardy", "low"), ("jeopardy", "medium")]
    flag = flag_of(hub, "jeopardy", later)
    assert flag is not None and flag.severity == "low"


def test_an_order_placed_between_two_ticks_is_flagged_at_the_next(hub: Hub, clock: Clock) -> None:
    place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=20))

    clock.at = PROMISE - timedelta(hours=19, minutes=59)
    newcomer = place(hub, "WEB-2", promise=PROMISE - timedelta(hours=12))  # 7 h left: high

    assert tick_at(hub, clock, PROMISE - timedelta(hours=19, minutes=58)) == Tick(1, 1)
    flag = flag_of(hub, "jeopardy", newcomer)
    assert flag is not None and flag.severity == "high"
    # Its news read and forgotten: the next tick reads nothing.
    assert tick_at(hub, clock, PROMISE - timedelta(hours=19, minutes=57)) == Tick(0, 0)


def test_an_order_placed_beyond_the_margin_is_read_when_its_band_first_rises(
    hub: Hub, clock: Clock
) -> None:
    tick_at(hub, clock, NOW)
    later = place(hub, "WEB-1")  # 30 h ahead: beyond the margin, nothing to flag yet

    assert tick_at(hub, clock, PROMISE - timedelta(hours=25)) == Tick(0, 0)
    # Low once 24 h are left, read by the range of that edge (the news were forgotten).
    assert tick_at(hub, clock, PROMISE - timedelta(hours=23, minutes=59)) == Tick(1, 1)
    flag = flag_of(hub, "jeopardy", later)
    assert flag is not None and flag.severity == "low"


def test_a_tick_that_fails_leaves_its_news_and_ranges_to_the_next(
    hub: Hub, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=20))
    clock.at = PROMISE - timedelta(hours=19, minutes=59)
    newcomer = place(hub, "WEB-2", promise=PROMISE - timedelta(hours=12))
    flag_page = JeopardyWatch._flag_page

    def failing(*args: Any) -> int:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(JeopardyWatch, "_flag_page", failing)
    with pytest.raises(ConnectionError):
        tick_at(hub, clock, PROMISE - timedelta(hours=16))  # WEB-1's band rises too
    monkeypatch.setattr(JeopardyWatch, "_flag_page", flag_page)

    assert tick_at(hub, clock, PROMISE - timedelta(hours=15)) == Tick(2, 2)
    assert sorted(open_flags(hub)) == [("jeopardy", "high"), ("jeopardy", "medium")]
    assert flag_of(hub, "jeopardy", newcomer) is not None


def test_a_clock_restarted_looks_at_every_open_promise_once(hub: Hub, clock: Clock) -> None:
    place(hub, "WEB-1")
    tick_at(hub, clock, PROMISE - timedelta(hours=20))  # WEB-1 low
    # Stopped meanwhile: an order placed inside the margin, and WEB-1's band rose.
    clock.at = PROMISE - timedelta(hours=19)
    place(hub, "WEB-2", promise=PROMISE - timedelta(hours=12))
    restarted = another_watch(hub, PROMISE - timedelta(hours=10))
    hub.jeopardy = restarted  # type: ignore[misc]

    assert restarted.tick() == Tick(2, 2)
    hub.deliver()
    # WEB-1 medium (10 h left), WEB-2 late.
    assert sorted(open_flags(hub)) == [("jeopardy", "medium"), ("late", "high")]
    assert tick_at(hub, clock, PROMISE - timedelta(hours=10)) == Tick(0, 0)


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
    other = another_watch(hub, PROMISE - timedelta(hours=2))
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


def test_late_orders_are_not_read_again(hub: Hub, clock: Clock) -> None:
    place(hub, "WEB-1")
    place(hub, "WEB-2", promise=PROMISE + timedelta(hours=6))

    looked = [tick_at(hub, clock, PROMISE + timedelta(minutes=1 + n)).looked_at for n in range(4)]

    assert looked == [2, 0, 0, 0]  # WEB-1 late and WEB-2 high from the first
    assert sorted(open_flags(hub)) == [("jeopardy", "high"), ("late", "high")]


def test_a_view_of_the_earlier_layout_is_upgraded_in_place(tmp_path: Path, clock: Clock) -> None:
    """The views' file of a release without the news table: the view is kept (no rebuild), the
    table made, and the clock's first look flags the promises noted nowhere."""
    with closing(embedded_hub(tmp_path, clock)) as hub:
        stock_up(hub, {"wh-lyon": (45.75, 4.85, CHAIRS_AND_LAMPS)})
        before = place(hub, "WEB-1")
    with closing(sqlite3.connect(tmp_path / "views.sqlite3")) as db:
        db.execute("DROP TABLE order_promise_news")
        db.commit()

    with closing(embedded_hub(tmp_path, clock)) as hub:
        assert not hub.order_status.needs_rebuild  # type: ignore[attr-defined]
        assert hub.order_status.promise_news(0, 10) == []
        assert tick_at(hub, clock, PROMISE - timedelta(hours=2)) == Tick(1, 1)
        after = place(hub, "WEB-2", promise=PROMISE - timedelta(hours=1))
        assert tick_at(hub, clock, PROMISE - timedelta(hours=2) + timedelta(minutes=1)) == Tick(
            1, 1
        )
        assert flag_of(hub, "jeopardy", before) is not None
        assert flag_of(hub, "jeopardy", after) is not None
