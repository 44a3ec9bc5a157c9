"""A source's update in, from REST or Kafka: applied, or parked with its reason (never half)."""

import json
from dataclasses import dataclass

from pydantic import ValidationError

from aggregates.errors import DomainError
from hub.services.fulfillment import FulfillmentService, UpdateResult
from hub.services.intake import IntakeService, RejectSubmission
from schemas.fulfillment import FulfillmentUpdate
from schemas.problems import field_problems


@dataclass(frozen=True)
class Parked:
    reason: str
    problems: list[dict[str, str]]


def park(
    intake: IntakeService,
    raw: str,
    source_id: str,
    reason: str,
    problems: list[dict[str, str]],
    external_id: str | None = None,
) -> Parked:
    """Keep the refused update where operations look for exceptions (rejected submissions)."""
    intake.record_rejections(
        [
            RejectSubmission(
                channel=f"source:{source_id}",
                raw_payload=raw,
                format="fulfillment-update",
                reason=reason,
                problems=problems,
                actor=f"source:{source_id}" if source_id != "unknown" else "system:fulfillment",
                external_id=external_id,
            )
        ]
    )
    return Parked(reason, problems)


def apply_raw_update(
    fulfillment: FulfillmentService, intake: IntakeService, raw: str
) -> UpdateResult | Parked:
    """Parse and apply one update; anything refused is parked with field-level reasons."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not JSON: {error}") from None
    source_id = (
        str(payload.get("source_id") or "unknown") if isinstance(payload, dict) else "unknown"
    )
    try:
        update = FulfillmentUpdate.model_validate(payload)
    except ValidationError as error:
        problems = [p.model_dump() for p in field_problems(error)]
        return park(intake, raw, source_id, "invalid_update", problems)
    try:
        return fulfillment.apply_update(update)
    except DomainError as error:
        problem = {"field": "shipment_id", "message": str(error), "code": type(error).__name__}
        return park(
            intake,
            raw,
            update.source_id,
            type(error).__name__,
            [problem],
            external_id=update.shipment_id,
        )
