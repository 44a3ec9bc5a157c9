"""IntakeService: record submissions in batches, duplicates and conflicts caught by the store."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregates import OrderStatus, order_id_for
from hub.services.intake import IntakeService, Outcome, submission_digest
from hub.store import OrderStore
from schemas.event_types import EventType
from tests.contracts.factories import (
    NOW,
    fixed_clock,
    in_the_future,
    popo_store,
    sqlite_store,
    submission,
    submission_dict,
    submit_order,
)

CHANGED_LINES = [{"line_id": "1", "sku": "RED-CHAIR", "quantity": 5, "unit_price": "19.90"}]


@pytest.fixture(params=["popo", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    the_store = popo_store() if request.param == "popo" else sqlite_store(tmp_path / "events.db")
    yield the_store
    the_store.close()


@pytest.fixture
def intake(store: OrderStore) -> IntakeService:
    return IntakeService(store, fixed_clock(NOW))


def _events(store: OrderStore) -> list[tuple[str, str]]:
    return [(env.subject, env.type) for _, env in store.read_envelopes(None, 1000)]


class TestANewOrder:
    def test_is_created_and_accepted_with_its_digest(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        command = submit_order()

        result = intake.place_order(command)

        assert result.order_id == order_id_for("web-shop", "WEB-1001")
        assert (result.outcome, result.status) == (Outcome.CREATED, "accepted")
        assert result.digest == submission_digest(submission())
        assert result.existing_digest is None
        assert _events(store) == [
            (str(result.order_id), EventType.ORDER_PLACED),
            (str(result.order_id), EventType.ORDER_ACCEPTED),
        ]

    def test_keeps_the_raw_payload_and_who_sent_it(self, intake: IntakeService) -> None:
        raw = json.dumps(submission_dict(), indent=2)
        command = submit_order(raw_payload=raw, actor="channel:web-shop", correlation_id="req-42")

        intake.place_order(command)

        order = intake.find(command.order_id)
        assert order is not None
        assert (order.raw_payload, order.placed_by, order.correlation_id) == (
            raw,
            "channel:web-shop",
            "req-42",
        )
        assert order.received_at == NOW

    def test_placed_in_the_future_is_recorded_and_rejected_with_the_reason(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        command = submit_order(placed_at=in_the_future(NOW))

        result = intake.place_order(command)

        assert (result.outcome, result.status) == (Outcome.CREATED, "rejected")
        assert len(result.reasons) == 1 and result.reasons[0].startswith("placed_at:")
        order = intake.find(command.order_id)
        assert order is not None and order.status is OrderStatus.REJECTED
        assert [t for _, t in _events(store)] == [
            EventType.ORDER_PLACED,
            EventType.ORDER_REJECTED,
        ]


class TestAResubmission:
    def test_of_the_same_order_is_a_duplicate_and_records_nothing(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        first = intake.place_order(submit_order())
        position = store.max_position()
        resent = json.dumps(submission_dict(), indent=4, sort_keys=True)

        again = intake.place_order(submit_order(raw_payload=resent))

        assert (again.outcome, again.order_id, again.status) == (
            Outcome.DUPLICATE,
            first.order_id,
            "accepted",
        )
        assert again.existing_digest == again.digest == first.digest
        assert store.max_position() == position

    def test_of_a_rejected_order_answers_with_the_original_reasons(
        self, intake: IntakeService
    ) -> None:
        future = in_the_future(NOW)
        first = intake.place_order(submit_order(placed_at=future))

        again = intake.place_order(submit_order(placed_at=future))

        assert (again.outcome, again.status, again.reasons) == (
            Outcome.DUPLICATE,
            "rejected",
            first.reasons,
        )

    def test_with_other_content_is_a_conflict_naming_both_digests(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        first = intake.place_order(submit_order())
        position = store.max_position()

        changed = intake.place_order(submit_order(lines=CHANGED_LINES))

        assert (changed.outcome, changed.order_id) == (Outcome.CONFLICT, first.order_id)
        assert changed.existing_digest == first.digest
        assert changed.digest == submission_digest(submission(lines=CHANGED_LINES))
        assert changed.digest != first.digest
        assert store.max_position() == position

    def test_is_answered_from_another_service_on_the_same_store(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        # A second writer (another API instance) cannot see the first one's memory, only the store.
        intake.place_order(submit_order())
        other_writer = IntakeService(store, fixed_clock(NOW))

        result = other_writer.place_order(submit_order())

        assert result.outcome is Outcome.DUPLICATE


class TestABatch:
    def test_of_new_orders_is_recorded_and_answered_in_order(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        commands = [submit_order(external_id=f"WEB-{n}") for n in range(1, 6)]

        results = intake.place_orders(commands)

        assert [r.order_id for r in results] == [c.order_id for c in commands]
        assert {r.outcome for r in results} == {Outcome.CREATED}
        assert store.max_position() == 10

    def test_with_one_known_order_still_records_every_new_one(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        intake.place_order(submit_order(external_id="WEB-2"))
        position = store.max_position()

        results = intake.place_orders([submit_order(external_id=f"WEB-{n}") for n in (1, 2, 3)])

        assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.DUPLICATE, Outcome.CREATED]
        assert store.max_position() == position + 4
        assert intake.find(order_id_for("web-shop", "WEB-3")) is not None

    def test_with_the_same_order_twice_records_it_once(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        results = intake.place_orders([submit_order(), submit_order()])

        assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.DUPLICATE]
        assert results[0].order_id == results[1].order_id
        assert store.max_position() == 2

    def test_with_two_versions_of_one_order_keeps_the_first_and_flags_the_second(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        first, second = submit_order(), submit_order(lines=CHANGED_LINES)

        results = intake.place_orders([first, second])

        assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CONFLICT]
        assert results[1].existing_digest == first.digest
        stored = intake.find(first.order_id)
        assert stored is not None and stored.digest == first.digest
        assert store.max_position() == 2

    def test_a_later_copy_of_the_stored_order_is_a_duplicate_even_after_a_conflicting_copy(
        self, intake: IntakeService
    ) -> None:
        stored = intake.place_order(submit_order())

        conflicting, same = intake.place_orders([submit_order(lines=CHANGED_LINES), submit_order()])

        assert conflicting.outcome is Outcome.CONFLICT
        assert conflicting.existing_digest == stored.digest
        assert same.outcome is Outcome.DUPLICATE
        assert same.existing_digest == stored.digest

    def test_that_is_empty_records_nothing(self, intake: IntakeService, store: OrderStore) -> None:
        assert intake.place_orders([]) == []
        assert store.max_position() == 0


class TestLookingUp:
    def test_an_unknown_order_is_not_found(self, intake: IntakeService) -> None:
        assert intake.find(order_id_for("web-shop", "WEB-404")) is None

    def test_checking_a_new_submission_says_it_is_new_and_records_nothing(
        self, intake: IntakeService, store: OrderStore
    ) -> None:
        assert intake.check_existing(submit_order()) is None
        assert store.max_position() == 0

    @pytest.mark.parametrize(
        ("lines", "outcome"),
        [(None, Outcome.DUPLICATE), (CHANGED_LINES, Outcome.CONFLICT)],
    )
    def test_checking_a_resubmission_compares_digests_without_recording(
        self,
        intake: IntakeService,
        store: OrderStore,
        lines: list[dict[str, Any]] | None,
        outcome: Outcome,
    ) -> None:
        stored = intake.place_order(submit_order())
        position = store.max_position()
        overrides = {"lines": lines} if lines else {}

        result = intake.check_existing(submit_order(**overrides))

        assert result is not None
        assert (result.outcome, result.existing_digest) == (outcome, stored.digest)
        assert store.max_position() == position


def test_a_batch_is_saved_by_the_recorder_s_append_where_it_has_one(
    store: OrderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake does not read the notification ids back: a recorder that can save without
    answering them (hub.pg_recorder's `append_events`) is asked to; a refused id still sends
    each order on its own."""
    appended: list[int] = []

    def append_events(stored: Any) -> None:
        appended.append(len(stored))
        store.recorder.insert_events(stored)

    monkeypatch.setattr(store.recorder, "append_events", append_events, raising=False)
    intake = IntakeService(store, fixed_clock(NOW))
    first = intake.place_orders([submit_order(external_id="A-1"), submit_order(external_id="A-2")])
    assert appended == [4]
    again = intake.place_orders([submit_order(external_id="A-3"), submit_order(external_id="A-1")])
    assert appended == [4, 4]  # refused whole (A-1 is stored): each then on its own
    assert [r.outcome for r in first + again] == [Outcome.CREATED] * 3 + [Outcome.DUPLICATE]
    assert len(_events(store)) == 6
