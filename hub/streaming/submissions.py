"""Distributed capture: a submission is durable once the broker acknowledged it (acks=all)."""

from connectors.codec import OutboundRecord
from connectors.publisher import Publisher
from hub.services.intake import SubmitOrder

ACTOR_HEADER = "orderhub-actor"
CORRELATION_HEADER = "orderhub-correlation-id"


def submission_record(topic: str, command: SubmitOrder) -> OutboundRecord:
    """The submitted topic carries the payload as received; who sent it travels in headers."""
    return OutboundRecord(
        topic=topic,
        key=str(command.order_id).encode(),
        value=command.raw_payload.encode(),
        headers=(
            (ACTOR_HEADER, command.actor.encode()),
            (CORRELATION_HEADER, command.correlation_id.encode()),
        ),
    )


class SubmissionGateway:
    def __init__(self, publisher: Publisher, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic

    async def submit(self, command: SubmitOrder) -> None:
        await self._publisher.publish([submission_record(self._topic, command)])
