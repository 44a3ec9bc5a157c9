"""A lane reads its followers' positions from their stores once, then keeps them: each read is
a transaction, and with routing in a second process one more turn at SQLite's lock. After a
pass that failed, or once another process moved them, it reads them again."""

from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.embedded.decoded_log import DecodedLog
from hub.embedded.delivery import STREAM
from hub.embedded.lane import Lane
from hub.services.intake import IntakeService, SubmitOrder
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.envelope import EventEnvelope
from schemas.submission import OrderSubmission
from tests.contracts.factories import fixed_clock, submission_dict


class Counted(InMemoryOrderStatusView):
    """Counts reads of its positions; fails its next `failures` applies."""

    name = "counted"

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.failures = 0

    def positions(self) -> dict[str, int]:
        self.reads += 1
        return super().positions()

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("disk full")
        super().apply(envelopes, positions)


def _store(tmp_path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )


def _place(store: OrderStore, external_id: str) -> None:
    submission = OrderSubmission.model_validate(submission_dict(external_id=external_id))
    command = SubmitOrder(submission, submission.model_dump_json(), "channel:web", "c")
    IntakeService(store, fixed_clock()).place_orders([command])


def test_positions_are_read_once_and_kept_across_passes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    follower = Counted()
    lane = Lane("views", DecodedLog(store, keep=100), [follower], batch_size=100)

    for n in range(3):
        _place(store, f"WEB-{n}")
        lane.catch_up()

    assert follower.reads == 1
    assert follower.positions()[STREAM] == store.max_position()


def test_after_a_failed_pass_or_another_process_positions_are_read_again(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    follower = Counted()
    lane = Lane("views", DecodedLog(store, keep=100), [follower], batch_size=100)
    lane.catch_up()
    _place(store, "WEB-1")
    follower.failures = 100  # the batch, each event, and even moving past them

    with pytest.raises(RuntimeError):
        lane.catch_up()
    follower.failures = 0
    reads = follower.reads
    lane.catch_up()
    assert follower.reads == reads + 1, "read again after the failure"

    lane.forget_positions()
    lane.catch_up()
    assert follower.reads == reads + 2, "read again once told another process moved them"
