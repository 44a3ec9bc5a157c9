"""The behaviour every stock levels view must have, whatever stores its rows.

Subclass ``StockLevelsContract`` in a test module (named ``Test…``) and provide a ``make_view``
fixture: a callable that returns a fresh, EMPTY view each time it is called (the hypothesis tests
call it once or twice per example). Histories are built through the real ``StockItem`` and
``FulfillmentSource`` aggregates and the real public mapper, so the view is checked against the
aggregate's own figures, not against a second copy of its rules.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregates.contract import to_envelope
from aggregates.errors import StockError
from aggregates.source import FulfillmentSource
from aggregates.stock import StockItem
from projections.stock_levels import StockLevel, StockLevelsView, StockPage
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from tests.support.examples import examples

STREAM = "orderhub.inventory.events:0"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

MakeView = Callable[[], StockLevelsView]

# The contract's property tests run once per backend subclass (so "differing executors"), and
# use a fixture only to get a factory: every example builds its own fresh views.
_PER_BACKEND = [HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]


# -- building histories through the real aggregates ------------------------------------------------


def utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stock_item(
    source_id: str = "wh-lyon", sku: str = "RED-CHAIR", on_hand: int = 10, safety_stock: int = 0
) -> StockItem:
    return StockItem(
        source_id=source_id, sku=sku, on_hand=on_hand, safety_stock=safety_stock, at=T0
    )


def events_of(*items: StockItem | FulfillmentSource) -> list[EventEnvelope]:
    """The events recorded since the last call, as public envelopes, item after item."""
    return [to_envelope(e) for item in items for e in item.collect_events()]


def source(source_id: str, name: str) -> FulfillmentSource:
    definition = {"source_id": source_id, "name": name, "kind": "warehouse"}
    return FulfillmentSource(source_id=source_id, definition=definition, actor="user:ops", at=T0)


def figures(item: StockItem) -> tuple[Any, ...]:
    return (
        item.source_id,
        item.sku,
        item.on_hand,
        item.reserved,
        item.safety_stock,
        item.available,
        item.version,
    )


def row_figures(row: StockLevel | None) -> tuple[Any, ...] | None:
    if row is None:
        return None
    return (
        row.source_id,
        row.sku,
        row.on_hand,
        row.reserved,
        row.safety_stock,
        row.available,
        row.version,
    )


def all_rows(
    view: StockLevelsView, limit: int = 50, after: str | None = None, **filters: Any
) -> list[StockLevel]:
    """Every page of a search (from `after` on), following the cursors."""
    rows: list[StockLevel] = []
    for _ in range(10_000):
        page = view.search(limit=limit, after=after, **filters)
        assert len(page.rows) <= limit
        rows.extend(page.rows)
        if page.next_cursor is None:
            return rows
        assert page.rows, "a page with a next cursor has rows"
        after = page.next_cursor
    raise AssertionError("pagination never ended")


# -- random command sequences --------------------------------------------------------------------

SOURCES = ("st-paris", "wh-lyon")
SKUS = ("BLUE-LAMP", "RED-CHAIR")
ORDERS = ("WEB-1:1", "WEB-2:1", "WEB-3:2")

# Reservations and what ends them are drawn most often: the view's interesting arithmetic.
_KINDS = ("count", "adjust", "reserve", "reserve", "reserve", "release", "consume", "consume")


@st.composite
def command(draw: st.DrawFn) -> tuple[Any, ...]:
    """One command's arguments. release and consume name an order by its rank among those
    holding units of the item (-1: one holding nothing); consume ships what the order holds
    minus a shortfall (-1: one unit too many)."""
    kind = draw(st.sampled_from(_KINDS))
    if kind == "count":
        return kind, draw(st.integers(0, 20)), draw(st.one_of(st.none(), st.integers(0, 4)))
    if kind == "adjust":
        return kind, draw(st.integers(-6, 8))
    if kind == "reserve":
        return kind, draw(st.sampled_from(ORDERS)), draw(st.integers(1, 5))
    if kind == "release":
        return kind, draw(st.integers(-1, 3))
    return kind, draw(st.integers(-1, 3)), draw(st.sampled_from([-1, 0, 0, 0, 1, 2]))


def _holder(item: StockItem, rank: int) -> str:
    holders = sorted(item.reservations)
    return holders[rank % len(holders)] if holders and rank >= 0 else "WEB-0:0"


@dataclass
class Histories:
    items: dict[tuple[str, str], StockItem]
    events: dict[tuple[str, str], list[EventEnvelope]] = field(default_factory=dict)


def run_commands(
    starts: dict[tuple[str, str], tuple[int, int]],
    commands: Sequence[tuple[tuple[str, str], tuple[Any, ...]]],
) -> Histories:
    """Give every command to its item; those the aggregate refuses are skipped, as in life."""
    items = {key: stock_item(*key, *starts[key]) for key in sorted(starts)}
    for step, (key, (name, *args)) in enumerate(commands, start=1):
        item = items.get(key)
        if item is None:
            continue
        at = T0 + timedelta(minutes=step)
        try:
            if name == "count":
                item.count(args[0], args[1], at=at, reason="cycle count")
            elif name == "adjust":
                item.adjust(args[0], at=at, reason="receipt" if args[0] > 0 else "damage")
            elif name == "reserve":
                item.reserve(args[0], args[1], at=at)
            elif name == "release":
                item.release(_holder(item, args[0]), at=at, reason="cancelled")
            else:
                order = _holder(item, args[0])
                item.consume(order, item.reservations.get(order, 1) - args[1], at=at)
        except StockError:
            pass
    return Histories(items, {key: events_of(item) for key, item in items.items()})


@st.composite
def histories(draw: st.DrawFn) -> Histories:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(SOURCES), st.sampled_from(SKUS)),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    starts = {key: (draw(st.integers(0, 15)), draw(st.integers(0, 3))) for key in keys}
    commands = draw(st.lists(st.tuples(st.sampled_from(keys), command()), min_size=8, max_size=30))
    return run_commands(starts, commands)


@st.composite
def deliveries(draw: st.DrawFn, history: Histories) -> list[EventEnvelope]:
    """Events as a follower may receive them: items interleaved, each in its own order, with
    at-least-once redelivery of some already-delivered events."""
    queues = {key: list(events) for key, events in history.events.items()}
    delivered: list[EventEnvelope] = []
    while any(queues.values()):
        key = draw(st.sampled_from(sorted(k for k, q in queues.items() if q)))
        delivered.append(queues[key].pop(0))
        if draw(st.booleans()) and draw(st.booleans()):
            delivered.append(draw(st.sampled_from(delivered)))  # a redelivery
    return delivered


@st.composite
def delivered_histories(draw: st.DrawFn) -> tuple[Histories, list[EventEnvelope]]:
    history = draw(histories())
    return history, draw(deliveries(history))


def in_batches(events: list[EventEnvelope], cuts: list[int]) -> list[list[EventEnvelope]]:
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in pairwise(bounds)]


# -- the contract --------------------------------------------------------------------------------


class StockLevelsContract:
    @pytest.fixture
    def make_view(self) -> MakeView:
        raise NotImplementedError("a subclass provides a factory of fresh, empty views")

    @pytest.fixture
    def view(self, make_view: MakeView) -> StockLevelsView:
        return make_view()

    # -- reading -------------------------------------------------------------------------------

    def test_the_view_is_named_stock_levels(self, view: StockLevelsView) -> None:
        assert view.name == "stock_levels"

    def test_an_unknown_item_has_no_row(self, view: StockLevelsView) -> None:
        assert view.get("wh-lyon", "RED-CHAIR") is None

    def test_a_new_view_has_no_positions_and_no_rows(self, view: StockLevelsView) -> None:
        assert view.positions() == {}
        assert view.search() == StockPage([], None)
        assert view.totals_by_sku(["RED-CHAIR"]) == {}

    # -- one item's life -----------------------------------------------------------------------

    def test_a_registered_item_shows_its_counts(self, view: StockLevelsView) -> None:
        item = stock_item("wh-lyon", "RED-CHAIR", on_hand=10, safety_stock=2)

        view.apply(events_of(item), {STREAM: 0})

        assert view.get("wh-lyon", "RED-CHAIR") == StockLevel(
            source_id="wh-lyon",
            sku="RED-CHAIR",
            on_hand=10,
            reserved=0,
            safety_stock=2,
            available=8,
            updated_at=utc(T0),
            version=1,
            source_name="wh-lyon",
        )

    def test_reservations_take_units_from_available_until_released_or_consumed(
        self, view: StockLevelsView
    ) -> None:
        item = stock_item(on_hand=10, safety_stock=1)
        item.reserve("WEB-1:1", 3, at=T0 + timedelta(minutes=1))
        item.reserve("WEB-2:1", 4, at=T0 + timedelta(minutes=2))
        view.apply(events_of(item), {STREAM: 2})
        row = view.get("wh-lyon", "RED-CHAIR")
        assert row is not None
        assert (row.on_hand, row.reserved, row.available) == (10, 7, 2)

        item.release("WEB-1:1", at=T0 + timedelta(minutes=3), reason="cancelled")
        item.consume("WEB-2:1", 3, at=T0 + timedelta(minutes=4))  # one unit was not shipped
        view.apply(events_of(item), {STREAM: 4})

        row = view.get("wh-lyon", "RED-CHAIR")
        assert row is not None
        assert row_figures(row) == figures(item) == ("wh-lyon", "RED-CHAIR", 7, 0, 1, 6, 5)
        assert row.updated_at == utc(T0 + timedelta(minutes=4))

    def test_counts_and_adjustments_move_on_hand(self, view: StockLevelsView) -> None:
        item = stock_item(on_hand=10)
        item.adjust(5, at=T0, reason="receipt")
        item.count(12, 3, at=T0, reason="cycle count")
        item.adjust(-2, at=T0, reason="damage")

        view.apply(events_of(item), {STREAM: 3})

        assert row_figures(view.get("wh-lyon", "RED-CHAIR")) == figures(item)
        assert figures(item)[2:7] == (10, 0, 3, 7, 4)

    def test_a_count_below_what_is_reserved_leaves_nothing_available_and_keeps_the_promises(
        self, view: StockLevelsView
    ) -> None:
        item = stock_item(on_hand=10, safety_stock=2)
        item.reserve("WEB-1:1", 6, at=T0)
        item.count(4, None, at=T0, reason="cycle count")  # fewer units than promised

        view.apply(events_of(item), {STREAM: 2})

        row = view.get("wh-lyon", "RED-CHAIR")
        assert row is not None
        assert (row.on_hand, row.reserved, row.safety_stock, row.available) == (4, 6, 2, 0)
        assert row_figures(row) == figures(item)

    def test_events_split_across_batches_give_the_same_row_as_one_batch(
        self, make_view: MakeView
    ) -> None:
        item = stock_item()
        item.reserve("WEB-1:1", 2, at=T0)
        item.consume("WEB-1:1", 2, at=T0)
        history = events_of(item)
        together, apart = make_view(), make_view()

        together.apply(history, {STREAM: 2})
        for offset, env in enumerate(history):
            apart.apply([env], {STREAM: offset})

        assert apart.get("wh-lyon", "RED-CHAIR") == together.get("wh-lyon", "RED-CHAIR")

    # -- at-least-once delivery ----------------------------------------------------------------

    def test_a_redelivered_batch_changes_nothing(self, view: StockLevelsView) -> None:
        item = stock_item()
        item.reserve("WEB-1:1", 2, at=T0)
        item.release("WEB-1:1", at=T0, reason="cancelled")
        history = events_of(item)
        view.apply(history, {STREAM: 2})
        before = view.get("wh-lyon", "RED-CHAIR")

        view.apply(history, {STREAM: 2})
        view.apply(history[1:2], {STREAM: 2})  # the reservation alone, again

        assert view.get("wh-lyon", "RED-CHAIR") == before
        assert row_figures(before) == figures(item)

    def test_an_older_event_delivered_late_never_rewinds_the_row(
        self, view: StockLevelsView
    ) -> None:
        item = stock_item(on_hand=10)
        item.adjust(-4, at=T0, reason="damage")
        registered, adjusted = events_of(item)
        view.apply([registered, adjusted], {STREAM: 1})

        view.apply([registered], {STREAM: 0})

        assert row_figures(view.get("wh-lyon", "RED-CHAIR")) == figures(item)

    def test_events_for_an_item_registered_before_this_view_create_no_row(
        self, view: StockLevelsView
    ) -> None:
        item = stock_item()
        item.collect_events()
        item.reserve("WEB-1:1", 2, at=T0)

        view.apply(events_of(item), {STREAM: 0})

        assert view.get("wh-lyon", "RED-CHAIR") is None

    def test_event_types_the_view_does_not_know_are_ignored(self, view: StockLevelsView) -> None:
        item = stock_item()
        item.reserve("WEB-1:1", 2, at=T0)
        registered, reserved = events_of(item)
        stranger = reserved.model_copy(update={"type": "orderhub.stock_item.gift_wrapped"})
        order_event = reserved.model_copy(update={"type": EventType.ORDER_ACCEPTED})

        view.apply([registered, stranger, order_event], {STREAM: 2})

        row = view.get("wh-lyon", "RED-CHAIR")
        assert row is not None
        assert (row.reserved, row.version) == (0, 1)

    def test_items_interleaved_in_one_batch_keep_their_own_figures(
        self, view: StockLevelsView
    ) -> None:
        lyon, paris = stock_item("wh-lyon", on_hand=5), stock_item("st-paris", on_hand=3)
        lyon.reserve("WEB-1:1", 5, at=T0)
        paris.adjust(2, at=T0, reason="receipt")
        paris.reserve("WEB-1:1", 1, at=T0)
        a, b = events_of(lyon), events_of(paris)

        view.apply([b[0], a[0], b[1], a[1], b[2], a[0]], {STREAM: 5})

        assert row_figures(view.get("wh-lyon", "RED-CHAIR")) == figures(lyon)
        assert row_figures(view.get("st-paris", "RED-CHAIR")) == figures(paris)

    # -- the source's name ---------------------------------------------------------------------

    def test_a_row_shows_the_name_of_its_source_whichever_arrives_first(
        self, view: StockLevelsView
    ) -> None:
        lyon = source("wh-lyon", "Lyon warehouse")
        view.apply(events_of(stock_item("wh-lyon")), {STREAM: 0})
        view.apply(events_of(lyon), {STREAM: 1})
        view.apply(events_of(stock_item("wh-lyon", "BLUE-LAMP")), {STREAM: 2})

        for sku in ("RED-CHAIR", "BLUE-LAMP"):
            row = view.get("wh-lyon", sku)
            assert row is not None
            assert row.source_name == "Lyon warehouse"

    def test_a_renamed_source_shows_its_new_name_and_a_pause_changes_nothing(
        self, view: StockLevelsView
    ) -> None:
        lyon = source("wh-lyon", "Lyon warehouse")
        view.apply([*events_of(lyon), *events_of(stock_item("wh-lyon"))], {STREAM: 1})
        first = events_of(lyon)
        lyon.redefine(
            {"source_id": "wh-lyon", "name": "Lyon Nord", "kind": "warehouse"}, "user:ops", T0
        )
        lyon.pause("strike", "user:ops", T0)
        renamed = events_of(lyon)

        view.apply(renamed, {STREAM: 3})
        view.apply(first + renamed, {STREAM: 3})  # redelivered

        row = view.get("wh-lyon", "RED-CHAIR")
        assert row is not None
        assert row.source_name == "Lyon Nord"
        assert view.search().rows[0].source_name == "Lyon Nord"

    def test_a_source_without_a_known_name_is_shown_by_its_id(self, view: StockLevelsView) -> None:
        view.apply(
            [*events_of(source("wh-lyon", "Lyon")), *events_of(stock_item("st-paris"))],
            {STREAM: 1},
        )

        row = view.get("st-paris", "RED-CHAIR")
        assert row is not None
        assert row.source_name == "st-paris"

    # -- search --------------------------------------------------------------------------------

    @pytest.fixture
    def stocked(self, view: StockLevelsView) -> StockLevelsView:
        """Six items over three sources; those with nothing available are marked *."""
        items = [
            stock_item("wh-lyon", "RED-CHAIR", on_hand=4),
            stock_item("wh-lyon", "RED_CHAIR", on_hand=0),  # *
            stock_item("wh-lyon", "REDX", on_hand=2, safety_stock=2),  # *
            stock_item("st-paris", "RED-CHAIR", on_hand=1),
            stock_item("st-paris", "blue-lamp", on_hand=7),
            stock_item("dc-bordeaux", "RED-CHAIR", on_hand=3),
        ]
        items[3].reserve("WEB-1:1", 1, at=T0)  # * now
        view.apply(events_of(*items), {STREAM: 6})
        return view

    @staticmethod
    def keys(rows: Sequence[StockLevel]) -> list[tuple[str, str]]:
        return [(r.source_id, r.sku) for r in rows]

    def test_search_lists_every_row_by_source_then_sku(self, stocked: StockLevelsView) -> None:
        page = stocked.search()

        assert self.keys(page.rows) == [
            ("dc-bordeaux", "RED-CHAIR"),
            ("st-paris", "RED-CHAIR"),
            ("st-paris", "blue-lamp"),  # code point order: upper case first
            ("wh-lyon", "RED-CHAIR"),
            ("wh-lyon", "REDX"),
            ("wh-lyon", "RED_CHAIR"),
        ]
        assert page.next_cursor is None

    def test_search_by_source(self, stocked: StockLevelsView) -> None:
        assert self.keys(stocked.search(source_id="st-paris").rows) == [
            ("st-paris", "RED-CHAIR"),
            ("st-paris", "blue-lamp"),
        ]
        assert stocked.search(source_id="nowhere").rows == []

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("RED-", ["RED-CHAIR", "RED-CHAIR", "RED-CHAIR"]),
            ("RED_", ["RED_CHAIR"]),  # `_` is no wildcard
            ("RED", ["RED-CHAIR", "RED-CHAIR", "RED-CHAIR", "REDX", "RED_CHAIR"]),
            ("red", []),  # case matters
            ("blue-lamp", ["blue-lamp"]),
            ("blue-lamps", []),
            ("", ["RED-CHAIR", "RED-CHAIR", "blue-lamp", "RED-CHAIR", "REDX", "RED_CHAIR"]),
        ],
        ids=["dash", "underscore", "shared", "lower", "whole", "longer", "empty"],
    )
    def test_search_by_sku_prefix(
        self, stocked: StockLevelsView, prefix: str, expected: list[str]
    ) -> None:
        assert [r.sku for r in stocked.search(sku_prefix=prefix).rows] == expected

    def test_search_for_short_rows_only(self, stocked: StockLevelsView) -> None:
        assert self.keys(stocked.search(short_only=True).rows) == [
            ("st-paris", "RED-CHAIR"),
            ("wh-lyon", "REDX"),
            ("wh-lyon", "RED_CHAIR"),
        ]
        both = stocked.search(source_id="wh-lyon", sku_prefix="RED", short_only=True)
        assert self.keys(both.rows) == [("wh-lyon", "REDX"), ("wh-lyon", "RED_CHAIR")]

    def test_search_pages_through_every_row_once_in_order(self, stocked: StockLevelsView) -> None:
        everything = stocked.search().rows

        for limit in (1, 2, 3, 5, 6, 7):
            assert all_rows(stocked, limit=limit) == everything
        assert all_rows(stocked, limit=1, short_only=True) == stocked.search(short_only=True).rows

    def test_a_full_last_page_has_no_next_cursor(self, stocked: StockLevelsView) -> None:
        first = stocked.search(limit=4)
        second = stocked.search(limit=2, after=first.next_cursor)

        assert len(first.rows) == 4
        assert first.next_cursor is not None
        assert len(second.rows) == 2
        assert second.next_cursor is None

    def test_a_cursor_stays_valid_when_its_row_is_gone_or_new_rows_come(
        self, stocked: StockLevelsView
    ) -> None:
        first = stocked.search(limit=2)
        stocked.apply(events_of(stock_item("st-paris", "AAA")), {STREAM: 7})  # before the cursor
        stocked.apply(events_of(stock_item("wh-lyon", "ZZZ")), {STREAM: 8})  # after it

        rest = all_rows(stocked, limit=2, after=first.next_cursor)

        assert self.keys(rest) == [
            ("st-paris", "blue-lamp"),
            ("wh-lyon", "RED-CHAIR"),
            ("wh-lyon", "REDX"),
            ("wh-lyon", "RED_CHAIR"),
            ("wh-lyon", "ZZZ"),
        ]

    @pytest.mark.parametrize("cursor", ["", "not a cursor", "W10", "WyJhIl0", "eyJhIjogMX0"])
    def test_a_cursor_the_view_did_not_make_is_refused(
        self, stocked: StockLevelsView, cursor: str
    ) -> None:
        with pytest.raises(ValueError, match="cursor"):
            stocked.search(after=cursor)

    @pytest.mark.parametrize("limit", [0, -1])
    def test_a_page_holds_at_least_one_row(self, stocked: StockLevelsView, limit: int) -> None:
        with pytest.raises(ValueError, match="limit"):
            stocked.search(limit=limit)

    # -- totals --------------------------------------------------------------------------------

    def test_totals_sum_on_hand_and_available_over_sources(self, stocked: StockLevelsView) -> None:
        totals = stocked.totals_by_sku(["RED-CHAIR", "blue-lamp", "RED-CHAIR", "NOWHERE"])

        # on hand 4 + 1 + 3; available 4 + 0 (1 reserved) + 3
        assert totals == {"RED-CHAIR": (8, 7), "blue-lamp": (7, 7)}
        assert stocked.totals_by_sku([]) == {}

    def test_totals_for_many_skus_at_once(self, view: StockLevelsView) -> None:
        skus = [f"SKU-{n:04d}" for n in range(1200)]
        items = [
            stock_item(src, sku, on_hand=n % 7)
            for n, sku in enumerate(skus[::3])
            for src in ("st-paris", "wh-lyon")
        ]
        view.apply(events_of(*items), {STREAM: len(items)})

        totals = view.totals_by_sku(skus)

        assert totals == {sku: (2 * (n % 7), 2 * (n % 7)) for n, sku in enumerate(skus[::3])}

    # -- positions -----------------------------------------------------------------------------

    def test_positions_are_recorded_with_the_batch(self, view: StockLevelsView) -> None:
        view.apply(events_of(stock_item()), {STREAM: 41, "orderhub.inventory.events:1": 7})

        assert view.positions() == {STREAM: 41, "orderhub.inventory.events:1": 7}

    def test_a_position_never_moves_backwards(self, view: StockLevelsView) -> None:
        view.apply([], {STREAM: 41})

        view.apply([], {STREAM: 12, "orderhub.inventory.events:1": 3})

        assert view.positions() == {STREAM: 41, "orderhub.inventory.events:1": 3}

    def test_a_batch_that_cannot_be_applied_records_neither_rows_nor_positions(
        self, view: StockLevelsView
    ) -> None:
        good = events_of(stock_item("wh-lyon"))
        broken_registered = events_of(stock_item("st-paris"))[0]
        broken = broken_registered.model_copy(
            update={"data": {**broken_registered.data, "on_hand": None}}
        )
        view.apply([], {STREAM: 3})

        with pytest.raises((TypeError, ValueError)):
            view.apply([*good, broken], {STREAM: 9})

        assert view.get("wh-lyon", "RED-CHAIR") is None
        assert view.positions() == {STREAM: 3}

    # -- reset ---------------------------------------------------------------------------------

    def test_reset_forgets_rows_names_and_positions_and_the_log_rebuilds_them(
        self, stocked: StockLevelsView
    ) -> None:
        lyon = source("wh-lyon", "Lyon warehouse")
        lyon_events = events_of(lyon)
        stocked.apply(lyon_events, {STREAM: 7})
        assert all_rows(stocked)

        stocked.reset()

        assert stocked.positions() == {}
        assert stocked.search() == StockPage([], None)
        assert stocked.get("wh-lyon", "RED-CHAIR") is None
        assert stocked.totals_by_sku(["RED-CHAIR"]) == {}
        stocked.apply(events_of(stock_item("wh-lyon", "REDX")), {STREAM: 0})
        row = stocked.get("wh-lyon", "REDX")
        assert row is not None
        assert row.source_name == "wh-lyon"  # the name went too

    # -- properties ----------------------------------------------------------------------------

    @settings(max_examples=examples(30), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(case=delivered_histories(), cuts=st.lists(st.integers(0, 200), max_size=4))
    def test_every_row_equals_its_aggregate_after_any_commands_and_deliveries(
        self,
        make_view: MakeView,
        case: tuple[Histories, list[EventEnvelope]],
        cuts: list[int],
    ) -> None:
        history, events = case
        view = make_view()

        for n, batch in enumerate(in_batches(events, cuts)):
            view.apply(batch, {STREAM: n})
        view.apply(events, {STREAM: 0})  # and a full redelivery on top

        for key, item in history.items.items():
            row = view.get(*key)
            assert row_figures(row) == figures(item)
            assert row is not None
            last = history.events[key][-1]
            assert row.updated_at == utc(last.time)

    @settings(max_examples=examples(20), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(case=delivered_histories())
    def test_applying_a_batch_in_one_go_equals_applying_it_event_by_event(
        self, make_view: MakeView, case: tuple[Histories, list[EventEnvelope]]
    ) -> None:
        _, events = case
        at_once, one_by_one = make_view(), make_view()

        at_once.apply(events, {STREAM: len(events)})
        for offset, env in enumerate(events, start=1):
            one_by_one.apply([env], {STREAM: offset})

        assert all_rows(one_by_one) == all_rows(at_once)
        assert one_by_one.positions() == at_once.positions() == {STREAM: len(events)}

    @settings(max_examples=examples(30), deadline=None, suppress_health_check=_PER_BACKEND)
    @given(
        history=histories(),
        source_id=st.one_of(st.none(), st.sampled_from(SOURCES)),
        sku_prefix=st.one_of(st.none(), st.sampled_from(["", "R", "RED-", "BLUE-LAMP", "X"])),
        short_only=st.booleans(),
        limit=st.integers(1, 4),
    )
    def test_search_pages_hold_exactly_the_matching_rows_in_order(
        self,
        make_view: MakeView,
        history: Histories,
        source_id: str | None,
        sku_prefix: str | None,
        short_only: bool,
        limit: int,
    ) -> None:
        view = make_view()
        view.apply([e for events in history.events.values() for e in events], {STREAM: 1})

        found = all_rows(
            view, limit=limit, source_id=source_id, sku_prefix=sku_prefix, short_only=short_only
        )

        expected = [
            figures(item)
            for key, item in sorted(history.items.items())
            if (source_id is None or key[0] == source_id)
            and key[1].startswith(sku_prefix or "")
            and (not short_only or item.available == 0)
        ]
        assert [row_figures(row) for row in found] == expected
