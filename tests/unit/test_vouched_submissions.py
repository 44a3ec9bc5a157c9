"""Submissions the API validated, taken by the intake on the proof in their record: the same
stored bytes as validating them again; anything without a proof that holds validated as before."""

import hmac
import json
from datetime import datetime
from typing import Any

import orjson
import pytest
from eventsourcing.domain import CanCreateTimestamp
from pydantic import ValidationError

from aggregates import OrderStatus
from connectors.consumed import ConsumedMessage
from connectors.publisher import RecordingPublisher
from hub.services.intake import INTAKE_ACTOR, IntakeService, Outcome, RejectSubmission, SubmitOrder
from hub.services.order_events import AcceptedOrderEvents
from hub.services.vouched import (
    DIGEST_HEADER,
    PROOF_HEADER,
    SUBMISSION_HEADER,
    SubmissionProof,
    VouchedOrder,
    proof_for,
)
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.handlers import IntakeConsumer, parse_canonical
from hub.streaming.submissions import submission_record
from tests.contracts.factories import (
    NOW,
    fixed_clock,
    in_the_future,
    submission_dict,
    submit_order,
)
from tests.unit.test_consumers import _recorded
from tests.unit.test_order_events import SHAPES

SUBMITTED = "orderhub.orders.submitted"
STAMP = datetime(2026, 11, 20, 9, 0, 1, 234567, tzinfo=NOW.tzinfo)
PROOF = SubmissionProof(b"k" * 32)


def _as_the_api_sends(command: SubmitOrder, proof: SubmissionProof = PROOF) -> ConsumedMessage:
    record = submission_record(SUBMITTED, command, proof)
    return ConsumedMessage(SUBMITTED, 0, 7, record.key, record.value, tuple(record.headers))


def _with(message: ConsumedMessage, **changed: bytes) -> ConsumedMessage:
    """The record with some headers' bytes replaced (named by their header's last word)."""
    names = {"submission": SUBMISSION_HEADER, "digest": DIGEST_HEADER, "proof": PROOF_HEADER}
    replaced = {names[k]: v for k, v in changed.items()}
    headers = tuple((k, replaced.get(k, v)) for k, v in message.headers)
    return ConsumedMessage(message.topic, 0, 7, message.key, message.value, headers)


def _header(message: ConsumedMessage, name: str) -> bytes:
    return dict(message.headers)[name]


def _one(message: ConsumedMessage, proof: SubmissionProof | None = PROOF) -> Any:
    (parsed,) = parse_canonical(message, proof)
    return parsed


@pytest.mark.parametrize("shape", SHAPES)
def test_a_proved_order_is_stored_as_its_validated_self_byte_for_byte(
    store: OrderStore, shape: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp", staticmethod(lambda: STAMP))
    checked = submit_order(
        submission_dict(**shape), raw_payload=json.dumps(submission_dict(**shape))
    )
    events = AcceptedOrderEvents(store.mapper, INTAKE_ACTOR, lambda: STAMP)

    vouched = _one(_as_the_api_sends(checked))

    assert isinstance(vouched, VouchedOrder)
    assert (vouched.order_id, vouched.digest) == (checked.order_id, checked.digest)
    assert (vouched.placed_at, vouched.submission) == (checked.placed_at, checked.submission)
    assert events.events_of(vouched, NOW) == events.events_of(checked, NOW)


def test_a_proved_order_loads_as_the_validated_one(store: OrderStore) -> None:
    checked = submit_order(submission_dict(**SHAPES[1]))
    intake = IntakeService(store, fixed_clock(NOW))

    (result,) = intake.place_orders([_one(_as_the_api_sends(checked))])

    order = intake.find(result.order_id)
    assert order is not None and order.status is OrderStatus.ACCEPTED
    assert (order.submission, order.digest) == (checked.submission, checked.digest)
    assert (order.raw_payload, order.placed_by) == (checked.raw_payload, checked.actor)


def test_a_record_without_a_proof_is_validated_as_before() -> None:
    message = _as_the_api_sends(submit_order())
    bare = ConsumedMessage(SUBMITTED, 0, 7, message.key, message.value, message.headers[:2])

    assert isinstance(_one(bare), SubmitOrder)
    assert isinstance(_one(message, proof=None), SubmitOrder)  # an intake that trusts none


def test_a_payload_altered_after_the_proof_is_validated_and_refused_with_its_reasons() -> None:
    message = _as_the_api_sends(submit_order())
    altered = dict(submission_dict(), lines=[{"line_id": "1", "sku": "X", "quantity": -3}])
    forged = ConsumedMessage(
        SUBMITTED, 0, 7, message.key, json.dumps(altered).encode(), message.headers
    )

    refused = _one(forged)

    assert isinstance(refused, RejectSubmission)
    fields = {p["field"] for p in refused.problems}
    assert {"lines.0.quantity", "lines.0.unit_price"} <= fields


def test_values_altered_after_the_proof_are_not_trusted() -> None:
    message = _as_the_api_sends(submit_order())
    values = orjson.loads(_header(message, SUBMISSION_HEADER))
    values["lines"][0]["quantity"] = 0  # what validation would refuse
    forged = _with(message, submission=orjson.dumps(values))

    parsed = _one(forged)

    # Validated from the payload, which is what the order holds: the forged values are ignored.
    assert isinstance(parsed, SubmitOrder)
    assert parsed.submission.lines[0].quantity == 2


def test_a_proof_under_another_key_is_not_trusted() -> None:
    invalid = submit_order()
    message = _as_the_api_sends(invalid, SubmissionProof(b"x" * 32))
    bad_digest = _with(_as_the_api_sends(invalid), digest=b"0" * 64)

    assert isinstance(_one(message), SubmitOrder)
    assert isinstance(_one(bad_digest), SubmitOrder)


@pytest.mark.asyncio
async def test_a_forged_record_of_an_invalid_payload_is_kept_as_refused_not_as_an_order(
    store: OrderStore, settings: Settings
) -> None:
    # A writer of the topic without the key: valid-looking values, a made-up digest and proof,
    # over a payload that is not valid.
    payload = json.dumps(submission_dict(currency="EURO")).encode()
    headers = (
        (SUBMISSION_HEADER, orjson.dumps(submission_dict())),
        (DIGEST_HEADER, b"a" * 64),
        (
            PROOF_HEADER,
            proof_for(Settings(database_url="postgresql://elsewhere/x")).sign(
                payload, orjson.dumps(submission_dict()), b"a" * 64
            ),
        ),
    )
    intake = IntakeService(store, fixed_clock(NOW))
    consumer = IntakeConsumer(intake, RecordingPublisher(), settings)

    await consumer.handle([ConsumedMessage(SUBMITTED, 0, 1, b"k", payload, headers)])

    assert intake.find(submit_order().order_id) is None
    (kept,) = _recorded(store)
    assert kept.data["reason"] == "invalid_submission"
    assert [(p["field"], p["code"]) for p in kept.data["problems"]] == [
        ("currency", "string_too_long")
    ]
    assert kept.data["raw_payload"] == payload.decode()


@pytest.mark.asyncio
async def test_the_intake_role_records_what_the_api_proved_under_the_hubs_key(
    store: OrderStore, settings: Settings
) -> None:
    intake = IntakeService(store, fixed_clock(NOW))
    consumer = IntakeConsumer(intake, RecordingPublisher(), settings)
    command = submit_order()

    await consumer.handle([_as_the_api_sends(command, proof_for(settings))])

    order = intake.find(command.order_id)
    assert order is not None and order.status is OrderStatus.ACCEPTED
    assert (order.submission, order.digest) == (command.submission, command.digest)


def test_redelivered_proved_orders_are_answered_not_stored_again(store: OrderStore) -> None:
    intake = IntakeService(store, fixed_clock(NOW))
    command = submit_order()
    message = _as_the_api_sends(command)
    other = _as_the_api_sends(submit_order(submission_dict(currency="USD")))

    (first,) = intake.place_orders([_one(message)])
    again, conflict = intake.place_orders([_one(message), _one(other)])

    assert first.outcome is Outcome.CREATED
    assert (again.outcome, conflict.outcome) == (Outcome.DUPLICATE, Outcome.CONFLICT)
    assert conflict.existing_digest == command.digest
    assert len(list(store.recorder.select_events(command.order_id))) == 2


def test_a_proved_order_placed_in_the_future_is_rejected_with_its_reason(
    store: OrderStore,
) -> None:
    intake = IntakeService(store, fixed_clock(NOW))

    (result,) = intake.place_orders(
        [_one(_as_the_api_sends(submit_order(placed_at=in_the_future())))]
    )

    assert result.status == OrderStatus.REJECTED.value
    assert "in the future" in result.reasons[0]


def test_the_derived_key_is_shared_by_those_who_share_the_database() -> None:
    url = "postgresql://orderhub:secret@db:5432/orderhub"
    raw, values, digest = b"{}", b"{}", b"d" * 64
    signed = proof_for(Settings(database_url=url)).sign(raw, values, digest)

    assert proof_for(Settings(database_url=url)).holds(raw, values, digest, signed)
    other = proof_for(Settings(database_url=url.replace("secret", "other")))
    assert not other.holds(raw, values, digest, signed)
    configured = proof_for(Settings(database_url=url, submission_proof_key="s" * 32))
    assert not configured.holds(raw, values, digest, signed)


def test_a_configured_key_must_be_long() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(submission_proof_key="short")


def test_the_proof_binds_where_each_part_ends() -> None:
    signed = PROOF.sign(b"ab", b"c", b"d")

    assert not PROOF.holds(b"a", b"bc", b"d", signed)


def test_the_proof_is_the_documented_hmac_so_records_of_the_earlier_release_hold() -> None:
    # What the first release of the proof wrote (hmac.digest over the joined message): a record
    # signed by an API of that release, waiting on the topic through an upgrade, still holds.
    key = b"k" * 32
    raw, values, digest = b'{"a":1}', b'{"channel":"web"}', b"0f" * 32
    lengths = b"".join(len(part).to_bytes(8, "big") for part in (raw, values, digest))
    message = b"orderhub submission proof 1\n" + lengths + raw + values + digest
    earlier = hmac.digest(key, message, "sha256").hex().encode()
    proof = SubmissionProof(key)

    assert proof.sign(raw, values, digest) == earlier
    assert proof.sign(raw, values, digest) == earlier  # the kept state is copied, not spent
    assert proof.holds(raw, values, digest, earlier)
    assert not proof.holds(raw, values, digest[:-1] + b"e", earlier)


@pytest.mark.parametrize(
    "placed_at",
    ["2026-11-20T08:00:00.1+01:00", "2026-11-20T08:00:00.000001Z", "2026-11-20T07:59:59.9-05:30"],
)
def test_the_time_read_from_the_values_is_the_validated_one(placed_at: str) -> None:
    checked = submit_order(submission_dict(placed_at=placed_at))

    vouched = _one(_as_the_api_sends(checked))

    assert vouched.placed_at == checked.submission.placed_at
