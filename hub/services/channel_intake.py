"""From a channel's native payload to intake commands, through the channel's adapter."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connectors.channels import ADAPTERS, ChannelContext, Mapped, Refused
from hub.services.intake import RejectSubmission, SubmitOrder
from schemas.channels import ChannelDefinition


@dataclass(frozen=True)
class Translated:
    """One payload's items, in order: a command to record, or a rejection to keep."""

    items: list[SubmitOrder | RejectSubmission]


def translate(
    definition: ChannelDefinition,
    raw: bytes,
    correlation_id: str,
    now: datetime,
    operator: str | None = None,
) -> Translated:
    """Map with the channel's adapter; raises connectors.channels.UnparseablePayload."""
    adapter = ADAPTERS[definition.format]
    context = ChannelContext.for_channel(
        definition, now, operator=operator, stores=definition.stores
    )
    items: list[SubmitOrder | RejectSubmission] = []
    for result in adapter(raw, context):
        if isinstance(result, Mapped):
            items.append(
                SubmitOrder(
                    submission=result.submission,
                    raw_payload=result.raw,
                    actor=result.actor,
                    correlation_id=f"{correlation_id}#{result.index}",
                )
            )
        elif isinstance(result, Refused):
            items.append(
                RejectSubmission(
                    channel=definition.channel_id,
                    raw_payload=result.raw,
                    format=definition.format,
                    reason="invalid_submission",
                    problems=[p.model_dump() for p in result.problems],
                    actor=f"channel:{definition.channel_id}",
                    external_id=result.external_id,
                    details={"index": result.index},
                )
            )
    return Translated(items)


ChannelLookup = Callable[[str], ChannelDefinition]
