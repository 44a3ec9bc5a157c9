"""Envelopes on Kafka in CloudEvents binary mode: attributes in ce_* headers, data as the value."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.envelope import Actor, EventEnvelope

_FORMAT = JSONFormat()
_REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_sequence",
)


@dataclass(frozen=True)
class OutboundRecord:
    """One Kafka record ready to send."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def envelope_to_record(
    topic: str, envelope: EventEnvelope, key: str | None = None
) -> OutboundRecord:
    """Key = aggregate id by default, so one aggregate's events stay in one partition, in order."""
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
    message = ce_kafka.to_binary(event, _FORMAT)
    record_key = message.key.encode() if isinstance(message.key, str) else (message.key or b"")
    headers = tuple(
        (name, value) for name, value in message.headers.items() if name != "ce_partitionkey"
    )
    # orjson is canonical for our data (sorted keys), so a re-published event is byte-identical.
    value = orjson.dumps(envelope.data, option=orjson.OPT_SORT_KEYS)
    return OutboundRecord(topic=topic, key=record_key, value=value, headers=headers)


def record_to_envelope(
    key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]]
) -> EventEnvelope:
    """Parse a binary-mode CloudEvent back; raises ValueError on anything malformed."""
    header_map = dict(headers)
    # The SDK would invent an id, a time or a spec version for a record that lacks them;
    # a record without its identity is not an event we can deduplicate or order.
    missing = [h for h in _REQUIRED_HEADERS if h not in header_map]
    if missing:
        raise ValueError(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value)
    try:
        event = ce_kafka.from_binary(message, _FORMAT, CloudEvent)
    except Exception as error:  # the SDK raises several unrelated types for bad input
        raise ValueError(f"not a CloudEvent in Kafka binary mode: {error}") from error
    attrs: dict[str, Any] = event.get_attributes()
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = orjson.loads(data)
    try:
        return EventEnvelope(
            id=attrs["id"],
            source=attrs["source"],
            type=attrs["type"],
            subject=attrs["subject"],
            time=attrs["time"].astimezone(UTC),
            datacontenttype=attrs.get("datacontenttype", "application/json"),
            sequence=int(attrs["sequence"]),
            correlationid=attrs["correlationid"],
            causationid=attrs["causationid"],
            actor=Actor.parse(attrs["actor"]),
            schemaversion=int(attrs["schemaversion"]),
            data=data or {},
        )
    except KeyError as missing:
        raise ValueError(f"CloudEvent lacks the attribute {missing}") from None
