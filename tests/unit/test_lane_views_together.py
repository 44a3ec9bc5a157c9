"""Embedded delivery: the SQL views of a lane write a batch in one transaction, and a view that
fails does not cost the others their events."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.embedded.delivery import STREAM, InProcessDelivery
from hub.services.intake import IntakeService, SubmitOrder
from hub.store import OrderStore
from projections.audit_trail import SqlAuditTrail
from projections.order_status import InMemoryOrderStatusView, SqlOrderStatusView
from projections.sqldb import Cursor, SqlDatabase
from schemas.envelope import EventEnvelope
from schemas.submission import OrderSubmission
from tests.contracts.factories import fixed_clock, submission_dict


class CountingDatabase(SqlDatabase):
    """Counts the transactions that write views."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.transactions = 0

    @contextmanager
    def transaction(self, *args: Any, **kwargs: Any) -> Iterator[Cursor]:
        if kwargs.get("writing_view") or kwargs.get("writing_views"):  # not a read of positions
            self.transactions += 1
        with super().transaction(*args, **kwargs) as cur:
            yield cur


class ChoosyTrail(SqlAuditTrail):
    """An audit trail with a bug: it cannot take one particular order."""

    refuses = ""

    def write(
        self, cur: Cursor, envelopes: Sequence[EventEnvelope], positions: dict[str, int]
    ) -> None:
        if any(env.subject == self.refuses for env in envelopes):
            raise RuntimeError("boom")
        super().write(cur, envelopes, positions)


def _setup(tmp_path: Path) -> tuple[OrderStore, CountingDatabase]:
    store = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )
    return store, CountingDatabase(f"sqlite:///{tmp_path / 'views.sqlite3'}")


def _orders(store: OrderStore, *external_ids: str) -> list[str]:
    commands = []
    for external_id in external_ids:
        submission = OrderSubmission.model_validate(submission_dict(external_id=external_id))
        commands.append(SubmitOrder(submission, submission.model_dump_json(), "channel:web", "c"))
    return [str(r.order_id) for r in IntakeService(store, fixed_clock()).place_orders(commands)]


def test_the_views_of_a_lane_commit_a_batch_together(tmp_path: Path) -> None:
    store, db = _setup(tmp_path)
    status, trail = SqlOrderStatusView(db), SqlAuditTrail(db)
    delivery = InProcessDelivery(store, [status, trail], [InMemoryOrderStatusView()], 100)
    order_id, *_ = _orders(store, "WEB-1", "WEB-2")
    db.transactions = 0

    delivery.views.catch_up()

    assert db.transactions == 1, "one transaction for both views' batch"
    assert status.get(order_id) is not None and trail.trail(order_id)
    end = store.max_position()
    assert status.positions()[STREAM] == trail.positions()[STREAM] == end


def test_a_view_that_fails_the_shared_write_leaves_the_others_whole(tmp_path: Path) -> None:
    store, db = _setup(tmp_path)
    good, bad, later = _orders(store, "WEB-1", "WEB-2", "WEB-3")
    status, trail = SqlOrderStatusView(db), ChoosyTrail(db)
    trail.refuses = bad
    parked: list[str] = []
    delivery = InProcessDelivery(
        store, [status, trail], [], 100, park=lambda _, env, __: parked.append(env.subject)
    )

    delivery.catch_up()

    assert all(status.get(o) is not None for o in (good, bad, later)), "rolled back, then whole"
    assert trail.trail(good) and trail.trail(later) and not trail.trail(bad)
    assert parked == [bad, bad], "its Placed and its Accepted"
    end = store.max_position()
    assert status.positions()[STREAM] == trail.positions()[STREAM] == end
    assert delivery.catch_up() == 0
