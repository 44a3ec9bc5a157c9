"""`GET /v1/orders/{id}` reads its writes: an order in the event store that the order status view
has not read yet is answered from its own events, with the row the view will hold (SQLite and
PostgreSQL); who may see it is unchanged (hub.services.order_reads)."""

import asyncio
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from hub.api.problems import ProblemError
from hub.api.routes.orders import get_order
from hub.bootstrap import Hub
from hub.services.access import Principal
from hub.services.order_reads import folded
from schemas.api import OrderPublic
from schemas.channels import Role
from tests.contracts.factories import submit_order
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, embedded_hub, stock_up

SOURCES = {"wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50})}
OPS = Principal(Role.OPS, "key-ops")


def _get(hub: Hub, order_id: UUID, principal: Principal = OPS) -> OrderPublic:
    return asyncio.run(get_order(order_id, hub, principal))


def _not_found(hub: Hub, order_id: UUID, principal: Principal = OPS) -> None:
    with pytest.raises(ProblemError) as refused:
        _get(hub, order_id, principal)
    assert refused.value.problem.status == 404


def _placed(hub: Hub, external_id: str) -> UUID:
    command = submit_order(external_id=external_id, ship_to=LYON, payment_state="authorized")
    hub.intake.place_orders([command])
    return command.order_id


def acknowledged_before_the_view(hub: Hub) -> None:
    stock_up(hub, SOURCES)
    order_id = _placed(hub, "WEB-RYW-1")
    assert hub.order_status.get(str(order_id)) is None, "the view has not read it yet"

    early = _get(hub, order_id)

    assert early.status == "accepted", "what the store's events say: accepted, not routed yet"
    assert early.order_id == str(order_id) and early.external_id == "WEB-RYW-1"
    assert hub.delivery is not None
    hub.delivery.views.catch_up()
    assert hub.order_status.get(str(order_id)) is not None
    assert _get(hub, order_id) == early, "the view's row, once it has it, is the same answer"


def routed_and_view_emptied(hub: Hub) -> None:
    stock_up(hub, SOURCES)
    order_id = _placed(hub, "WEB-RYW-2")
    hub.deliver()
    from_view = _get(hub, order_id)
    assert from_view.status == "routed"
    row = hub.order_status.get(str(order_id))
    # Every field of the row, the facts its status follows from included.
    assert folded(hub.store.events_of(str(order_id))) == row

    hub.order_status.reset()  # a view rebuilding, or far behind: it holds nothing

    assert _get(hub, order_id) == from_view


def who_may_see_it(hub: Hub) -> None:
    order_id = _placed(hub, "WEB-RYW-3")
    assert hub.order_status.get(str(order_id)) is None
    own = Principal(Role.CHANNEL, "key-web", channel_id="web-shop")
    other = Principal(Role.CHANNEL, "key-app", channel_id="mobile-app")

    assert _get(hub, order_id, own).channel == "web-shop"
    _not_found(hub, order_id, other)  # as for a row of the view: another channel's order
    _not_found(hub, uuid4())  # nothing stored, nothing in the view


def test_sqlite(tmp_path: Path, clock: Clock) -> None:
    for case in (acknowledged_before_the_view, routed_and_view_emptied, who_may_see_it):
        with closing(embedded_hub(tmp_path / case.__name__, clock, routing_process="off")) as hub:
            case(hub)


@pytest.fixture
def pg_hub(tmp_path: Path, clock: Clock, database_url: str) -> Iterator[Hub]:
    with closing(
        embedded_hub(tmp_path, clock, database_url=database_url, routing_process="off")
    ) as hub:
        yield hub


@pytest.mark.postgres
@pytest.mark.parametrize(
    "case", [acknowledged_before_the_view, routed_and_view_emptied, who_may_see_it]
)
def test_postgres(pg_hub: Hub, case: object) -> None:
    assert callable(case)
    case(pg_hub)
