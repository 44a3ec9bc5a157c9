"""The backorder view: an order's last routing decides its waiting lines, however the events of a
batch are grouped (each batch is written with one DELETE and one INSERT)."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import backorders
from projections.backorders import _ADDED, SqlBackorderView
from projections.sqldb import SqlDatabase
from schemas.envelope import Actor, EventEnvelope
from schemas.event_types import EventType

RANK = {"vip": 0, "standard": 1}


def routed(
    order: str,
    sequence: int,
    waiting: Sequence[tuple[str, str, int]],
    unroutable: str | None = None,
    demand_class: str = "standard",
    placed_at: str = "2026-11-20T08:00:00Z",
) -> EventEnvelope:
    data: dict[str, Any] = {
        "demand_class": demand_class,
        "placed_at": placed_at,
        "waiting_lines": [{"line_id": i, "sku": s, "quantity": q} for i, s, q in waiting],
        "unroutable_reason": unroutable,
    }
    return _envelope(order, sequence, EventType.ORDER_ROUTED, data)


def _envelope(order: str, sequence: int, kind: str, data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        id=f"{order}:{sequence}",
        source="/orderhub/orders",
        type=kind,
        subject=order,
        time=datetime(2026, 11, 20, 9, tzinfo=UTC),
        sequence=sequence,
        correlationid=order,
        causationid=order,
        actor=Actor.parse("system:orchestrator"),
        schemaversion=1,
        data=data,
    )


@pytest.fixture
def view(tmp_path: Path) -> Iterator[SqlBackorderView]:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    yield SqlBackorderView(db)
    db.close()


def test_the_last_routing_of_an_order_in_a_batch_decides_its_waiting_lines(
    view: SqlBackorderView,
) -> None:
    view.apply(
        [
            routed("o1", 3, [("1", "SKU-A", 2), ("2", "SKU-B", 1)]),
            routed("o2", 3, [("1", "SKU-A", 1)], demand_class="vip"),
            routed("o1", 5, [("2", "SKU-B", 1)]),
        ],
        {"orders:0": 10},
    )

    assert view.waiting_for("SKU-A", RANK) == ["o2"]
    assert view.waiting_for("SKU-B", RANK) == ["o1"]
    assert view.positions() == {"orders:0": 10}


def test_a_routing_with_nothing_waiting_or_unroutable_clears_the_order(
    view: SqlBackorderView,
) -> None:
    view.apply([routed("o1", 3, [("1", "SKU-A", 2)]), routed("o2", 3, [("1", "SKU-A", 1)])], {})

    view.apply(
        [
            routed("o1", 5, []),
            _envelope("o3", 2, EventType.ORDER_ACCEPTED, {}),
            routed("o2", 5, [("1", "SKU-A", 1)], unroutable="no source ships to AQ"),
        ],
        {"orders:0": 20},
    )

    assert view.waiting_for("SKU-A", RANK) == []
    assert view.all_waiting(RANK) == []
    assert view.positions() == {"orders:0": 20}


def test_a_cancellation_takes_the_order_out_of_the_waiting_pile_in_its_batch_or_a_later_one(
    view: SqlBackorderView,
) -> None:
    # o1 shipped in part and waits for the rest; its rest is cancelled: no Routed follows.
    cancelled = {"reason": "gave up", "withdrawn": [], "withdrawn_from": {}}
    view.apply([routed("o1", 3, [("2", "SKU-A", 2)]), routed("o2", 3, [("1", "SKU-A", 1)])], {})
    view.apply(
        [
            routed("o3", 3, [("1", "SKU-B", 1)]),
            _envelope("o3", 4, EventType.ORDER_CANCELLATION_REQUESTED, cancelled),
        ],
        {},
    )
    assert view.waiting_for("SKU-B", RANK) == []

    view.apply([_envelope("o1", 6, EventType.ORDER_CANCELLATION_REQUESTED, cancelled)], {})

    assert view.waiting_for("SKU-A", RANK) == ["o2"]
    assert view.all_waiting(RANK) == [("o2", frozenset({"SKU-A"}))]


def test_a_batch_of_more_orders_than_one_statement_takes_is_written_whole(
    view: SqlBackorderView,
) -> None:
    orders = [f"o{n:04d}" for n in range(1_203)]
    view.apply([routed(o, 3, [("1", "SKU-A", 1)]) for o in orders], {})

    view.apply([routed(o, 5, [("1", "SKU-B", 1)]) for o in orders], {})

    assert view.waiting_for("SKU-A", RANK) == []
    assert sorted(view.waiting_for("SKU-B", RANK)) == orders


def test_holds_and_releases_of_more_orders_than_one_statement_takes_are_all_applied(
    view: SqlBackorderView,
) -> None:
    orders = [f"o{n:04d}" for n in range(1_203)]
    view.apply([routed(o, 3, [("1", "SKU-A", 1)]) for o in orders], {})
    view.apply([hold(o, 4) for o in orders], {})
    assert view.waiting_for("SKU-A", RANK) == []

    # Every other order released, the rest held again (already so): one batch.
    view.apply([hold(o, 5, released=n % 2 == 0) for n, o in enumerate(orders)], {})

    assert sorted(view.waiting_for("SKU-A", RANK)) == orders[::2]
    assert {view.lines_of(o)[0][3] for o in orders[1::2]} == {True}


def test_who_waits_for_many_skus_is_read_at_once_each_sku_in_serving_order(
    view: SqlBackorderView,
) -> None:
    skus = [f"SKU-{n:04d}" for n in range(1_203)]  # more than one statement takes
    view.apply(
        [
            routed("o1", 3, [("1", "SKU-0000", 2), ("2", "SKU-0000", 1), ("3", "SKU-1202", 1)]),
            routed("o2", 3, [("1", "SKU-0000", 1)], placed_at="2026-11-19T08:00:00Z"),
            routed("o3", 3, [("1", "SKU-0000", 1)], demand_class="vip"),
        ],
        {},
    )

    waiting = view.waiting_for_many([*skus, "SKU-0000"], RANK)

    assert waiting == {"SKU-0000": ["o3", "o2", "o1"], "SKU-1202": ["o1"]}
    assert all(waiting[sku] == view.waiting_for(sku, RANK) for sku in waiting)
    # With each order every SKU it waits for, as the whole view gives them.
    both = frozenset({"SKU-0000", "SKU-1202"})
    assert view.waiters_of(["SKU-1202"], RANK) == {"SKU-1202": [("o1", both)]}
    whole = dict(view.all_waiting(RANK))
    assert view.waiters_of(skus, RANK)["SKU-0000"] == [(o, whole[o]) for o in ["o3", "o2", "o1"]]


routings = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3"]),
        st.lists(
            st.tuples(st.sampled_from(["1", "2", "3"]), st.sampled_from(["SKU-A", "SKU-B"])),
            max_size=3,
            unique_by=lambda line: line[0],
        ),
        st.booleans(),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(routings=routings, cut=st.integers(min_value=0, max_value=12))
def test_any_grouping_into_batches_gives_the_same_view_as_one_event_at_a_time(
    tmp_path_factory: pytest.TempPathFactory,
    routings: list[tuple[str, list[tuple[str, str]], bool]],
    cut: int,
) -> None:
    events = [
        routed(order, n + 1, [(i, sku, 1) for i, sku in lines], "none" if unroutable else None)
        for n, (order, lines, unroutable) in enumerate(routings)
    ]
    folder = tmp_path_factory.mktemp("backorders")
    one_db, batched_db = (SqlDatabase(f"sqlite:///{folder / n}.sqlite3") for n in ("a", "b"))
    one, batched = SqlBackorderView(one_db), SqlBackorderView(batched_db)
    try:
        for env in events:
            one.apply([env], {})
        batched.apply(events[:cut], {})
        batched.apply(events[cut:], {})

        assert batched.all_waiting(RANK) == one.all_waiting(RANK)
    finally:
        one_db.close()
        batched_db.close()


def hold(order: str, sequence: int, released: bool = False) -> EventEnvelope:
    kind = EventType.ORDER_HOLD_RELEASED if released else EventType.ORDER_HELD
    return _envelope(order, sequence, kind, {"rule": "manual_review", "reason": "odd address"})


HELD_HISTORY = [
    routed("o1", 3, [("1", "A", 2), ("2", "B", 1)]),
    routed("o2", 3, [("1", "A", 1)]),
    hold("o1", 4),  # a rule held it at its next routing: its lines wait for a person
    hold("o2", 4),
    hold("o2", 5, released=True),
    routed("o3", 3, [("1", "B", 1)]),
    hold("o3", 4),
    routed("o3", 6, [("1", "B", 1)]),  # released and routed again in the same batch
]


@pytest.mark.parametrize("cut", range(len(HELD_HISTORY) + 1))
def test_a_held_order_is_listed_as_held_not_as_waiting_for_stock(tmp_path: Path, cut: int) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    view = SqlBackorderView(db)
    try:
        view.apply(HELD_HISTORY[:cut], {})
        view.apply(HELD_HISTORY[cut:], {})

        assert view.lines_of("o1") == [("1", "A", 2, True, None), ("2", "B", 1, True, None)]
        assert view.lines_of("o2") == [("1", "A", 1, False, None)]
        assert view.lines_of("o3") == [("1", "B", 1, False, None)]
        # Only a release moves a held order: a restock or a sweep does not read it.
        assert [o for o, _ in view.all_waiting(RANK)] == ["o2", "o3"]
        assert view.waiting_for_many(["A", "B"], RANK) == {"A": ["o2"], "B": ["o3"]}
        view.apply([hold("o1", 5, released=True)], {})
        assert view.waiting_for_many(["A"], RANK) == {"A": ["o1", "o2"]}
    finally:
        db.close()


def test_a_line_no_holder_may_ship_says_why_and_is_still_woken_by_stock(
    view: SqlBackorderView,
) -> None:
    stuck = routed("o1", 3, [("1", "A", 2), ("2", "B", 1)])
    stuck.data["unfulfillable"] = {"2": "every holder of B: no same-day shipping"}
    view.apply([stuck], {})

    assert view.lines_of("o1") == [
        ("1", "A", 2, False, None),
        ("2", "B", 1, False, "every holder of B: no same-day shipping"),
    ]
    # Stock registered at a new holder may let it ship: still among who waits for B.
    assert view.waiting_for_many(["B"], RANK) == {"B": ["o1"]}


# The table as releases before `held` and `unfulfillable` made it.
OLD_DDL = "\n".join(
    line for line in backorders._DDL.splitlines() if not line.lstrip().startswith(tuple(_ADDED))
)


def made_by_an_earlier_release(db: SqlDatabase) -> None:
    """The table as a release before `held` and `unfulfillable` made it, an order held."""
    with db.transaction() as cur:
        cur.execute(OLD_DDL)
        cur.executemany(
            "INSERT INTO backorder_lines VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("o1", "1", "A", 2, "standard", "2026-11-20T08:00:00Z"),
                ("o2", "1", "A", 1, "vip", "2026-11-20T09:00:00Z"),
            ],
        )
        cur.execute("CREATE TABLE order_status (order_id TEXT PRIMARY KEY, status TEXT NOT NULL)")
        cur.executemany(
            "INSERT INTO order_status VALUES (?, ?)", [("o1", "held"), ("o2", "backordered")]
        )


def check_migrated(db: SqlDatabase) -> None:
    view = SqlBackorderView(db)
    assert view.lines_of("o1") == [("1", "A", 2, True, None)]
    assert view.lines_of("o2") == [("1", "A", 1, False, None)]
    assert view.waiting_for_many(["A"], RANK) == {"A": ["o2"]}
    view.apply([routed("o3", 3, [("1", "A", 1)])], {})
    assert view.waiting_for_many(["A"], RANK) == {"A": ["o2", "o3"]}
    assert SqlBackorderView(db).lines_of("o1") == [("1", "A", 2, True, None)], "once"


def test_a_table_made_by_an_earlier_release_gains_the_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")
    try:
        made_by_an_earlier_release(db)
        check_migrated(db)
    finally:
        db.close()
