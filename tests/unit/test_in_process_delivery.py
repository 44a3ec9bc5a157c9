"""Embedded delivery: a follower that cannot handle an event never blocks what follows."""

from collections.abc import Sequence
from pathlib import Path

from hub.delivery import STREAM, InProcessDelivery
from hub.services.intake import IntakeService, SubmitOrder
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.envelope import EventEnvelope
from schemas.submission import OrderSubmission
from tests.contracts.factories import fixed_clock, submission_dict


class Choosy(InMemoryOrderStatusView):
    """A read model with a bug: it cannot take one particular order."""

    name = "choosy"

    def __init__(self, refuses: str) -> None:
        super().__init__()
        self.refuses = refuses

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        if any(env.subject == self.refuses for env in envelopes):
            raise RuntimeError("boom")
        super().apply(envelopes, positions)


def _orders(store: OrderStore, *external_ids: str) -> list[str]:
    intake = IntakeService(store, fixed_clock())
    commands = []
    for external_id in external_ids:
        submission = OrderSubmission.model_validate(submission_dict(external_id=external_id))
        commands.append(SubmitOrder(submission, submission.model_dump_json(), "channel:web", "c"))
    return [str(r.order_id) for r in intake.place_orders(commands)]


def test_an_event_a_follower_cannot_handle_is_parked_and_the_rest_are_delivered(
    tmp_path: Path,
) -> None:
    store = OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )
    good, bad, later = _orders(store, "WEB-1", "WEB-2", "WEB-3")
    follower = Choosy(refuses=bad)
    parked: list[tuple[str, str]] = []
    delivery = InProcessDelivery(
        store, [follower], batch_size=100, park=lambda name, env, _: parked.append((name, env.id))
    )

    delivery.catch_up()

    assert follower.get(good) is not None and follower.get(later) is not None
    assert follower.get(bad) is None
    assert [name for name, _ in parked] == ["choosy", "choosy"], "its Placed and its Accepted"
    assert follower.positions()[STREAM] == store.max_position(), "moved past the bad ones"
    assert delivery.catch_up() == 0, "nothing is retried for ever"
