"""Stock movements read from the log as compact rows (``MovementRows``) move the draft's world
exactly as the same movements one by one do: every kind, reservations made before the window
(shared by both worlds) and in it (the live policy's, left out by the reader), stock the
history never registered."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hub.services.what_if_pages import STOCK, _Reader
from orchestration_policies.what_if import MovementKind, MovementRows, StockMovement
from orchestration_policies.what_if_world import World

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=2)
BEFORE, IN = START - timedelta(hours=1), START + timedelta(hours=1)
K = MovementKind
TOPIC = {kind: topic for topic, kind in STOCK.items()}


def key(order: str, line: str = "L1") -> str:
    return f"{order}:ship-1:{line}"


HISTORY = [
    StockMovement(K.REGISTERED, "dc", "CHAIR", BEFORE, on_hand=10, safety_stock=1),
    StockMovement(K.REGISTERED, "dc", "TABLE", BEFORE, on_hand=4),
    StockMovement(K.REGISTERED, "shop", "CHAIR", BEFORE, on_hand=3),
    StockMovement(K.RESERVED, "dc", "CHAIR", BEFORE, quantity=2, key=key("old")),
    StockMovement(K.RESERVED, "dc", "TABLE", BEFORE, quantity=1, key=key("old", "L2")),
    StockMovement(K.RESERVED, "shop", "CHAIR", BEFORE, quantity=1, key=key("gone")),
    StockMovement(K.RESERVED, "nowhere", "CHAIR", BEFORE, quantity=1, key=key("lost")),
    StockMovement(K.RESERVED, "dc", "CHAIR", IN, quantity=3, key=key("o1")),  # the live one's
    StockMovement(K.CONSUMED, "dc", "CHAIR", IN, quantity=2, freed=0, key=key("old")),
    StockMovement(K.RELEASED, "shop", "CHAIR", IN, quantity=1, key=key("gone")),
    StockMovement(K.CONSUMED, "dc", "CHAIR", IN, quantity=3, freed=0, key=key("o1")),
    StockMovement(K.RELEASED, "dc", "TABLE", IN, quantity=1, key=key("o2")),
    StockMovement(K.CONSUMED, "nowhere", "CHAIR", IN, quantity=1, key=key("lost")),
    StockMovement(K.ADJUSTED, "dc", "TABLE", IN, delta=5),
    StockMovement(K.COUNTED, "shop", "CHAIR", IN, on_hand=7, safety_stock=2),
    StockMovement(K.ADJUSTED, "shop", "LAMP", IN, delta=5),  # never registered: ignored
    StockMovement(K.REGISTERED, "shop", "LAMP", IN, on_hand=2),
    StockMovement(K.RESERVED, "dc", "TABLE", IN, quantity=1, key=key("o3")),
    StockMovement(K.CONSUMED, "dc", "TABLE", END, quantity=1, key=key("o3")),  # after the end
]


def _world() -> World:
    world = World(START)
    # The draft's own promises: o1's chair is shipped by the live policy, o2's table released.
    world.promise("o1", [("shop", "L1", "CHAIR", 1)])
    world.promise("o2", [("dc", "L1", "TABLE", 2)])
    world.promise("o9", [("dc", "L1", "CHAIR", 1)])
    return world


def _fields(m: StockMovement) -> dict[str, Any]:
    """The stock event's fields as the log reader gives them."""
    return {
        "source_id": m.source_id,
        "sku": m.sku,
        "at": m.at,
        "on_hand": m.on_hand,
        "safety_stock": m.safety_stock,
        "delta": m.delta,
        "quantity": m.quantity,
        "freed": m.freed,
        "order_id": m.key,
    }


def _state(world: World) -> Any:
    items = {
        (source, sku): (i.on_hand, i.safety, i.shared, i.draft, i.offset, i.level())
        for source, by_sku in world.items.items()
        for sku, i in by_sku.items()
    }
    return items, world.shared, world.promises


def _rows(history: list[StockMovement], page_size: int) -> list[MovementRows]:
    log = SimpleNamespace(fields=lambda n, ids: n.fields)
    reader = _Reader(log, START, END)  # type: ignore[arg-type]
    found: list[MovementRows] = []
    for first in range(0, len(history), page_size):
        page = [
            SimpleNamespace(topic=TOPIC[m.kind], fields=_fields(m))
            for m in history[first : first + page_size]
        ]
        items = reader.read(page)  # type: ignore[arg-type]
        found.extend(MovementRows(rows) for rows in items if isinstance(rows, list))
    return found


def test_rows_move_the_world_as_the_movements_one_by_one() -> None:
    one_by_one = _world()
    for m in HISTORY:
        if m.at < END:  # the service reads the log up to the window's end
            one_by_one.move(m)
    for page_size in (len(HISTORY), 4, 1):
        in_rows = _world()
        batches = _rows(HISTORY, page_size)
        for batch in batches:
            in_rows.move_rows(batch.rows)
        assert _state(in_rows) == _state(one_by_one)
        rows = [row for batch in batches for row in batch.rows]
        assert len(rows) == len(HISTORY) - 3  # the window's reservations and what came after
    assert one_by_one.shared == {key("old", "L2"): ("dc", "TABLE", 1)}
    assert ("o1", "L1") not in one_by_one.promises and ("o2", "L1") not in one_by_one.promises
