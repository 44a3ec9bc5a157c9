"""A lane's thread reads its followers' positions from their stores once, then keeps them:
each read is a transaction, and with routing in a second process one more turn at SQLite's
lock. After a pass that failed, or once another process moved them, it reads them again; a
caller's own catch-up always reads them."""

import threading
from collections.abc import Sequence
from pathlib import Path

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


def _delivered(lane: Lane) -> Exception | None:
    """Wait for the lane's thread to deliver what is recorded now; the pass's error, if any."""
    done = threading.Event()
    errors: list[Exception | None] = []

    def served(_: int, error: Exception | None) -> None:
        errors.append(error)
        done.set()

    lane.request(served)
    assert done.wait(10)
    return errors[0]


def test_the_lane_thread_reads_positions_once_and_keeps_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    follower = Counted()
    lane = Lane("views", DecodedLog(store, keep=100), [follower], batch_size=100)
    lane.start()
    try:
        for n in range(3):
            _place(store, f"WEB-{n}")
            assert _delivered(lane) is None
        assert follower.reads == 1
        assert follower.positions()[STREAM] == store.max_position()
        reads = follower.reads
        lane.catch_up()  # a caller's own catch-up (a tool may have reset a view)
        assert follower.reads == reads + 1, "a caller's catch-up reads them"
    finally:
        lane.stop()


def test_after_a_failed_pass_or_another_process_positions_are_read_again(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    follower = Counted()
    lane = Lane("views", DecodedLog(store, keep=100), [follower], batch_size=100)
    lane.start()
    try:
        assert _delivered(lane) is None
        _place(store, "WEB-1")
        follower.failures = 100  # the batch, each event, and even moving past them
        assert isinstance(_delivered(lane), RuntimeError)
        follower.failures = 0
        reads = follower.reads
        _place(store, "WEB-2")
        assert _delivered(lane) is None
        assert follower.reads == reads + 1, "read again after the failure"

        lane.forget_positions()
        _place(store, "WEB-3")
        assert _delivered(lane) is None
        assert follower.reads == reads + 2, "read again once told another process moved them"
        assert follower.positions()[STREAM] == store.max_position()
    finally:
        lane.stop()
