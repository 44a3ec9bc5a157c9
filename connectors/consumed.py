"""A consumed Kafka record in plain form, whatever client read it, and the DLQ record for it."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from connectors.claim_check import claim_bound
from connectors.codec import OutboundRecord


@dataclass(frozen=True)
class ConsumedMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def stream(self) -> str:
        return f"{self.topic}:{self.partition}"

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None


def normalise_headers(
    headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None,
) -> tuple[tuple[str, bytes], ...]:
    """Headers as (str, bytes) pairs, whatever the client gave: a mapping, pairs, values of
    None. Pairs that are (str, bytes) already, as aiokafka gives them, are kept as they are:
    converting every header of every record was 6 % of the projections role's CPU (py-spy)."""
    if headers is None:
        return ()
    pairs = tuple(headers.items() if isinstance(headers, Mapping) else headers)
    # Looked at in a plain loop and given back as they came when all are (str, bytes): a
    # generator making each pair again cost the intake ~0.8 µs a record, of five headers.
    for key, value in pairs:
        if type(key) is not str or type(value) is not bytes:
            return tuple(_normal(pair) for pair in pairs)
    return pairs


def _normal(pair: tuple[Any, Any]) -> tuple[str, bytes]:
    key, value = pair
    if type(key) is str and type(value) is bytes:
        return pair
    return (str(key), bytes(value) if value is not None else b"")


def to_consumed(event: Any) -> ConsumedMessage:
    """A Faust event's record as the handlers take it."""
    message = event.message
    value = message.value if isinstance(message.value, bytes) else bytes(message.value or b"")
    return ConsumedMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=value,
        headers=normalise_headers(message.headers),
    )


# The most of a refused message's bytes its rejection record repeats, and of a parked one's its
# DLQ record when the whole would not fit. The rejection record escapes them (`json_bytes`: a
# control character or an undecodable byte takes 6), so a message near its topic's limit made
# a record several times over the rejected topic's: refused by the broker, the batch was
# retried for ever. The message itself stays where `source` says.
RAW_KEPT = 128 * 1024
Headers = tuple[tuple[str, bytes], ...]
# A header's two lengths in a record (varints of at most 5 bytes each).
HEADER_FRAMING = 10


def dead_letter(
    dlq_topic: str, message: ConsumedMessage, error: str, consumer: str, limit: int
) -> OutboundRecord:
    """The original bytes and headers, plus where they came from and why they were parked.

    A message that would not fit a record of the DLQ's (`limit`, the topics' largest record,
    less the claim checks' headroom) keeps its first `RAW_KEPT` bytes (a quarter of that
    bound under a small limit), with its size and SHA-256, and its key and headers only if
    they are as small: the parking headers made a message near its topic's limit a record
    over the DLQ's, refused by the broker, and the batch holding it was parked again and
    again. The whole stays where the `dlq-original-*` headers say."""
    parked: Headers = (
        ("dlq-original-topic", message.topic.encode()),
        ("dlq-original-partition", str(message.partition).encode()),
        ("dlq-original-offset", str(message.offset).encode()),
        ("dlq-consumer", consumer.encode()),
        ("dlq-error", error[:4000].encode("utf-8", errors="replace")),
        ("dlq-parked-at", datetime.now(UTC).isoformat().encode()),
    )
    key, value, headers = message.key or b"", message.value, message.headers
    bound = claim_bound(limit)
    if len(key) + len(value) + _header_bytes(headers) + _header_bytes(parked) > bound:
        most = min(RAW_KEPT, bound // 4)  # for each of the key, the value and the headers
        kept: Headers = (
            ("dlq-original-bytes", str(len(value)).encode()),
            ("dlq-original-sha256", sha256(value).hexdigest().encode()),
        )
        if _header_bytes(headers) > most:
            kept += (("dlq-original-headers-dropped", str(len(headers)).encode()),)
            headers = ()
        if len(key) > most:
            key = sha256(key).hexdigest().encode()
            kept += (("dlq-original-key-sha256", key),)
        value, parked = value[:most], parked + kept
    return OutboundRecord(topic=dlq_topic, key=key, value=value, headers=headers + parked)


def _header_bytes(headers: Iterable[tuple[str, bytes]]) -> int:
    """What the headers take in a record: their bytes and each one's lengths (varints)."""
    return sum(len(key) + len(value) + HEADER_FRAMING for key, value in headers)


def positions_of(messages: Iterable[ConsumedMessage]) -> dict[str, int]:
    """The highest offset seen per topic-partition."""
    positions: dict[str, int] = {}
    for m in messages:
        positions[m.stream] = max(m.offset, positions.get(m.stream, -1))
    return positions


def json_bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def rejection(
    topic: str, message: ConsumedMessage, reason: str, details: dict[str, object]
) -> OutboundRecord:
    """A refused message, kept: why, the details, its raw payload (its first `RAW_KEPT` bytes,
    with its size and digest, when it is larger) and where it came from."""
    raw = message.value
    kept: dict[str, object] = {"raw_payload": raw[:RAW_KEPT].decode("utf-8", errors="replace")}
    if len(raw) > RAW_KEPT:
        kept |= {"raw_payload_bytes": len(raw), "raw_payload_sha256": sha256(raw).hexdigest()}
    body = {
        "reason": reason,
        **details,
        **kept,
        "source": {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        },
        "rejected_at": datetime.now(UTC).isoformat(),
    }
    return OutboundRecord(
        topic=topic, key=message.key or b"", value=json_bytes(body), headers=message.headers
    )
