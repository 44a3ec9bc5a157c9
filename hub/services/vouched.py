"""Submissions the API validated, recorded by the intake without validating them again.

Distributed, the API validates each canonical submission (pydantic), dumps its JSON values and
digests them before it hands the payload to the submitted topic; the intake role then read the
payload again and did all of it a second time: validation ~16 µs, the digest ~8 µs and the
parse ~9 µs of its ~60 µs per order (benchmarks/README.md, h-intake3). Here the API's record
carries what it found (`submission_headers`): the submission's JSON values as orjson writes them,
its digest, and a proof, an HMAC-SHA256 under a key the API and the intake share, over the exact
bytes of the payload, those values and the digest. An intake that finds the proof holds takes
the record as a `VouchedOrder`: the values go into the order's `Placed` event as they came
(`orjson.Fragment`), with the digest; nothing is parsed but the values' few fields it names.

What has no proof, or one that does not hold (a channel's topic, a connector, a record of an
earlier release, a record altered or forged, a key that differs), is validated as before. The
key (`Settings.submission_proof_key`): unset, one derived from the database URL, which the API
and the intake share and a writer of the topic alone does not know (a sensible default for a
trial or a development hub); in production set it (at least 32 characters, random, the same in
every API and worker process). A record signed under another key (API and workers configured
apart, a key changed while records wait) is validated, as a record without a proof is.
"""

import hashlib
import hmac
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

import orjson

from aggregates import order_id_for
from hub.settings import Settings
from schemas.submission import OrderSubmission

log = logging.getLogger(__name__)

SUBMISSION_HEADER = "orderhub-submission"
DIGEST_HEADER = "orderhub-digest"
PROOF_HEADER = "orderhub-proof"
_DOMAIN = b"orderhub submission proof 1\n"  # the MAC's purpose and version, bound into it
_THREE_LENGTHS = struct.Struct(">QQQ")  # eight bytes each, big-endian


def _lengths(raw: bytes, submission: bytes, digest: bytes) -> bytes:
    # Each part's length, so that no bytes moved from one part to the next keep the MAC.
    return _THREE_LENGTHS.pack(len(raw), len(submission), len(digest))


class SubmissionProof:
    """Signs what the API validated; tells whether a record's proof holds."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a submission proof needs a key")
        # The key's HMAC state made once and copied for each record: `hmac.digest` made it
        # again for every record (OpenSSL 3 fetches the algorithm and sets up a context each
        # time), about half of the proof's cost in the intake (py-spy --native).
        self._keyed = hmac.new(key, _DOMAIN, "sha256")
        self._warned = False

    def sign(self, raw: bytes, submission: bytes, digest: bytes) -> bytes:
        mac = self._keyed.copy()
        for part in (_lengths(raw, submission, digest), raw, submission, digest):
            mac.update(part)
        return mac.hexdigest().encode()

    def holds(self, raw: bytes, submission: bytes, digest: bytes, proof: bytes) -> bool:
        if hmac.compare_digest(self.sign(raw, submission, digest), proof):
            return True
        if not self._warned:  # a key that differs costs every record its validation again
            self._warned = True
            log.warning("a submission's proof does not hold (keys differ?); validating it")
        return False


def proof_for(settings: Settings) -> SubmissionProof:
    """The proof under the configured key; unset, one derived from what the API and the
    intake share: the database URL (or the embedded files' directory)."""
    if settings.submission_proof_key is not None:
        return SubmissionProof(settings.submission_proof_key.encode())
    shared = settings.database_url or str(settings.data_dir.resolve())
    return SubmissionProof(
        hashlib.sha256(b"orderhub submission proof key\n" + shared.encode()).digest()
    )


def submission_headers(
    proof: SubmissionProof, raw: bytes, values: dict[str, Any], digest: str
) -> tuple[tuple[str, bytes], ...]:
    """The API's headers for a submission it validated (`values`: its JSON-mode dump); none
    when orjson cannot write the values (the intake then validates the payload itself)."""
    try:
        submission = orjson.dumps(values)
    except orjson.JSONEncodeError:  # a lone surrogate in a text
        return ()
    digested = digest.encode()
    return (
        (SUBMISSION_HEADER, submission),
        (DIGEST_HEADER, digested),
        (PROOF_HEADER, proof.sign(raw, submission, digested)),
    )


@dataclass(frozen=True)
class VouchedOrder:
    """A command to record an order whose submission the API validated (see the module): what
    the intake's `SubmitOrder` offers, the submission itself made only if asked for."""

    raw_payload: str
    actor: str
    correlation_id: str
    submission_bytes: bytes  # its JSON values as orjson wrote them
    digest: str
    channel: str
    external_id: str
    placed_at: datetime

    @cached_property
    def order_id(self) -> UUID:
        return order_id_for(self.channel, self.external_id)

    @cached_property
    def submission(self) -> OrderSubmission:
        """Only for what the intake does with a few orders (one rejected, a conflict)."""
        return OrderSubmission.model_validate_json(self.submission_bytes)

    @cached_property
    def submission_json(self) -> dict[str, Any]:
        values: dict[str, Any] = orjson.loads(self.submission_bytes)
        return values

    @property
    def stored_submission(self) -> Any:
        """The values as `Placed` stores them: written as they came."""
        return orjson.Fragment(self.submission_bytes)

    @property
    def stored_submission_json(self) -> bytes | None:
        """`stored_submission`'s JSON: the values' bytes, as they came."""
        return self.submission_bytes


def vouched_order(
    proof: SubmissionProof,
    raw: bytes,
    headers: dict[str, bytes],
    actor_of: Callable[[str], str],
    correlation: str,
) -> VouchedOrder | None:
    """The record's order if its proof holds, else None (validate it)."""
    submission = headers.get(SUBMISSION_HEADER)
    digest = headers.get(DIGEST_HEADER)
    mac = headers.get(PROOF_HEADER)
    if submission is None or digest is None or mac is None:
        return None
    if not proof.holds(raw, submission, digest, mac):
        return None
    values = orjson.loads(submission)
    return VouchedOrder(
        raw_payload=raw.decode("utf-8"),
        actor=actor_of(values["channel"]),
        correlation_id=correlation,
        submission_bytes=submission,
        digest=digest.decode("ascii"),
        channel=values["channel"],
        external_id=values["external_id"],
        # pydantic's JSON of an aware UTC time ("…Z"), which Python 3.11 reads back exactly.
        placed_at=datetime.fromisoformat(values["placed_at"]),
    )
