"""Recorded decision inputs: what a routing decision saw, stored once per content digest.

Both records are created once and never change; their ids derive from their digests, so two
identical inputs (or a source definition used by many decisions) are one record in the store.
The inputs body is the canonical JSON of ``orchestration_policies.decision_inputs`` (its
sha256 is the digest), stored as its text when small (``PLAIN``: the event store compresses it)
or zlib-compressed and base64-encoded (``encoding``): a decision over 50 sources keeps about
4 kB instead of 9. A source definition is stored once, as plain JSON.
"""

import hashlib
from uuid import UUID

from eventsourcing.domain import Aggregate, event

ZLIB_BASE64 = "zlib+base64"  # base64 of the zlib-compressed canonical JSON
PLAIN = "json"  # the canonical JSON text itself

# Fixed forever: the ids of recorded inputs are derived from it.
INPUTS_NAMESPACE = UUID("9d4c1b7e-2f3a-4b6c-8d5e-7f0a1b2c3d4e")


def recorded_inputs_id(digest: str) -> UUID:
    return UUID(int=_uuid5(_INPUTS, digest))


def recorded_source_id(digest: str) -> UUID:
    return UUID(int=_uuid5(_SOURCE, digest))


def recorded_source_hex(digest: str) -> str:
    """``recorded_source_id(digest).hex`` without the UUID object (a cold re-run names 200)."""
    return f"{_uuid5(_SOURCE, digest):032x}"


# uuid.uuid5(INPUTS_NAMESPACE, prefix + digest), the same value in less than half the time
# (uuid5 builds the UUID from bytes, checking what a sha1 already gives): the sha1 of the
# namespace and name, its first 16 bytes, with the version (5) and the RFC 4122 variant set.
_INPUTS = INPUTS_NAMESPACE.bytes + b"inputs:"
_SOURCE = INPUTS_NAMESPACE.bytes + b"source:"
_CLEARED = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_5 = (5 << 76) | (0x8000 << 48)


def _uuid5(prefix: bytes, digest: str) -> int:
    hashed = int.from_bytes(
        hashlib.sha1(prefix + digest.encode(), usedforsecurity=False).digest()[:16]
    )
    return (hashed & _CLEARED) | _VERSION_5


class RecordedInputs(Aggregate):
    """What one decide() call saw (its sources named by their definitions' digests)."""

    @staticmethod
    def create_id(digest: str) -> UUID:
        return recorded_inputs_id(digest)

    @event("Recorded")
    def __init__(self, digest: str, body: str, encoding: str = ZLIB_BASE64) -> None:
        self.digest = digest
        self.body = body
        self.encoding = encoding


class RecordedSource(Aggregate):
    """A source's definition as decisions saw it, named by its digest."""

    @staticmethod
    def create_id(digest: str) -> UUID:
        return recorded_source_id(digest)

    @event("Recorded")
    def __init__(self, digest: str, definition: str) -> None:
        self.digest = digest
        self.definition = definition
