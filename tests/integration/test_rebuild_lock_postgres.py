"""A rebuild on PostgreSQL holds the view: a live consumer's write waits until the replay is
done, so the replay never skips history the live write would have jumped ahead of."""

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hub.bootstrap import Hub
from projections.exceptions import ExceptionQuery
from schemas.fulfillment import UpdateKind
from tests.contracts.factories import NOW
from tests.contracts.order_search_contract import record_all
from tests.integration.embedded.test_ops_actions import place
from tests.integration.embedded.test_review_ops import ALICE, SOURCES
from tests.support.running_hub import Clock, embedded_hub, stock_up

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_hub(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path / "hub", Clock(NOW), database_url=database_url)) as hub:
        stock_up(hub, SOURCES)
        yield hub


class _LiveWorkerMeanwhile:
    """The event store as the rebuild reads it; at its second batch a live consumer, in
    another thread, applies the order's newest event to the same view."""

    def __init__(self, hub: Hub, view: Any, order_id: str) -> None:
        self._hub, self._view, self._order_id = hub, view, order_id
        self._calls = 0
        self.live_done = threading.Event()
        self.waited_while_rebuilding = False
        self.thread: threading.Thread | None = None

    def read_envelopes(self, after: int | None, limit: int) -> list[Any]:
        self._calls += 1
        if self._calls == 2:
            newest = [
                env
                for _, env in self._hub.store.read_envelopes(None, 100_000)
                if env.subject == self._order_id
            ][-1]

            def live() -> None:
                self._view.apply([newest], {"orderhub.orders.events:0": 99})
                self.live_done.set()

            self.thread = threading.Thread(target=live)
            self.thread.start()
            self.waited_while_rebuilding = not self.live_done.wait(0.5)
        return self._hub.store.read_envelopes(after, limit)


@pytest.mark.parametrize("name", ["order_status", "exceptions"])
def test_a_live_write_waits_for_the_rebuild_and_the_rows_equal_the_live_ones(
    pg_hub: Hub, name: str
) -> None:
    hub = pg_hub
    order_id = place(hub, payment_state="pending")  # held: an on_hold exception
    hub.ops.release_hold(order_id, "paid by phone", ALICE)
    hub.deliver()
    record_all(hub, order_id, UpdateKind.SHIPPED)
    hub.deliver()
    view = {"order_status": hub.order_status, "exceptions": hub.exceptions}[name]

    def rows() -> object:
        if name == "order_status":
            return hub.order_status.get(str(order_id))
        return hub.exceptions.queue(ExceptionQuery(order_id=str(order_id), state="all")).rows

    live = rows()
    first = next(
        pos for pos, env in hub.store.read_envelopes(None, 100_000) if env.subject == str(order_id)
    )
    store = _LiveWorkerMeanwhile(hub, view, str(order_id))

    # The hub's rebuild with the store that lets a live worker write meanwhile.
    Hub.rebuild(SimpleNamespace(store=store, views_db=hub.views_db), view, batch_size=first)  # type: ignore[arg-type]

    assert store.thread is not None
    store.thread.join(10)
    assert store.waited_while_rebuilding, "the live write went through during the rebuild"
    assert store.live_done.is_set()
    assert rows() == live
