"""A supply history for tests: events of every kind the supply view follows, made through
the hub's services as a user would (also drawn at random, for property tests), and a store
that counts what a view reads of its log."""

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification
from hypothesis import strategies as st

from hub.bootstrap import Hub
from hub.store import OrderStore
from schemas.sources import StockDelta, StockSnapshot
from tests.contracts.factories import source_definition, submit_order
from tests.support.running_hub import Clock

ADMIN = "user:admin"
SOURCES = ["wh-lyon", "wh-paris", "store-lille", "wh-lille"]
SKUS = ["RED-CHAIR", "BLUE-LAMP", "OAK-TABLE"]
POLICY = """
id: nothing-kept-back
version: {version}
name: Nothing kept back
holds: []
split:
  max_shipments: 2
backorder: allow
"""


class History:
    """Supply events of every kind, made through the hub's services as a user would."""

    def __init__(self, hub: Hub, clock: Clock) -> None:
        self.hub, self.clock = hub, clock
        self.orders = 0
        self.policy_version = 1

    def stock(self, source: int, sku: int, on_hand: int) -> None:
        snapshot = StockSnapshot(source_id=SOURCES[source], sku=SKUS[sku], on_hand=on_hand)
        self.hub.catalog.apply_stock(snapshot, ADMIN)

    def receive(self, source: int, sku: int, units: int) -> None:
        delta = StockDelta(source_id=SOURCES[source], sku=SKUS[sku], delta=units, reason="receipt")
        self.hub.catalog.apply_stock(delta, ADMIN)

    def order(self, sku: int, quantity: int) -> None:
        self.orders += 1
        line = {"line_id": "1", "sku": SKUS[sku], "quantity": quantity, "unit_price": "19.90"}
        command = submit_order(
            external_id=f"WEB-{self.orders}", payment_state="authorized", lines=[line]
        )
        (placed,) = self.hub.intake.place_orders([command])
        self.hub.orchestration.orchestrate_many([placed.order_id])

    def settle(self, source: int, sku: int, ship: bool) -> None:
        """The first reservation at a source shipped (one unit) or given back."""
        item = self.hub.catalog.find_stock(SOURCES[source], SKUS[sku])
        if item is None or not item.reservations:
            return
        key = sorted(item.reservations)[0]
        if ship:
            item.consume(key, 1, at=self.clock())
        else:
            item.release(key, at=self.clock(), reason="cancelled")
        self.hub.store.save(item)

    def toggle(self, source: int) -> None:
        view = self.hub.orchestration.supply
        view.refresh()
        known = view.source(SOURCES[source])
        if known is not None and known.active:
            self.hub.catalog.pause_source(SOURCES[source], "stock take", ADMIN)
        else:
            self.hub.catalog.resume_source(SOURCES[source], ADMIN)

    def redefine(self, source: int, lat: float) -> None:
        self.hub.catalog.register_source(source_definition(SOURCES[source], lat=lat), ADMIN)

    def publish(self) -> None:
        self.policy_version += 1
        self.hub.policies.publish(POLICY.format(version=self.policy_version), actor=ADMIN)

    def next_day(self) -> None:
        self.clock.advance(days=1)

    def run(self, steps: Sequence[tuple[Any, ...]]) -> None:
        for name, *args in steps:
            getattr(self, name)(*args)


SOURCE, SKU = st.integers(0, len(SOURCES) - 1), st.integers(0, len(SKUS) - 1)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("stock"), SOURCE, SKU, st.integers(0, 6)),
        st.tuples(st.just("receive"), SOURCE, SKU, st.integers(1, 4)),
        st.tuples(st.just("order"), SKU, st.integers(1, 3)),
        st.tuples(st.just("order"), SKU, st.integers(1, 3)),
        st.tuples(st.just("settle"), SOURCE, SKU, st.booleans()),
        st.tuples(st.just("toggle"), SOURCE),
        st.tuples(st.just("redefine"), SOURCE, st.floats(40, 50, allow_nan=False)),
        st.tuples(st.just("publish")),
        st.tuples(st.just("next_day")),
    ),
    max_size=14,
)


class CountingStore:
    """The store as a view reads it, counting the notifications read; with `until`, the log as
    it was at that position."""

    def __init__(self, store: OrderStore, until: int | None = None) -> None:
        self._store, self._until = store, until
        self.mapper = store.mapper
        self.recorder = self
        self.read = 0
        self.lowest_start: int | None = None

    def max_position(self) -> int:
        end = self._store.max_position()
        return end if self._until is None else min(end, self._until)

    def select_notifications(self, start: int | None, limit: int, **kwargs: Any) -> Any:
        if self._until is not None:
            kwargs["stop"] = min(kwargs.get("stop") or self._until, self._until)
        page: list[Notification] = self._store.recorder.select_notifications(start, limit, **kwargs)
        self.read += len(page)
        if start is not None:
            self.lowest_start = (
                start if self.lowest_start is None else min(start, self.lowest_start)
            )
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
