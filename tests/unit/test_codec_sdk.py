"""The codec writes and reads what the CloudEvents SDK's Kafka binding writes and reads.

The codec builds the ce_* headers and parses them itself (the SDK's detour through the
standard json module cost a third of the relay's CPU); the SDK stays the reference here: the
same headers, byte for byte and in the same order, and the same envelope read back from a record
the SDK wrote.
"""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from connectors.codec import envelope_to_record, record_to_envelope
from schemas.envelope import Actor, EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import order_envelopes

TOPIC = "orderhub.orders.events"


def sdk_record(envelope: EventEnvelope, key: str | None = None) -> ce_kafka.KafkaMessage:
    """What the codec wrote before it built the headers itself (the SDK's to_binary)."""
    event = CloudEvent(
        attributes={
            "id": envelope.id,
            "source": envelope.source,
            "type": envelope.type,
            "subject": envelope.subject,
            "time": envelope.time,
            "datacontenttype": envelope.datacontenttype,
            "sequence": str(envelope.sequence),
            "correlationid": envelope.correlationid,
            "causationid": envelope.causationid,
            "actor": str(envelope.actor),
            "schemaversion": str(envelope.schemaversion),
            "partitionkey": key or envelope.subject,
        },
        data=envelope.data,
    )
    return ce_kafka.to_binary(event, JSONFormat())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

envelopes = st.builds(
    lambda data, time, sequence, actor, subject, kind: EventEnvelope(
        id=f"{subject}:{sequence}",
        source="/orderhub/orders",
        type=kind,
        subject=subject,
        time=time,
        sequence=sequence,
        correlationid=f"corr-{subject}",
        causationid="corr-0",
        actor=Actor.parse(actor),
        schemaversion=1,
        data=data,
    ),
    data=st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=6),
    time=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    sequence=st.integers(min_value=1, max_value=2**31),
    actor=st.sampled_from(["channel:web-shop", "system:intake", "user:ops-lyon", "user:Zoé"]),
    subject=st.uuids().map(str),
    kind=st.sampled_from(list(EventType)),
)


@given(envelope=envelopes, key=st.none() | st.sampled_from(["store-lyon", "dc-ü"]))
def test_the_headers_and_key_are_the_sdks_byte_for_byte(
    envelope: EventEnvelope, key: str | None
) -> None:
    ours = envelope_to_record(TOPIC, envelope, key)
    sdk = sdk_record(envelope, key)

    expected = [(n, v) for n, v in sdk.headers.items() if n != "ce_partitionkey"]
    assert list(ours.headers) == expected
    assert ours.key == (sdk.key.encode() if isinstance(sdk.key, str) else sdk.key)
    assert orjson.loads(ours.value) == orjson.loads(sdk.value)


@given(envelope=envelopes)
def test_a_record_the_sdk_wrote_reads_back_as_the_envelope(envelope: EventEnvelope) -> None:
    sdk = sdk_record(envelope)
    key = sdk.key.encode() if isinstance(sdk.key, str) else sdk.key
    # The value as the relay writes it (orjson, sorted keys); the headers as the SDK wrote them.
    value = orjson.dumps(envelope.data, option=orjson.OPT_SORT_KEYS)

    assert record_to_envelope(key, value, sdk.headers.items()) == envelope


def test_integers_up_to_64_bits_read_back_exactly() -> None:
    (envelope,) = order_envelopes("WEB-1001", "accepted")[:1]
    data: dict[str, Any] = {"big": 2**64 - 1, "small": -(2**63), "price": "19.90"}
    big = envelope.model_copy(update={"data": data})

    decoded = record_to_envelope(b"k", envelope_to_record(TOPIC, big).value, _headers(big))

    assert decoded.data == data
    assert type(decoded.data["big"]) is int


def _headers(envelope: EventEnvelope) -> tuple[tuple[str, bytes], ...]:
    return envelope_to_record(TOPIC, envelope).headers


@pytest.mark.parametrize(
    "time",
    [b"2026-11-20T08:00:00", b"2026-11-20"],
    ids=["no offset", "a date"],
)
def test_a_time_without_a_zone_is_a_value_error(time: bytes) -> None:
    (envelope,) = order_envelopes("WEB-1001", "accepted")[:1]
    record = envelope_to_record(TOPIC, envelope)
    headers = [(n, time if n == "ce_time" else v) for n, v in record.headers]

    with pytest.raises(ValueError, match="time zone"):
        record_to_envelope(record.key, record.value, headers)


def test_a_time_in_another_zone_reads_as_utc() -> None:
    (envelope,) = order_envelopes("WEB-1001", "accepted")[:1]
    record = envelope_to_record(TOPIC, envelope)
    local = envelope.time.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:30").tzinfo)
    headers = [(n, local.isoformat().encode() if n == "ce_time" else v) for n, v in record.headers]

    decoded = record_to_envelope(record.key, record.value, headers)

    assert decoded.time == envelope.time
    assert decoded.time.tzinfo == UTC


def test_header_names_are_read_whatever_their_case() -> None:
    (envelope,) = order_envelopes("WEB-1001", "accepted")[:1]
    record = envelope_to_record(TOPIC, envelope)
    # The required headers are looked for by their exact names; others in any case.
    headers = [(n.upper() if n == "content-type" else n, v) for n, v in record.headers]

    assert record_to_envelope(record.key, record.value, headers) == envelope
