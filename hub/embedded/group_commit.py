"""Embedded capture: the orders of concurrent requests recorded in one transaction."""

import asyncio
from collections.abc import Callable, Sequence

from hub.services.intake import PlaceResult, SubmitOrder

Place = Callable[[Sequence[SubmitOrder]], list[PlaceResult]]


class GroupCommit:
    """Requests that come while orders are being written wait for the next write, which takes
    them all (up to `max_orders`): one event-store transaction, one commit, instead of one each.

    SQLite has one writer at a time. With a commit per request, under load the delivery thread,
    whose routing decisions go to the same store, queued behind the requests' commits and
    routing fell behind what the hub could do. Each request still gets its answer only once
    its orders are committed, and in its own order: the store sees the same commands, grouped.
    """

    def __init__(self, place: Place, max_orders: int) -> None:
        self._place = place
        self._max_orders = max_orders
        self._waiting: list[tuple[Sequence[SubmitOrder], asyncio.Future[list[PlaceResult]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def place(self, commands: Sequence[SubmitOrder]) -> list[PlaceResult]:
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[PlaceResult]] = loop.create_future()
        self._waiting.append((commands, answer))
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write())
        return await answer

    async def _write(self) -> None:
        while self._waiting:
            taken = self._take()
            commands = [command for group, _ in taken for command in group]
            try:
                results = await asyncio.to_thread(self._place, commands)
            except Exception as error:  # every request of the group is told
                for _, answer in taken:
                    if not answer.done():
                        answer.set_exception(error)
                continue
            start = 0
            for group, answer in taken:
                if not answer.done():  # its request may have gone; its orders are recorded
                    answer.set_result(results[start : start + len(group)])
                start += len(group)

    def _take(self) -> list[tuple[Sequence[SubmitOrder], asyncio.Future[list[PlaceResult]]]]:
        """The waiting requests, first come first, up to max_orders (at least one request)."""
        orders = requests = 0
        for group, _ in self._waiting:
            if requests and orders + len(group) > self._max_orders:
                break
            orders += len(group)
            requests += 1
        taken, self._waiting = self._waiting[:requests], self._waiting[requests:]
        return taken
