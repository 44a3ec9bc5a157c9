"""StockItem: a reservation never exceeds what is available when it is made; replay is exact.

A count (an absolute snapshot from the source's own system) may lower on-hand below what is
already reserved: the warehouse found fewer units than it had promised. That is recorded as it
is, not refused; what the aggregate guarantees is that no *new* reservation takes more than
`on_hand - reserved - safety_stock` at the moment it is made.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates.errors import InsufficientStockError, StockError
from aggregates.stock import StockItem
from hub.store import OrderStore
from tests.support.examples import examples

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def stock(on_hand: int = 10, safety_stock: int = 0) -> StockItem:
    return StockItem(
        source_id="wh-lyon", sku="RED-CHAIR", on_hand=on_hand, safety_stock=safety_stock, at=T0
    )


def event_names(item: StockItem) -> list[str]:
    return [type(e).__name__ for e in item.collect_events()]


def state_of(item: StockItem) -> tuple[Any, ...]:
    return (
        item.id,
        item.version,
        item.source_id,
        item.sku,
        item.on_hand,
        item.safety_stock,
        dict(item.reservations),
        item.counted_at,
    )


def replayed(events: list[Any]) -> StockItem:
    item: Any = None
    for domain_event in events:
        item = domain_event.mutate(item)
    assert isinstance(item, StockItem)
    return item


@dataclass
class Folded:
    """Stock figures rebuilt from the events alone, without the aggregate's own code."""

    on_hand: int = 0
    safety_stock: int = 0
    reserved: dict[str, int] = field(default_factory=dict)
    # Each reservation as (quantity, what was available just before it).
    reservations_made: list[tuple[int, int]] = field(default_factory=list)


def fold(events: Sequence[Any]) -> Folded:
    folded = Folded()
    for e in events:
        name = type(e).__name__
        if name in ("Registered", "Counted"):
            folded.on_hand, folded.safety_stock = e.on_hand, e.safety_stock
        elif name == "Adjusted":
            folded.on_hand += e.delta
        elif name == "Reserved":
            before = folded.on_hand - sum(folded.reserved.values()) - folded.safety_stock
            folded.reservations_made.append((e.quantity, before))
            folded.reserved[e.order_id] = e.quantity
        elif name == "Released":
            assert folded.reserved.pop(e.order_id) == e.quantity
    return folded


class TestReserve:
    @pytest.mark.parametrize(
        ("on_hand", "safety_stock", "already", "wanted", "allowed"),
        [
            (10, 0, 0, 10, True),
            (10, 0, 0, 11, False),
            (10, 2, 0, 8, True),
            (10, 2, 0, 9, False),
            (10, 2, 5, 3, True),
            (10, 2, 5, 4, False),
            (0, 0, 0, 1, False),
        ],
        ids=[
            "all on hand",
            "one more than on hand",
            "up to safety stock",
            "into safety stock",
            "the rest after another order",
            "one more than the rest",
            "nothing on hand",
        ],
    )
    def test_a_reservation_takes_at_most_what_is_available(
        self, on_hand: int, safety_stock: int, already: int, wanted: int, allowed: bool
    ) -> None:
        item = stock(on_hand, safety_stock)
        if already:
            item.reserve("WEB-1:1", already, at=T0)
        available = item.available

        if allowed:
            item.reserve("WEB-2:1", wanted, at=T0)
            assert item.reservations["WEB-2:1"] == wanted
            assert item.available == available - wanted
        else:
            with pytest.raises(InsufficientStockError) as refused:
                item.reserve("WEB-2:1", wanted, at=T0)
            assert (refused.value.wanted, refused.value.available) == (wanted, available)
            assert "WEB-2:1" not in item.reservations
        assert item.reserved + item.safety_stock <= item.on_hand

    def test_a_refused_reservation_records_no_event(self) -> None:
        item = stock(on_hand=3)
        item.collect_events()

        with pytest.raises(InsufficientStockError):
            item.reserve("WEB-1:1", 4, at=T0)

        assert event_names(item) == []
        assert item.version == 1

    @pytest.mark.parametrize("quantity", [0, -1])
    def test_a_reservation_needs_a_positive_quantity(self, quantity: int) -> None:
        item = stock()

        with pytest.raises(StockError, match="positive quantity"):
            item.reserve("WEB-1:1", quantity, at=T0)

        assert item.reserved == 0

    def test_the_same_order_line_cannot_reserve_twice(self) -> None:
        item = stock()
        item.reserve("WEB-1:1", 2, at=T0)

        with pytest.raises(StockError, match="already reserved"):
            item.reserve("WEB-1:1", 1, at=T0)

        assert item.reservations == {"WEB-1:1": 2}


class TestRelease:
    def test_releasing_gives_back_exactly_what_was_reserved(self) -> None:
        item = stock(on_hand=10, safety_stock=1)
        item.reserve("WEB-1:1", 3, at=T0)
        item.reserve("WEB-2:1", 4, at=T0)
        item.collect_events()

        item.release("WEB-1:1", at=T0, reason="cancelled")

        released: Any
        (released,) = item.collect_events()
        assert (type(released).__name__, released.order_id, released.quantity) == (
            "Released",
            "WEB-1:1",
            3,
        )
        assert item.reservations == {"WEB-2:1": 4}
        assert item.available == 10 - 4 - 1

    def test_releasing_an_order_that_reserved_nothing_records_nothing(self) -> None:
        item = stock()
        item.reserve("WEB-1:1", 2, at=T0)
        item.collect_events()

        item.release("WEB-9:1", at=T0, reason="cancelled")

        assert event_names(item) == []
        assert item.reservations == {"WEB-1:1": 2}


class TestCountAndAdjust:
    def test_a_count_below_what_is_reserved_is_recorded_and_leaves_nothing_available(
        self,
    ) -> None:
        item = stock(on_hand=10)
        item.reserve("WEB-1:1", 8, at=T0)

        item.count(5, None, at=T0 + timedelta(hours=1), reason="cycle count")

        assert (item.on_hand, item.reserved, item.available) == (5, 8, 0)
        with pytest.raises(InsufficientStockError):
            item.reserve("WEB-2:1", 1, at=T0)

    def test_a_repeated_snapshot_records_nothing(self) -> None:
        item = stock(on_hand=10, safety_stock=2)
        item.collect_events()

        item.count(10, None, at=T0 + timedelta(hours=1), reason="nightly feed")
        item.count(10, 2, at=T0 + timedelta(hours=2), reason="nightly feed")

        assert event_names(item) == []

    def test_a_count_may_change_safety_stock_alone(self) -> None:
        item = stock(on_hand=10, safety_stock=2)

        item.count(10, 4, at=T0, reason="planner")

        assert (item.safety_stock, item.available) == (4, 6)

    @pytest.mark.parametrize(
        ("on_hand", "safety_stock"), [(-1, None), (3, -1)], ids=["on_hand", "safety_stock"]
    )
    def test_a_negative_count_is_refused(self, on_hand: int, safety_stock: int | None) -> None:
        item = stock(on_hand=10)

        with pytest.raises(StockError, match="cannot be negative"):
            item.count(on_hand, safety_stock, at=T0, reason="feed")

        assert item.on_hand == 10

    def test_an_adjustment_cannot_take_on_hand_below_zero(self) -> None:
        item = stock(on_hand=3)

        with pytest.raises(StockError, match="cannot go down by 4"):
            item.adjust(-4, at=T0, reason="damaged")

        item.adjust(-3, at=T0, reason="damaged")
        assert item.on_hand == 0

    def test_an_adjustment_of_zero_records_nothing(self) -> None:
        item = stock()
        item.collect_events()

        item.adjust(0, at=T0, reason="nothing")

        assert event_names(item) == []

    @pytest.mark.parametrize(
        ("on_hand", "safety_stock"), [(-1, 0), (5, -2)], ids=["on_hand", "safety_stock"]
    )
    def test_a_stock_item_cannot_be_registered_with_negative_figures(
        self, on_hand: int, safety_stock: int
    ) -> None:
        with pytest.raises(StockError, match="cannot be negative"):
            stock(on_hand, safety_stock)


def test_the_id_is_the_same_for_the_same_source_and_sku() -> None:
    assert stock().id == StockItem.create_id("wh-lyon", "RED-CHAIR")
    assert StockItem.create_id("wh-lyon", "RED-CHAIR") != StockItem.create_id(
        "store-lille", "RED-CHAIR"
    )


# --- Properties: any sequence of commands ---------------------------------------------------

ORDERS = ["WEB-1:1", "WEB-2:1", "WEB-3:1", "WEB-4:2"]
commands = st.lists(
    st.one_of(
        st.tuples(
            st.just("count"),
            st.integers(0, 30),
            st.one_of(st.none(), st.integers(0, 5)),
        ),
        st.tuples(st.just("adjust"), st.integers(-12, 12)),
        st.tuples(st.just("reserve"), st.sampled_from(ORDERS), st.integers(-1, 12)),
        st.tuples(st.just("release"), st.sampled_from(ORDERS)),
    ),
    max_size=40,
)


def run(item: StockItem, command: tuple[Any, ...], at: datetime) -> None:
    """Apply one command; a refused one must be refused for the right reason, recording nothing."""
    before = state_of(item)
    kind = command[0]
    try:
        if kind == "count":
            item.count(command[1], command[2], at=at, reason="feed")
        elif kind == "adjust":
            item.adjust(command[1], at=at, reason="receipt")
        elif kind == "reserve":
            available = item.available
            item.reserve(command[1], command[2], at=at)
            assert 0 < command[2] <= available
            assert item.reserved + item.safety_stock <= item.on_hand
        else:
            quantity = item.reservations.get(command[1], 0)
            reserved = item.reserved
            item.release(command[1], at=at, reason="cancelled")
            assert item.reserved == reserved - quantity
            assert command[1] not in item.reservations
    except StockError:
        assert state_of(item) == before
        if kind == "reserve":
            order_id, quantity = command[1], command[2]
            assert quantity <= 0 or order_id in before[6] or quantity > max(0, _available(before))
        elif kind == "adjust":
            assert item.on_hand + command[1] < 0
        else:
            raise


def _available(state: tuple[Any, ...]) -> int:
    on_hand, safety_stock, reservations = state[4], state[5], state[6]
    return int(on_hand - sum(reservations.values()) - safety_stock)


@settings(max_examples=examples(300), deadline=None)
@given(on_hand=st.integers(0, 20), safety_stock=st.integers(0, 4), script=commands)
def test_no_reservation_ever_takes_more_than_was_available_when_it_was_made(
    on_hand: int, safety_stock: int, script: list[tuple[Any, ...]]
) -> None:
    item = stock(on_hand, safety_stock)
    for n, command in enumerate(script):
        run(item, command, T0 + timedelta(minutes=n))
        assert item.available == max(0, item.on_hand - item.reserved - item.safety_stock) >= 0

    history = fold(item.collect_events())
    for quantity, available_before in history.reservations_made:
        assert 0 < quantity <= available_before
    assert (history.on_hand, history.safety_stock, history.reserved) == (
        item.on_hand,
        item.safety_stock,
        item.reservations,
    )


@settings(max_examples=examples(200), deadline=None)
@given(on_hand=st.integers(0, 20), safety_stock=st.integers(0, 4), script=commands)
def test_replaying_the_events_gives_the_same_state(
    on_hand: int, safety_stock: int, script: list[tuple[Any, ...]]
) -> None:
    item = stock(on_hand, safety_stock)
    for n, command in enumerate(script):
        run(item, command, T0 + timedelta(minutes=n))
    events = list(item.pending_events)

    assert state_of(replayed(events)) == state_of(item)


@settings(max_examples=examples(50), deadline=None)
@given(on_hand=st.integers(0, 20), script=commands)
def test_the_state_read_back_from_the_event_store_is_the_state_that_was_saved(
    on_hand: int, script: list[tuple[Any, ...]]
) -> None:
    store = OrderStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    item = stock(on_hand)
    for n, command in enumerate(script):
        run(item, command, T0 + timedelta(minutes=n))
        if n % 7 == 0:
            store.save(item)  # several saves, as commands arrive over time
    store.save(item)

    loaded: StockItem = store.repository.get(item.id)

    assert state_of(loaded) == state_of(item)
    assert loaded.available == item.available
