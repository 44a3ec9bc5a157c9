"""RejectedSubmission: a payload that could not become an order, kept with its reasons."""

import hashlib
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def rejected_submission_id(channel: str, raw_payload: str) -> UUID:
    """The same bad payload from the same channel is one record, however often it is re-sent."""
    digest = hashlib.sha256(raw_payload.encode("utf-8", errors="replace")).hexdigest()
    return uuid5(NAMESPACE_URL, f"orderhub:rejected:{channel}:{digest}")


class RejectedSubmission(Aggregate):
    @staticmethod
    def create_id(channel: str, raw_payload: str) -> UUID:
        return rejected_submission_id(channel, raw_payload)

    @event("Recorded")
    def __init__(
        self,
        channel: str,
        raw_payload: str,
        format: str,
        reason: str,
        problems: list[dict[str, Any]],
        external_id: str | None,
        details: dict[str, Any],
        actor: str,
        at: datetime,
    ) -> None:
        self.channel = channel
        self.raw_payload = raw_payload
        self.format = format
        self.reason = reason
        self.problems = problems
        self.external_id = external_id
        self.details = details
        self.recorded_at = at
