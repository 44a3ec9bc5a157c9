"""A chunk of new orders reads its orders in one query (OrderStore.get_many), and reserves on
stock items known by the supply view's totals, read from no store (stock_reservations); the
items' versions as the view had them stay what the save checks, so a rival taking the last
units between the view's refresh and the save still oversells nothing. SQLite and PostgreSQL
event stores."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from aggregates import Order
from aggregates.stock import StockItem
from hub.bootstrap import Hub, bootstrap
from hub.services.orchestration import OrchestrationService
from hub.settings import Settings
from schemas.sources import StockSnapshot
from tests.contracts.factories import source_definition
from tests.integration.embedded.test_chunked_routing import SKU, _command, _outcomes

OTHER_SKU = "BLUE-LAMP"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=url))
    for source_id in ("wh-lyon", "wh-paris"):
        hub.catalog.register_source(
            source_definition(source_id, daily_capacity=10_000), actor="user:admin"
        )
    hub.deliver()
    yield hub
    hub.close()


def _stock(hub: Hub, source_id: str, sku: str, on_hand: int) -> None:
    snapshot = StockSnapshot(source_id=source_id, sku=sku, on_hand=on_hand)
    hub.catalog.apply_stock(snapshot, "user:a")
    hub.deliver()


def _reads(hub: Hub) -> tuple[list[list[type]], list[type]]:
    """Wraps the store's reads: the kinds each get_many returned, and of each read alone."""
    many_reads: list[list[type]] = []
    single_reads: list[type] = []
    get_many = hub.store.get_many

    def many(ids: Any, kind: Any = None) -> Any:
        found = get_many(ids, kind)
        many_reads.append([type(a) for a in found.values()])
        return found

    def spy(repository: Any) -> None:
        get = repository.get

        def one(aggregate_id: UUID, **kwargs: Any) -> Any:
            found = get(aggregate_id, **kwargs)
            single_reads.append(type(found))
            return found

        repository.get = one

    hub.store.get_many = many  # type: ignore[method-assign]
    spy(hub.store.repository)
    spy(hub.store.repository_for(StockItem))  # stock items load through their snapshots
    return many_reads, single_reads


def test_a_chunk_reads_its_orders_in_one_query_and_no_stock_item(hub: Hub) -> None:
    for source_id in ("wh-lyon", "wh-paris"):
        _stock(hub, source_id, SKU, 2)  # 1 promisable each (10 % kept back, rounded up)
    placed = hub.intake.place_orders([_command(n) for n in range(4)])
    many_reads, single_reads = _reads(hub)
    hub.deliver()
    routing_single_reads = list(single_reads)

    assert _outcomes(hub, placed) == {"routed": 2, "backordered": 2}
    assert many_reads == [[Order] * 4]  # the items reserved on: the view's totals
    # Routing read no order and no stock item alone (other followers may read other kinds).
    assert not {Order, StockItem} & set(routing_single_reads), routing_single_reads


def test_a_rival_taking_the_last_units_between_the_read_and_the_save_oversells_nothing(
    hub: Hub,
) -> None:
    # 5 on hand: the default policy keeps 1 back, so 4 can be promised.
    _stock(hub, "wh-lyon", SKU, 5)
    rival = OrchestrationService(hub.store, hub.policies, hub.clock)
    racing = hub.intake.place_orders([_command(1000 + n) for n in range(2)])
    placed = hub.intake.place_orders([_command(n) for n in range(6)])
    get_many = hub.store.get_many
    raced = False

    def read_then_rival(ids: Any, kind: Any = None) -> Any:
        # The other worker routes two orders right after this chunk refreshed its view and read
        # its orders: the chunk decides and reserves at the item's version the view had.
        nonlocal raced
        found = get_many(ids, kind)
        if not raced and any(isinstance(a, Order) for a in found.values()):
            raced = True
            for result in racing:
                rival.orchestrate(result.order_id)
        return found

    hub.store.get_many = read_then_rival  # type: ignore[method-assign]
    envelopes = [env for _, env in hub.store.read_envelopes(None, 10_000)]
    chunk = [env for env in envelopes if UUID(env.subject) in {p.order_id for p in placed}]
    hub.orchestrator.apply(chunk, positions={})

    assert raced
    assert _outcomes(hub, racing) == {"routed": 2}
    # The chunk's save failed on the item's version; one by one, the orders re-read it.
    assert _outcomes(hub, placed) == {"routed": 2, "backordered": 4}
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and (item.reserved, item.available) == (4, 1)
    assert len(item.reservations) == 4
