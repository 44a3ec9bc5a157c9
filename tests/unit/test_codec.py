"""Envelopes on Kafka in CloudEvents binary mode: ce_* headers, key = order id, data as value."""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.codec import OutboundRecord, envelope_to_record, record_to_envelope
from schemas.envelope import Actor, EventEnvelope
from schemas.event_types import EventType
from tests.contracts.factories import named_cases, order_envelopes

TOPIC = "orderhub.orders.events"
PLACED, ACCEPTED = order_envelopes("WEB-1001", "accepted")
_, REJECTED = order_envelopes("WEB-1002", "rejected")


def _decode(record: OutboundRecord) -> EventEnvelope:
    return record_to_envelope(record.key, record.value, record.headers)


def _with_headers(record: OutboundRecord, **changes: bytes | None) -> tuple[tuple[str, bytes], ...]:
    """The record's headers with some replaced (bytes) or removed (None)."""
    headers = [(k, v) for k, v in record.headers if k not in changes]
    headers += [(k, v) for k, v in changes.items() if v is not None]
    return tuple(headers)


class TestEncoding:
    def test_the_key_is_the_order_id_so_one_order_stays_in_one_partition(self) -> None:
        record = envelope_to_record(TOPIC, PLACED)

        assert record.topic == TOPIC
        assert record.key == PLACED.subject.encode()

    def test_every_attribute_travels_in_a_ce_header(self) -> None:
        headers = dict(envelope_to_record(TOPIC, ACCEPTED).headers)

        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_id"] == ACCEPTED.id.encode()
        assert headers["ce_type"] == b"orderhub.order.accepted"
        assert headers["ce_source"] == b"/orderhub/orders"
        assert headers["ce_subject"] == ACCEPTED.subject.encode()
        assert headers["ce_sequence"] == b"2"
        assert headers["ce_correlationid"] == b"corr-web-1001"
        assert headers["ce_causationid"] == PLACED.id.encode()
        assert headers["ce_actor"] == b"system:intake"
        assert headers["ce_schemaversion"] == b"1"
        assert headers["content-type"] == b"application/json"
        assert datetime.fromisoformat(headers["ce_time"].decode()) == ACCEPTED.time

    def test_a_chosen_key_replaces_the_order_id_as_the_record_key_only(self) -> None:
        record = envelope_to_record("orderhub.fulfillment.requests", PLACED, key="store-lyon")

        assert record.key == b"store-lyon"
        assert dict(record.headers)["ce_subject"] == PLACED.subject.encode()
        assert _decode(record) == PLACED

    def test_the_partition_key_is_the_record_key_not_a_header(self) -> None:
        names = [name for name, _ in envelope_to_record(TOPIC, PLACED).headers]

        assert "ce_partitionkey" not in names
        assert len(names) == len(set(names))

    def test_the_value_is_the_data_as_json_with_sorted_keys(self) -> None:
        record = envelope_to_record(TOPIC, PLACED)

        assert orjson.loads(record.value) == PLACED.data
        assert record.value == orjson.dumps(PLACED.data, option=orjson.OPT_SORT_KEYS)

    def test_a_republished_event_is_byte_identical(self) -> None:
        assert envelope_to_record(TOPIC, REJECTED) == envelope_to_record(TOPIC, REJECTED)


@pytest.mark.parametrize("envelope", [PLACED, ACCEPTED, REJECTED], ids=lambda e: e.type)
def test_every_order_event_reads_back_as_it_was_written(envelope: EventEnvelope) -> None:
    assert _decode(envelope_to_record(TOPIC, envelope)) == envelope


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    data=st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=6),
    time=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    sequence=st.integers(min_value=1, max_value=2**31),
    actor=st.sampled_from(["channel:web-shop", "system:intake", "user:ops-lyon"]),
    subject=st.uuids().map(str),
)
def test_any_envelope_survives_the_round_trip(
    data: dict[str, Any], time: datetime, sequence: int, actor: str, subject: str
) -> None:
    envelope = EventEnvelope(
        id=f"{subject}:{sequence}",
        source="/orderhub/orders",
        type=EventType.ORDER_PLACED,
        subject=subject,
        time=time,
        sequence=sequence,
        correlationid="corr-1",
        causationid="corr-0",
        actor=Actor.parse(actor),
        schemaversion=1,
        data=data,
    )

    assert _decode(envelope_to_record(TOPIC, envelope)) == envelope


class TestDecodingRefusesMalformedRecords:
    @pytest.mark.parametrize(
        ("case", "changes"),
        **named_cases(
            [
                ("no ce_source", {"ce_source": None}),
                ("no ce_type", {"ce_type": None}),
                ("no ce_subject", {"ce_subject": None}),
                ("no ce_sequence", {"ce_sequence": None}),
                ("no ce_correlationid", {"ce_correlationid": None}),
                ("no ce_causationid", {"ce_causationid": None}),
                ("no ce_actor", {"ce_actor": None}),
                ("no ce_schemaversion", {"ce_schemaversion": None}),
                ("sequence not a number", {"ce_sequence": b"two"}),
                ("sequence zero", {"ce_sequence": b"0"}),
                ("actor of unknown kind", {"ce_actor": b"robot:r2"}),
                ("time not a time", {"ce_time": b"yesterday"}),
                ("another CloudEvents version", {"ce_specversion": b"0.3"}),
                ("header not UTF-8", {"ce_type": b"\xff\xfe"}),
                ("no ce_id", {"ce_id": None}),
                ("no ce_time", {"ce_time": None}),
                ("no ce_specversion", {"ce_specversion": None}),
            ]
        ),
    )
    def test_a_missing_or_invalid_attribute_is_a_value_error(
        self, case: str, changes: dict[str, bytes | None]
    ) -> None:
        record = envelope_to_record(TOPIC, ACCEPTED)

        with pytest.raises(ValueError):
            record_to_envelope(record.key, record.value, _with_headers(record, **changes))

    @pytest.mark.parametrize(
        ("case", "value"),
        **named_cases(
            [
                ("bytes that are not JSON", b"\xff\x00\x13garbage"),
                ("truncated JSON", b'{"reasons": ["placed_at'),
                ("JSON that is not an object", b'["placed", "accepted"]'),
            ]
        ),
    )
    def test_a_value_that_is_not_a_json_object_is_a_value_error(
        self, case: str, value: bytes
    ) -> None:
        record = envelope_to_record(TOPIC, ACCEPTED)

        with pytest.raises(ValueError):
            record_to_envelope(record.key, value, record.headers)

    def test_a_record_without_any_headers_is_a_value_error(self) -> None:
        record = envelope_to_record(TOPIC, ACCEPTED)

        with pytest.raises(ValueError, match="not a CloudEvent"):
            record_to_envelope(record.key, record.value, ())
