"""Envelopes on Kafka in CloudEvents binary mode: attributes in ce_* headers, data as the value."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.claim_check import claim_of
from schemas.envelope import SPEC_VERSION, Actor, EventEnvelope

_REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_sequence",
)


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One Kafka record ready to send (slots: the relay makes and frees one per record
    it publishes, without a `__dict__` each)."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def envelope_to_record(
    topic: str, envelope: EventEnvelope, key: str | None = None
) -> OutboundRecord:
    """Key = aggregate id by default, so one aggregate's events stay in one partition, in order.

    The headers are those the CloudEvents SDK's Kafka binding writes for the envelope (same
    names, values and order; tests/unit/test_codec_sdk.py holds it to that), built directly:
    the SDK also encoded the data with the standard json module, to be thrown away for the
    canonical orjson bytes below, and validated attributes the envelope's model already has
    (py-spy: a third of the relay's CPU)."""
    headers = ce_headers(
        envelope.id.encode(),
        envelope.source.encode(),
        envelope.type.encode(),
        envelope.subject.encode(),
        envelope.time,
        envelope.datacontenttype.encode(),
        str(envelope.sequence).encode(),
        envelope.correlationid.encode(),
        envelope.causationid.encode(),
        str(envelope.actor).encode(),
        str(envelope.schemaversion).encode(),
    )
    # orjson is canonical for our data (sorted keys), so a re-published event is byte-identical.
    value = orjson.dumps(envelope.data, option=orjson.OPT_SORT_KEYS)
    return OutboundRecord(
        topic=topic, key=(key or envelope.subject).encode(), value=value, headers=headers
    )


def ce_headers(
    id: bytes,
    source: bytes,
    type: bytes,
    subject: bytes,
    time: datetime,
    content_type: bytes,
    sequence: bytes,
    correlation: bytes,
    causation: bytes,
    actor: bytes,
    schemaversion: bytes,
) -> tuple[tuple[str, bytes], ...]:
    """An event's headers, in the SDK's order (also for the relay's records built straight from
    the stored JSON, hub.stored_records)."""
    return (
        ("ce_id", id),
        ("ce_source", source),
        ("ce_type", type),
        ("ce_subject", subject),
        ("ce_time", _header_time(time)),
        ("content-type", content_type),
        ("ce_sequence", sequence),
        ("ce_correlationid", correlation),
        ("ce_causationid", causation),
        ("ce_actor", actor),
        ("ce_schemaversion", schemaversion),
        ("ce_specversion", _SPEC_VERSION),
    )


_SPEC_VERSION = SPEC_VERSION.encode()


def _header_time(time: datetime) -> bytes:
    """RFC 3339 as `isoformat()` writes it, UTC as `Z`: orjson writes the same bytes (quoted)
    in a fifth of the time (py-spy: 5 % of the relay's CPU went to the isoformat)."""
    return orjson.dumps(time, option=orjson.OPT_UTC_Z)[1:-1]


# The headers `envelope_to_record` writes, each once, in lower case and in its order (read off
# `ce_headers` itself, so the one-pass read follows the writer).
_ORDER = tuple(
    name for name, _ in ce_headers(*(b"",) * 4, datetime(2000, 1, 1, tzinfo=UTC), *(b"",) * 6)
)
_WRITTEN = frozenset(_ORDER)
# Where `written_values` puts the type (hub.streaming.feeds reads it before decoding).
TYPE_AT = _ORDER.index("ce_type")
Written = tuple[bytes, ...]


def record_to_envelope(
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
    written: Written | None = None,
    load: Callable[[bytes], Any] = orjson.loads,
) -> EventEnvelope:
    """Parse a binary-mode CloudEvent back; raises ValueError on anything malformed.

    Read as the SDK's Kafka binding reads it (ce_* headers, `content-type`), without its
    detour: it parsed the data with the standard json module and validated every attribute
    before the envelope's model validated them again (py-spy: a tenth of each consuming role's
    CPU). The data is read with orjson: every record on the hub's topics was written by
    `envelope_to_record` with orjson, which refuses integers beyond 64 bits and NaN, so nothing
    it wrote reads differently.

    A record with exactly the headers `envelope_to_record` writes (every record on the hub's
    topics) is read by `_as_written`, which checks in Python what the model's validation would
    and builds the envelope without it (the model and the loop over the headers were two
    thirds of a record's decoding). Anything else, and any record it finds fault with, goes the
    model's way (`_by_the_model`), which decides what is refused and why: the two accept the
    same records and read them the same (tests/unit/test_codec_fast.py). A claim check (an
    event the relay left in the store: `connectors.claim_check`) raises `Claimed`.

    `written`: the headers' values as `written_values` read them, from a caller that read
    them already (for the type); `load`: what parses the data of a record read the fast way
    (connectors.unread_explanation's, for followers that never read a decision's
    explanation)."""
    if written is None:
        written = written_values(headers)
    if written is None:
        # The written names in another order: read as they were before the one-pass read.
        header_map = dict(headers)
        if header_map.keys() == _WRITTEN:
            written = tuple(header_map[name] for name in _ORDER)
    if written is not None:
        envelope = _as_written(value, written, load)
        if envelope is not None:
            return envelope
    return _by_the_model(value, dict(headers))


def written_values(headers: Sequence[tuple[str, bytes]]) -> Written | None:
    """The values of headers that are exactly the ones `envelope_to_record` writes, in its order
    (every record on the hub's topics), or None. One pass: the role looked at each record's
    headers four times (its type, a dict of them, their names, each value decoded; py-spy,
    ~10 % of the projections role's samples)."""
    try:
        (
            (n0, v0),
            (n1, v1),
            (n2, v2),
            (n3, v3),
            (n4, v4),
            (n5, v5),
            (n6, v6),
            (n7, v7),
            (n8, v8),
            (n9, v9),
            (n10, v10),
            (n11, v11),
        ) = headers
    except (TypeError, ValueError):  # not twelve pairs
        return None
    if (n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11) != _ORDER:
        return None
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11)


_CONTENT_TYPE = b"application/json"


def _as_written(
    value: bytes, written: Written, load: Callable[[bytes], Any] = orjson.loads
) -> EventEnvelope | None:
    """The envelope of a record with the written headers (their values in `_ORDER`), or None
    where the model's validation may see it otherwise (it then decides, and words the error)."""
    (id_, source, type_, subject, time_, content_type, sequence_, correlation, causation,
     actor_, schemaversion_, specversion) = written  # fmt: skip
    if specversion != _SPEC_VERSION:
        return None
    try:
        sequence = int(sequence_.decode())
        schemaversion = int(schemaversion_.decode())
        time = _parse_time(time_.decode())
        actor = Actor.parse(actor_.decode())
        envelope = EventEnvelope.trusted(
            id=id_.decode(),
            source=source.decode(),
            type=type_.decode(),
            subject=subject.decode(),
            time=time,
            sequence=sequence,
            correlationid=correlation.decode(),
            causationid=causation.decode(),
            actor=actor,
            schemaversion=schemaversion,
            data=load(value) if value else {},
        )
    except ValueError:  # UnicodeDecodeError, orjson's and pydantic's errors are ValueErrors
        return None
    # What the model checks beyond the types above: the field constraints, a JSON object as
    # the data (orjson's objects have text keys) and the content type `trusted` sets.
    if sequence < 1 or schemaversion < 1 or type(envelope.data) is not dict:
        return None
    if content_type != _CONTENT_TYPE:  # bytes: an undecodable one is not it either
        return None
    # The model's validation counts every attribute it is given as set, the content type too.
    envelope.model_fields_set.add("datacontenttype")
    return envelope


def _by_the_model(value: bytes, header_map: dict[str, bytes]) -> EventEnvelope:
    """Any record, read through the envelope's model (what the codec did for every record)."""
    # A record without its identity is not an event we can deduplicate or order (the SDK
    # would have invented an id, a time or a spec version for it).
    missing = [h for h in _REQUIRED_HEADERS if h not in header_map]
    if missing:
        raise ValueError(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    claim = claim_of(value, header_map)
    if claim is not None:  # no data to read: the reader resolves it, or parks it
        raise claim
    attrs: dict[str, str] = {}
    try:
        for name, raw in header_map.items():
            lowered = name.lower()
            if lowered.startswith("ce_"):
                attrs[lowered[3:]] = raw.decode()
            elif lowered == "content-type":
                attrs["datacontenttype"] = raw.decode()
    except UnicodeDecodeError as error:
        raise ValueError(f"not a CloudEvent in Kafka binary mode: {error}") from None
    if attrs["specversion"] != SPEC_VERSION:
        raise ValueError(f"not a CloudEvent {SPEC_VERSION}: specversion {attrs['specversion']!r}")
    data = orjson.loads(value) if value else {}
    try:
        return EventEnvelope(
            id=attrs["id"],
            source=attrs["source"],
            type=attrs["type"],
            subject=attrs["subject"],
            time=_parse_time(attrs["time"]),
            datacontenttype=attrs.get("datacontenttype", "application/json"),
            sequence=int(attrs["sequence"]),
            correlationid=attrs["correlationid"],
            causationid=attrs["causationid"],
            actor=Actor.parse(attrs["actor"]),
            schemaversion=int(attrs["schemaversion"]),
            data=data,
        )
    except KeyError as missing_attribute:
        raise ValueError(f"CloudEvent lacks the attribute {missing_attribute}") from None


def _parse_time(text: str) -> datetime:
    """An RFC 3339 time, as the SDK reads `ce_time`; one without an offset is refused (the SDK
    read it in the machine's local time zone). One with no UTC equivalent (year 1 at +01:00)
    is refused too: its OverflowError was no ValueError, so the consumer did not park it."""
    time = datetime.fromisoformat(text)
    if time.tzinfo is None:
        raise ValueError(f"ce_time has no time zone: {text!r}")
    try:
        return time.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"ce_time has no UTC equivalent: {text!r}") from None
