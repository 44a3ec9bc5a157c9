"""The supply view's catch-up read on PostgreSQL: the log's end and the first page of supply
events in one statement give what the two statements gave, page after page."""

from collections.abc import Iterator
from pathlib import Path

import pytest

import hub.services.supply_view as supply_view
from hub.bootstrap import Hub
from hub.services.supply_pages import first_page
from hub.services.supply_view import TOPICS, SupplyView
from schemas.sources import StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_definition, submit_order
from tests.support.running_hub import embedded_hub

pytestmark = pytest.mark.postgres
ADMIN = "user:admin"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    the_hub = embedded_hub(tmp_path, fixed_clock(NOW), database_url)
    for n, source_id in enumerate(["wh-lyon", "wh-paris"]):
        the_hub.catalog.register_source(source_definition(source_id, lat=45.0 + n), actor=ADMIN)
        for sku in ("RED-CHAIR", "BLUE-LAMP", "GREEN-RUG"):
            the_hub.catalog.apply_stock(
                StockSnapshot(source_id=source_id, sku=sku, on_hand=3 + n), ADMIN
            )
    yield the_hub
    the_hub.close()


def _two_statements(hub: Hub, start: int, limit: int) -> tuple[int, list[tuple[int, str]]]:
    top = hub.store.max_position()
    page = hub.store.recorder.select_notifications(
        start=start, limit=limit, stop=top, topics=TOPICS, inclusive_of_start=False
    )
    return top, [(n.id, n.topic) for n in page]


def test_one_statement_reads_the_end_and_the_page_the_two_statements_read(hub: Hub) -> None:
    command = submit_order(
        external_id="WEB-P1",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": "RED-CHAIR", "quantity": 1, "unit_price": "9.90"}],
    )
    hub.intake.place_orders([command])  # order events in between: not supply
    end = hub.store.max_position()
    for start in range(end + 1):
        for limit in (1, 3, 100):
            top, page = first_page(hub.store, start, TOPICS, limit)
            assert (top, [(n.id, n.topic) for n in page]) == _two_statements(hub, start, limit)
            assert all(isinstance(n.state, bytes) and n.state for n in page)
    assert first_page(hub.store, end, TOPICS, 10) == (end, [])


def test_an_empty_log_ends_at_zero(hub: Hub) -> None:
    assert first_page(hub.store, 10**9, TOPICS, 10)[1] == []
    assert first_page(hub.store, 0, ["no.such.Topic"], 10) == (hub.store.max_position(), [])


def test_a_view_caught_up_page_by_page_equals_one_caught_up_at_once(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_once = SupplyView(hub.store)
    at_once.refresh()
    monkeypatch.setattr(supply_view, "PAGE", 2)  # eight supply events: several full pages
    paged = SupplyView(hub.store)

    assert paged.refresh() == at_once.applied > 2
    assert paged.snapshot() == at_once.snapshot()
    assert paged.position == at_once.position == hub.store.max_position()
    assert paged.refresh() == 0
