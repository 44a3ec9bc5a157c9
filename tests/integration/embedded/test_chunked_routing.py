"""New orders are routed in chunks: one view of stock and one save per chunk. A conflict in a
chunk's save falls back to one by one, a failed save records nothing, and nothing is oversold."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregates import Order
from hub.bootstrap import Hub, bootstrap
from hub.services.followers import ROUTE_CHUNK
from hub.services.intake import SubmitOrder
from hub.services.orchestration import OrchestrationService
from hub.settings import Settings
from schemas.sources import StockSnapshot
from schemas.submission import OrderSubmission
from tests.contracts.factories import source_definition, submission_dict

SKU = "RED-CHAIR"


def _command(n: int) -> SubmitOrder:
    body: dict[str, Any] = submission_dict(
        external_id=f"WEB-C{n}",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": SKU, "quantity": 1, "unit_price": "19.90"}],
    )
    submission = OrderSubmission.model_validate(body)
    return SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", f"c{n}")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None))
    hub.catalog.register_source(
        source_definition("wh-lyon", daily_capacity=10_000), actor="user:admin"
    )
    hub.deliver()
    yield hub
    hub.close()


def _stock(hub: Hub, on_hand: int) -> None:
    hub.catalog.apply_stock(StockSnapshot(source_id="wh-lyon", sku=SKU, on_hand=on_hand), "user:a")
    hub.deliver()


def _saves_of_orders(hub: Hub) -> list[int]:
    """Wraps the store's save: the number of orders in each save that holds some."""
    counts: list[int] = []
    save = hub.store.save

    def counting(*objs: Any, **kwargs: Any) -> Any:
        orders = sum(1 for o in objs if isinstance(o, Order))
        if orders:
            counts.append(orders)
        return save(*objs, **kwargs)

    hub.store.save = counting  # type: ignore[method-assign]
    return counts


def _outcomes(hub: Hub, placed: list[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for result in placed:
        status = hub.store.repository.get(result.order_id).status.value
        found[status] = found.get(status, 0) + 1
    return found


def test_new_orders_are_saved_one_chunk_at_a_time(hub: Hub) -> None:
    _stock(hub, 1_000)
    count = 2 * ROUTE_CHUNK + 7
    saves = _saves_of_orders(hub)
    placed = hub.intake.place_orders([_command(n) for n in range(count)])
    hub.deliver()

    assert _outcomes(hub, placed) == {"routed": count}
    # Routing saves happen in chunks; intake's own saves (no Order yet routed) are apart.
    routing_saves = saves[-3:]
    assert routing_saves == [ROUTE_CHUNK, ROUTE_CHUNK, 7]
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and item.reserved == count


def test_a_racing_worker_takes_the_last_units_and_the_chunk_goes_one_by_one(hub: Hub) -> None:
    # 5 on hand: the default policy keeps 1 (10 %, rounded up) back, so 4 can be promised.
    _stock(hub, 5)
    rival = OrchestrationService(hub.store, hub.policies, hub.clock)
    racing = hub.intake.place_orders([_command(1000 + n) for n in range(2)])
    placed = hub.intake.place_orders([_command(n) for n in range(6)])
    save = hub.store.save
    raced = False

    def save_after_a_rival(*objs: Any, **kwargs: Any) -> Any:
        # The other worker routes two orders between this chunk's decisions and its save.
        nonlocal raced
        if not raced and sum(1 for o in objs if isinstance(o, Order)) > 1:
            raced = True
            for result in racing:
                rival.orchestrate(result.order_id)
        return save(*objs, **kwargs)

    hub.store.save = save_after_a_rival  # type: ignore[method-assign]
    hub.orchestrator.apply([env for _, env in hub.store.read_envelopes(None, 10_000)], positions={})

    assert raced
    assert _outcomes(hub, racing) == {"routed": 2}
    assert _outcomes(hub, placed) == {"routed": 2, "backordered": 4}
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and (item.reserved, item.available) == (4, 1)  # 1 kept back


@pytest.mark.parametrize("where", ["before recording", "inside the recorder"])
def test_a_failed_chunk_save_records_nothing_and_the_next_pass_routes_each_once(
    hub: Hub, where: str
) -> None:
    _stock(hub, 100)
    placed = hub.intake.place_orders([_command(n) for n in range(10)])
    failures = 0
    if where == "before recording":
        save = hub.store.save

        def crash_once(*objs: Any, **kwargs: Any) -> Any:
            nonlocal failures
            if failures == 0 and any(isinstance(o, Order) for o in objs):
                failures += 1
                raise OSError("disk went away mid-save")
            return save(*objs, **kwargs)

        hub.store.save = crash_once  # type: ignore[method-assign]
    else:
        # After the events were collected from the aggregates: what a crash in the database
        # looks like to the service.
        insert = hub.store.recorder.insert_events

        def crash_in_recorder(events: Any, **kwargs: Any) -> Any:
            nonlocal failures
            if failures == 0 and len(events) > 10:
                failures += 1
                raise OSError("disk went away mid-save")
            return insert(events, **kwargs)

        hub.store.recorder.insert_events = crash_in_recorder  # type: ignore[method-assign]
    before = hub.store.max_position()
    envelopes = [env for _, env in hub.store.read_envelopes(None, 10_000)]
    with pytest.raises(OSError):
        hub.orchestrator.apply(envelopes, positions={})
    assert failures == 1
    assert hub.store.max_position() == before  # the whole chunk or nothing

    hub.orchestrator.apply(envelopes, positions={})  # redelivered
    assert _outcomes(hub, placed) == {"routed": 10}
    item = hub.catalog.find_stock("wh-lyon", SKU)
    assert item is not None and item.reserved == 10
    # The stock item's history is whole: 10 reservations, one per order, no gap, no double.
    events = list(hub.store.events.get(item.id))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert sum(1 for e in events if type(e).__name__ == "Reserved") == 10


def _order_of(n: int, sku: str) -> SubmitOrder:
    body: dict[str, Any] = submission_dict(
        external_id=f"WEB-S{n}",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": sku, "quantity": 1, "unit_price": "19.90"}],
    )
    submission = OrderSubmission.model_validate(body)
    return SubmitOrder(submission, submission.model_dump_json(), "channel:web-shop", f"s{n}")


def test_the_sweep_retries_only_orders_whose_stock_could_now_move(hub: Hub) -> None:
    for sku in ("BLUE-LAMP", "GREEN-SOFA"):
        hub.catalog.apply_stock(
            StockSnapshot(source_id="wh-lyon", sku=sku, on_hand=0), actor="user:a"
        )
    lamp, sofa = hub.intake.place_orders([_order_of(1, "BLUE-LAMP"), _order_of(2, "GREEN-SOFA")])
    hub.deliver()
    assert _outcomes(hub, [lamp, sofa]) == {"backordered": 2}
    # Lamps arrive, but the wake-up is missed (not delivered): only the sweep can see them.
    hub.catalog.apply_stock(
        StockSnapshot(source_id="wh-lyon", sku="BLUE-LAMP", on_hand=5), actor="user:a"
    )
    tried: list[Any] = []
    many = hub.orchestration.orchestrate_many

    def counting(order_ids: list[Any]) -> Any:
        tried.extend(order_ids)
        return many(order_ids)

    hub.orchestration.orchestrate_many = counting  # type: ignore[method-assign]

    assert hub.orchestrator.sweep_backorders() == 1
    assert tried == [lamp.order_id]  # the sofa order waits for stock nobody has: left alone
    assert hub.store.repository.get(lamp.order_id).status.value == "routed"
    assert hub.store.repository.get(sofa.order_id).status.value == "backordered"
