"""The submitted topic's gateway: the records of concurrent requests published together, each
request answered when its own record is acknowledged, or with the error it met."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from connectors.codec import OutboundRecord
from hub.services.intake import SubmitOrder
from hub.streaming.submissions import SubmissionGateway, submission_record
from schemas.submission import OrderSubmission

TOPIC = "t.orders.submitted"


def command(external_id: str) -> SubmitOrder:
    submission = OrderSubmission.model_validate(
        {
            "channel": "web",
            "external_id": external_id,
            "placed_at": datetime(2026, 12, 5, tzinfo=UTC).isoformat(),
            "customer": {"id": "c1"},
            "ship_to": {
                "name": "A",
                "line1": "B",
                "city": "C",
                "postal_code": "1",
                "country": "DE",
            },
            "lines": [{"line_id": "1", "sku": "S", "quantity": 1, "unit_price": Decimal("2")}],
            "currency": "EUR",
        }
    )
    return SubmitOrder(submission, f"raw {external_id}", "channel:web", f"corr-{external_id}")


class Broker:
    """Publishes after `delay`; fails the rounds holding a record named in `failing`."""

    def __init__(self, delay: float = 0.0, failing: dict[bytes, Exception] | None = None) -> None:
        self.rounds: list[list[OutboundRecord]] = []
        self.delay = delay
        self.failing = failing or {}

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        self.rounds.append(list(records))
        await asyncio.sleep(self.delay)
        for record in records:
            if record.value in self.failing:
                raise self.failing[record.value]


def values(rounds: list[list[OutboundRecord]]) -> list[list[bytes]]:
    return [[r.value for r in records] for records in rounds]


@pytest.mark.asyncio
async def test_concurrent_requests_share_a_round_in_their_order() -> None:
    broker = Broker()
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=20)

    await asyncio.gather(*(gateway.submit(command(f"o{i}")) for i in range(5)))

    assert values(broker.rounds) == [[f"raw o{i}".encode() for i in range(5)]]
    assert broker.rounds[0][2] == submission_record(TOPIC, command("o2"))


@pytest.mark.asyncio
async def test_a_lone_request_waits_the_linger_then_goes() -> None:
    broker = Broker()
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=30)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await gateway.submit(command("a"))

    assert loop.time() - started >= 0.029
    assert values(broker.rounds) == [[b"raw a"]]


@pytest.mark.asyncio
async def test_requests_during_a_round_go_in_the_next_one() -> None:
    broker = Broker(delay=0.05)
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=0)

    first = asyncio.ensure_future(gateway.submit(command("a")))
    await asyncio.sleep(0.01)  # the first round is being published
    later = [asyncio.ensure_future(gateway.submit(command(x))) for x in ("b", "c")]
    assert not first.done()
    await asyncio.gather(first, *later)

    assert values(broker.rounds) == [[b"raw a"], [b"raw b", b"raw c"]]


@pytest.mark.asyncio
async def test_a_failed_round_fails_each_of_its_requests_and_the_next_goes_on() -> None:
    broker = Broker(failing={b"raw b": KafkaTimeoutError()})
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=5)

    answers = await asyncio.gather(
        *(gateway.submit(command(x)) for x in ("a", "b")), return_exceptions=True
    )
    assert [type(a) for a in answers] == [KafkaTimeoutError, KafkaTimeoutError]

    await gateway.submit(command("c"))
    assert values(broker.rounds)[-1] == [b"raw c"]


@pytest.mark.asyncio
async def test_a_record_too_large_fails_only_its_own_request() -> None:
    broker = Broker(failing={b"raw b": MessageSizeTooLargeError()})
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=5)

    answers = await asyncio.gather(
        *(gateway.submit(command(x)) for x in ("a", "b", "c")), return_exceptions=True
    )

    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], MessageSizeTooLargeError)
    assert values(broker.rounds) == [
        [b"raw a", b"raw b", b"raw c"],
        [b"raw a"],
        [b"raw b"],
        [b"raw c"],
    ]


@pytest.mark.asyncio
async def test_a_cancelled_request_leaves_the_others_answered() -> None:
    broker = Broker(delay=0.02)
    gateway = SubmissionGateway(broker, TOPIC, linger_ms=5)

    gone = asyncio.ensure_future(gateway.submit(command("a")))
    kept = asyncio.ensure_future(gateway.submit(command("b")))
    await asyncio.sleep(0.01)
    gone.cancel()

    await kept
    assert gone.cancelled()
    assert values(broker.rounds) == [[b"raw a", b"raw b"]]  # sent, as a record handed over is
