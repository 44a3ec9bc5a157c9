"""CaptureService: one capture behind every door. Embedded it records orders in the store;
distributed it hands new ones to the intake workers and answers re-submissions from the store;
refusals are kept either way, with every reason."""

import asyncio
import json
from collections.abc import Iterator, Sequence

import pytest

from aggregates import order_id_for
from hub.services.access import Principal
from hub.services.capture import (
    Captured,
    CaptureService,
    ChannelMismatch,
    InvalidSubmission,
    NoChannelNamed,
    WrongFormat,
)
from hub.services.intake import IntakeService, Outcome, PlaceResult, RejectSubmission, SubmitOrder
from hub.store import OrderStore
from schemas.channels import ChannelDefinition, ChannelKind, Role
from tests.contracts.factories import NOW, fixed_clock, popo_store, submission, submission_dict

STAFF = Principal(role=Role.OPS, key_id="k-ops", label="ann")
WEB_SHOP = Principal(role=Role.CHANNEL, key_id="k-web", channel_id="web-shop")
POS = Principal(role=Role.CHANNEL, key_id="k-pos", channel_id="pos-lyon")
CHANNELS = {
    "web-shop": ChannelDefinition(
        channel_id="web-shop", name="Web shop", kind=ChannelKind.WEB, format="canonical"
    )
}


class Hub:
    """What capture is wired to, watched: the store's intake, the followers, the topic."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store
        self.intake = IntakeService(store, fixed_clock(NOW))
        self.settled = 0
        self.submitted: list[SubmitOrder] = []

    async def place(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult]:
        return self.intake.place_orders(commands)

    async def settle(self) -> None:
        self.settled += 1

    async def submit(self, command: SubmitOrder) -> None:
        self.submitted.append(command)

    def capture(self) -> CaptureService:
        return CaptureService(
            self.intake, CHANNELS.__getitem__, self.place, self.settle, fixed_clock(NOW)
        )

    def types(self) -> list[str]:
        return [env.type for _, env in self.store.read_envelopes(None, 1000)]


@pytest.fixture
def hub() -> Iterator[Hub]:
    store = popo_store()
    yield Hub(store)
    store.close()


def _capture_order(capture: CaptureService, payload: object, who: Principal) -> Captured:
    return asyncio.run(capture.capture_order(json.dumps(payload), payload, who, "corr-1"))


def test_embedded_records_the_order_and_answers_the_same_order_again_as_a_duplicate(
    hub: Hub,
) -> None:
    first = _capture_order(hub.capture(), submission_dict(), WEB_SHOP)
    again = _capture_order(hub.capture(), submission_dict(), WEB_SHOP)

    assert first.result is not None and first.result.outcome is Outcome.CREATED
    assert (first.outcome, first.status, first.taken) == ("created", "accepted", True)
    assert again.result is not None and again.result.outcome is Outcome.DUPLICATE
    assert not again.taken
    assert first.command.actor == "channel:web-shop"
    assert hub.settled == 2 and hub.submitted == []


def test_distributed_hands_a_new_order_on_and_answers_a_known_one_from_the_store(
    hub: Hub,
) -> None:
    capture = hub.capture().handing_new_orders_to(hub.submit)

    new = _capture_order(capture, submission_dict(), STAFF)
    assert (new.result, new.outcome, new.status, new.taken) == (
        None,
        "submitted",
        "submitted",
        True,
    )
    assert [c.order_id for c in hub.submitted] == [order_id_for("web-shop", "WEB-1001")]
    assert new.command.actor == "user:ann"
    assert hub.types() == []  # the intake workers record it, not the API

    hub.intake.place_orders(hub.submitted)
    known = _capture_order(capture, submission_dict(), STAFF)
    assert known.result is not None and known.result.outcome is Outcome.DUPLICATE
    assert len(hub.submitted) == 1


def test_an_invalid_submission_is_kept_with_its_reasons_and_named_in_the_refusal(
    hub: Hub,
) -> None:
    payload = submission_dict(lines=[])
    with pytest.raises(InvalidSubmission) as refused:
        _capture_order(hub.capture(), payload, WEB_SHOP)

    assert [p.field for p in refused.value.problems] == ["lines"]
    assert refused.value.rejection_id
    assert hub.types() == ["orderhub.rejected_submission.recorded"]
    assert hub.settled == 1


def test_a_channel_key_may_not_submit_for_another_channel_and_nothing_is_kept(hub: Hub) -> None:
    with pytest.raises(ChannelMismatch, match="pos-lyon"):
        _capture_order(hub.capture(), submission_dict(), POS)
    assert hub.types() == []


def test_a_native_payload_names_its_channel_in_the_format_the_channel_sends(hub: Hub) -> None:
    capture = hub.capture()
    with pytest.raises(NoChannelNamed):
        asyncio.run(capture.channel_for(STAFF, None, "canonical"))
    with pytest.raises(ChannelMismatch):
        asyncio.run(capture.channel_for(POS, "web-shop", "canonical"))
    with pytest.raises(WrongFormat, match="sends canonical, not csv"):
        asyncio.run(capture.channel_for(STAFF, "web-shop", "csv"))
    assert asyncio.run(capture.channel_for(WEB_SHOP, None, "canonical")) == CHANNELS["web-shop"]


def test_a_native_payload_answers_each_order_in_payload_order(hub: Hub) -> None:
    raw = json.dumps(
        [
            submission_dict(external_id="WEB-1"),
            submission_dict(external_id="WEB-2", lines=[]),
            submission_dict(external_id="WEB-3"),
        ]
    ).encode()
    items = asyncio.run(hub.capture().capture_native(CHANNELS["web-shop"], raw, STAFF, "corr"))

    assert [type(i) for i in items] == [Captured, RejectSubmission, Captured]
    assert [i.command.submission.external_id for i in items if isinstance(i, Captured)] == [
        "WEB-1",
        "WEB-3",
    ]
    assert [i.command.correlation_id for i in items if isinstance(i, Captured)] == [
        "corr#0",
        "corr#2",
    ]
    assert hub.types().count("orderhub.rejected_submission.recorded") == 1


class CountingIntake(IntakeService):
    """The store's intake, counting the orders of each read of the duplicate check."""

    def __init__(self, store: OrderStore) -> None:
        super().__init__(store, fixed_clock(NOW))
        self.reads: list[int] = []

    def check_existing_many(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult | None]:
        self.reads.append(len(commands))
        return super().check_existing_many(commands)


def _distributed(hub: Hub, intake: IntakeService) -> CaptureService:
    return CaptureService(
        intake, CHANNELS.__getitem__, hub.place, hub.settle, fixed_clock(NOW), hub.submit
    )


def test_distributed_a_native_payload_of_many_orders_is_checked_in_one_read(hub: Hub) -> None:
    intake = CountingIntake(hub.store)
    intake.place_orders([SubmitOrder(submission(external_id="WEB-2"), "{}", "user:ann", "c")])
    raw = json.dumps([submission_dict(external_id=f"WEB-{n}") for n in range(5)]).encode()

    items = asyncio.run(
        _distributed(hub, intake).capture_native(CHANNELS["web-shop"], raw, STAFF, "corr")
    )

    assert intake.reads == [5]
    outcomes = [i.outcome for i in items if isinstance(i, Captured)]
    assert outcomes == ["submitted", "submitted", "duplicate", "submitted", "submitted"]
    assert [c.submission.external_id for c in hub.submitted] == ["WEB-0", "WEB-1", "WEB-3", "WEB-4"]
