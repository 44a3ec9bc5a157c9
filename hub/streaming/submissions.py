"""Distributed capture: a submission is durable once the broker acknowledged it (acks=all).

The API's requests each hand one record to the submitted topic. Sent one by one (aiokafka's
`send`, lingering for others to join), each record paid the producer's per-record work (its
future, its partition's batch lingering, a wake-up of the sender's loop for each new batch).
`SubmissionGateway` gathers the records of concurrent requests itself and hands them over as
closed record batches (`KafkaPublisher(whole_batches=True)`): one produce request, the records
of a partition in the order they came. Each request is answered when its record's batch is
acknowledged, or with the error that batch met. While one round is being published the next
gathers (the producer keeps one request in flight per broker anyway); `linger_ms` holds a
round's first record that long for others. The API waits before its duplicate checks instead
(`hub.services.existing_checks`): the orders of a round of checks come here together.
"""

import asyncio
import time
from collections.abc import Sequence

from aiokafka.errors import MessageSizeTooLargeError

from connectors.codec import OutboundRecord
from connectors.publisher import Publisher
from hub.services.intake import SubmitOrder
from hub.services.vouched import SubmissionProof, submission_headers

ACTOR_HEADER = "orderhub-actor"
CORRELATION_HEADER = "orderhub-correlation-id"

_Waiting = tuple[OutboundRecord, "asyncio.Future[None]"]


def submission_record(
    topic: str, command: SubmitOrder, proof: SubmissionProof | None = None
) -> OutboundRecord:
    """The submitted topic carries the payload as received; who sent it travels in headers,
    and with a `proof`, what the API's validation found (hub.services.vouched)."""
    raw = command.raw_payload.encode()
    headers: tuple[tuple[str, bytes], ...] = (
        (ACTOR_HEADER, command.actor.encode()),
        (CORRELATION_HEADER, command.correlation_id.encode()),
    )
    if proof is not None:
        headers += submission_headers(proof, raw, command.submission_json, command.digest)
    return OutboundRecord(
        topic=topic, key=str(command.order_id).encode(), value=raw, headers=headers
    )


class SubmissionGateway:
    """`publisher` publishes its records as closed batches, at once (see the module)."""

    def __init__(
        self,
        publisher: Publisher,
        topic: str,
        linger_ms: float = 0,
        proof: SubmissionProof | None = None,
    ) -> None:
        self._publisher = publisher
        self._topic = topic
        self._proof = proof
        self._linger = linger_ms / 1000
        self._waiting: list[_Waiting] = []
        self._first_at = 0.0  # when the first of `_waiting` came
        self._rounds: asyncio.Task[None] | None = None

    async def submit(self, command: SubmitOrder) -> None:
        """Returns once the broker acknowledged the command's record (acks=all), or raises."""
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[None] = loop.create_future()
        if not self._waiting:
            self._first_at = time.monotonic()
        self._waiting.append((submission_record(self._topic, command, self._proof), acknowledged))
        if self._rounds is None:
            self._rounds = loop.create_task(self._publish_rounds())
        await acknowledged

    async def _publish_rounds(self) -> None:
        try:
            while self._waiting:
                wait = self._first_at + self._linger - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                taken, self._waiting = self._waiting, []
                await self._publish(taken)
        finally:
            self._rounds = None
            for _, acknowledged in self._waiting:  # cancelled (shut down): nobody publishes them
                acknowledged.cancel()
            self._waiting = []

    async def _publish(self, taken: Sequence[_Waiting]) -> None:
        try:
            await self._publisher.publish([record for record, _ in taken])
        except MessageSizeTooLargeError as error:
            if len(taken) == 1:
                _answer(taken, error)
                return
            # Refused before anything was sent: one record did not fit a batch. Each goes
            # alone, so that only its own request fails, as when each was sent by itself.
            for one in taken:
                await self._publish([one])
        except Exception as error:  # every record of the round shares its fate
            _answer(taken, error)
        except BaseException as error:  # cancelled: the requests are told, then it goes on
            _answer(taken, error)
            raise
        else:
            _answer(taken, None)


def _answer(taken: Sequence[_Waiting], error: BaseException | None) -> None:
    for _, acknowledged in taken:
        if acknowledged.done():  # its request went away (cancelled)
            continue
        if error is None:
            acknowledged.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            acknowledged.cancel()
        else:
            acknowledged.set_exception(error)
