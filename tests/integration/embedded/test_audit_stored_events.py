"""The hub's audit trail reads its order lines from the event store (SQLite and PostgreSQL):
the same lines as the events' own envelopes give, none of them kept in the view."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from hub.bootstrap import Hub
from projections.audit_trail import data_text
from schemas.event_types import EventType
from tests.contracts.factories import submit_order
from tests.contracts.order_search_contract import LYON
from tests.support.running_hub import Clock, embedded_hub, stock_up

SOURCES = {"wh-lyon": (45.75, 4.85, {"RED-CHAIR": 50, "BLUE-LAMP": 50})}


def routed_order_trail(hub: Hub) -> None:
    stock_up(hub, SOURCES)
    command = submit_order(external_id="WEB-7", ship_to=LYON, payment_state="authorized")
    hub.intake.place_orders([command])
    hub.deliver()
    order_id = str(command.order_id)
    events = [env for _, env in hub.store.read_envelopes(None, 100_000) if env.subject == order_id]

    lines = hub.audit.trail(order_id)

    assert EventType.ORDER_ROUTED in {e.type for e in events}
    assert [(e.event_id, e.data) for e in lines] == [(e.id, data_text(e.data)) for e in events]
    with hub.views_db.transaction() as cur:
        cur.execute("SELECT COUNT(*) FROM audit_trail WHERE order_id = ?", (order_id,))
        kept = cur.fetchone()
    assert kept is not None and int(kept[0]) == 0


def test_sqlite(tmp_path: Path, clock: Clock) -> None:
    with closing(embedded_hub(tmp_path, clock)) as hub:
        routed_order_trail(hub)


@pytest.fixture
def pg_hub(tmp_path: Path, clock: Clock, database_url: str) -> Iterator[Hub]:
    with closing(embedded_hub(tmp_path, clock, database_url=database_url)) as hub:
        yield hub


@pytest.mark.postgres
def test_postgres(pg_hub: Hub) -> None:
    routed_order_trail(pg_hub)
