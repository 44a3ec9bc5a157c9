"""benchmarks.pg_history's long history, so that what it measures on stays what it says: the
seed's orders repeated under new ids, older, ended as the soak ends them, every order's events
and view rows with them, the network's events not."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from benchmarks.pg_history import SEARCH, grow
from hub.bootstrap import Hub
from hub.services.intake import SubmitOrder
from schemas.sources import StockSnapshot
from tests.contracts.factories import NOW, fixed_clock, source_definition, submit_order
from tests.support.running_hub import embedded_hub

pytestmark = pytest.mark.postgres
ADMIN = "user:admin"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    the_hub = embedded_hub(tmp_path, fixed_clock(NOW), database_url)
    the_hub.catalog.register_source(source_definition("wh-lyon", lat=45.0), actor=ADMIN)
    the_hub.catalog.apply_stock(
        StockSnapshot(source_id="wh-lyon", sku="RED-CHAIR", on_hand=1), ADMIN
    )
    yield the_hub
    the_hub.close()


def _order(n: int, sku: str) -> SubmitOrder:
    return submit_order(
        external_id=f"WEB-H{n}",
        payment_state="authorized",
        lines=[{"line_id": "1", "sku": sku, "quantity": 1, "unit_price": "9.90"}],
    )


def _counts(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "orders": one("SELECT count(*) FROM order_status"),
            "order ids": one("SELECT count(DISTINCT order_id) FROM order_status"),
            "order events": one(
                "SELECT count(*) FROM orderhub_events WHERE topic LIKE 'aggregates.order:%'"
            ),
            "order aggregates": one(
                "SELECT count(DISTINCT originator_id) FROM orderhub_events "
                "WHERE topic LIKE 'aggregates.order:%'"
            ),
            "other events": one(
                "SELECT count(*) FROM orderhub_events WHERE topic NOT LIKE 'aggregates.order:%' "
                "AND topic NOT LIKE 'aggregates.decision_inputs:RecordedInputs%'"
            ),
            "sku rows": one("SELECT count(*) FROM order_status_skus"),
            "statuses": dict(conn.execute("SELECT status, count(*) FROM order_status GROUP BY 1")),
            "oldest": one("SELECT min(placed_at) FROM order_status"),
        }


def _waiting(statuses: dict[str, int]) -> int:
    return sum(statuses.get(s, 0) for s in SEARCH.status)


def test_the_seed_is_repeated_under_new_ids_older_and_ended(hub: Hub, database_url: str) -> None:
    # One order for stock the source holds, one for a SKU no source holds (it waits).
    hub.intake.place_orders([_order(1, "RED-CHAIR"), _order(2, "BLUE-LAMP")])
    assert hub.deliver()  # decided, and the views written
    before = _counts(database_url)
    waiting = _waiting(before["statuses"])
    assert before["orders"] == 2 and waiting >= 1, before

    grow(database_url, seed=2, history=6)

    after = _counts(database_url)
    assert {
        "orders": after["orders"],
        "order ids": after["order ids"],
        "order events": after["order events"],
        "order aggregates": after["order aggregates"],
        "other events": after["other events"],  # the network is not repeated
        "sku rows": after["sku rows"],
        "copies older": after["oldest"] < before["oldest"],
        # The copies ended as a soak's do: what waited was cancelled; only the seed waits.
        "waiting": _waiting(after["statuses"]),
        "cancelled": after["statuses"].get("cancelled", 0),
    } == {
        "orders": 6,
        "order ids": 6,
        "order events": 3 * before["order events"],
        "order aggregates": 6,
        "other events": before["other events"],
        "sku rows": 3 * before["sku rows"],
        "copies older": True,
        "waiting": waiting,
        "cancelled": 2 * waiting,
    }
