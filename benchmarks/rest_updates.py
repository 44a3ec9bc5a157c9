"""`benchmarks.fulfillment_batch --rest`: the shipped updates applied as the API's route applies
a source's updates, in this process (no HTTP)."""

import argparse
import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from connectors.consumed import ConsumedMessage
from hub.bootstrap import Hub
from hub.services.fulfillment_updates import Parked, apply_raw_update


def rest_label(args: argparse.Namespace) -> str:
    if not args.rest:
        return ""
    if args.concurrency <= 1:
        return ", updates one at a time (REST)"
    how = "each alone" if args.ungrouped else "grouped"
    return f", updates over REST {args.concurrency} in flight, {how}"


def one_by_one(hub: Hub) -> Callable[[Sequence[ConsumedMessage]], Any]:
    """`--rest`: each update applied alone, as the API's `POST /v1/fulfillment/updates` does
    (a source's connector over REST), in this process."""

    async def handle(batch: Sequence[ConsumedMessage]) -> None:
        for message in batch:
            answer = apply_raw_update(hub.fulfillment, hub.intake, message.value.decode())
            assert not isinstance(answer, Parked), answer

    return handle


def in_flight(hub: Hub, args: argparse.Namespace) -> Callable[[Sequence[ConsumedMessage]], Any]:
    """`--rest --concurrency N`: N updates in flight at a time, each posted as the previous one
    of its poster is answered, through the route's groups (or, `--ungrouped`, each applied alone
    in a thread, as the route did before)."""

    async def apply(text: str) -> Any:
        if args.ungrouped:
            return await asyncio.to_thread(apply_raw_update, hub.fulfillment, hub.intake, text)
        (answer,) = await hub.updates.place([text])
        return answer

    async def handle(batch: Sequence[ConsumedMessage]) -> None:
        texts = iter([message.value.decode() for message in batch])

        async def poster() -> None:
            for text in texts:
                answer = await apply(text)
                assert not isinstance(answer, Parked | ValueError), answer

        await asyncio.gather(*(poster() for _ in range(args.concurrency)))

    return handle
