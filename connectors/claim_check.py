"""Claim checks: an event too large for a Kafka record goes out as its headers and a reference.

Kafka refuses a record batch over the topic's `max.message.bytes`; the relay, reading again from
its position, would be refused again, and that event and every one after it would wait for ever.
Accepted input can make such an event (a rejected bulk file is kept whole in its event), so the
relay publishes one over its bound as a claim check (the enterprise integration pattern): the
same key and CloudEvents headers, no data, and the CloudEvents `dataref` extension
(`ce_dataref`) naming where the whole event is served, `/v1/events/{subject}/{sequence}`. Every
other event is published whole, as before.

The hub's worker roles read the event back from the event store (`hub.streaming.feeds`); an
outside consumer asks the API at the reference, with an ops, auditor or admin key. A record is
a claim when it has the `ce_dataref` header and an empty value: CloudEvents allows a `dataref`
beside the data too, and such a record is read as an ordinary one.
"""

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the codec reads claims (`Claimed`): it imports this module
    from connectors.codec import OutboundRecord

DATAREF = "ce_dataref"
PREFIX = "/v1/events/"
# Room for the key, the headers and the record batch's own bytes beside the value (the headers
# are ~400 bytes; a record batch's framing under 100).
HEADROOM = 64 * 1024


def claim_bound(max_record_bytes: int) -> int:
    """The largest value published whole under a record limit (half of a limit too small for
    the headroom: a topic someone made with a small one)."""
    return max(max_record_bytes - HEADROOM, max_record_bytes // 2)


def dataref(subject: str, sequence: int) -> str:
    """Where the API serves the event (a URI reference, relative to the hub's base URL)."""
    return f"{PREFIX}{subject}/{sequence}"


def claimed(record: "OutboundRecord", subject: str, sequence: int) -> "OutboundRecord":
    """The record as a claim check: its value dropped, and with it the `content-type` that
    described it (a CloudEvents reader would parse the empty value as JSON; without data the
    attribute is optional), the reference added to its headers."""
    headers = tuple(h for h in record.headers if h[0] != "content-type")
    return replace(
        record, value=b"", headers=(*headers, (DATAREF, dataref(subject, sequence).encode()))
    )


class Claimed(ValueError):
    """A claim check read as an event: its data is in the event store, at `ref`.

    A ValueError, so a reader that cannot resolve claims treats the record as one it cannot
    decode (parks it, with this message), never as an event without data."""

    def __init__(self, subject: str, sequence: int, ref: str) -> None:
        super().__init__(
            f"a claim check: the event's data was over the record limit and is served at "
            f"{ref} (the event store's {subject} #{sequence})"
        )
        self.subject = subject
        self.sequence = sequence
        self.ref = ref


def claim_of(value: bytes, headers: dict[str, bytes]) -> Claimed | None:
    """The claim a record with these headers (each once) and value is, if it is one."""
    ref = headers.get(DATAREF)
    if ref is None or value:
        return None
    try:
        return Claimed(headers["ce_subject"].decode(), int(headers["ce_sequence"]), ref.decode())
    except (KeyError, ValueError):  # UnicodeDecodeError is a ValueError
        return None  # not an identifiable event: the model's reading refuses it
