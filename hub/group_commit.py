"""Concurrent requests' writes taken together: one transaction, one commit, for all of them."""

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")
# A request's items and the future its answers are given to.
Waiting = tuple[Sequence[Item], asyncio.Future[list[Answer]]]


class GroupCommit(Generic[Item, Answer]):
    """Requests that come while a write is under way wait for the next write, which takes them
    all (up to `max_items`): one store transaction, one commit, instead of one each. Each
    request still gets its answers only once its items are written, in its own order: the store
    sees the same commands, grouped.

    On SQLite (one writer at a time) a commit per request queued routing's decisions behind the
    requests' commits; on either store a group shares one read of what it touches and one save.

    `write` answers each item of a group, in order. If it raises, each request of the group is
    told the error, or, with `alone` given, more than one request taken and an error that
    `items_at_fault` says may be an item's doing (a poison update, a race it kept losing; not
    the store out of reach, which would make each request wait out its own timeout in turn),
    each request's items are written again by themselves (`alone`, one at a time), so that one
    request's failure is its own answer and not its neighbours'.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], list[Answer]],
        max_items: int,
        alone: Callable[[Item], Answer] | None = None,
        items_at_fault: Callable[[Exception], bool] = lambda error: True,
    ) -> None:
        self._write_many = write
        self._max_items = max_items
        self._alone = alone
        self._items_at_fault = items_at_fault
        self._waiting: list[Waiting[Item, Answer]] = []
        self._writer: asyncio.Task[None] | None = None

    async def place(self, items: Sequence[Item]) -> list[Answer]:
        if not items:
            return []
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Answer]] = loop.create_future()
        self._waiting.append((items, answer))
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write())
        return await answer

    async def _write(self) -> None:
        while self._waiting:
            taken = self._take()
            if not taken:
                return
            try:
                await self._write_group(taken)
            finally:  # the writer cancelled or failed outside a write: none is left waiting
                for _, answer in taken:
                    if not answer.done() and not answer.get_loop().is_closed():
                        answer.set_exception(RuntimeError("the group's writer stopped"))

    async def _write_group(self, taken: list[Waiting[Item, Answer]]) -> None:
        items = [item for group, _ in taken for item in group]
        try:
            results = await asyncio.to_thread(self._write_many, items)
        except Exception as error:
            if self._alone is not None and len(taken) > 1 and self._items_at_fault(error):
                await self._each_alone(taken)
                return
            for _, answer in taken:  # every request of the group is told
                if not answer.done():
                    answer.set_exception(error)
            return
        start = 0
        for group, answer in taken:
            if not answer.done():  # its request may have gone; its items are written
                answer.set_result(results[start : start + len(group)])
            start += len(group)

    async def _each_alone(self, taken: list[Waiting[Item, Answer]]) -> None:
        alone = self._alone
        assert alone is not None
        for group, answer in taken:
            try:
                results = [await asyncio.to_thread(alone, item) for item in group]
            except Exception as error:
                if not answer.done():
                    answer.set_exception(error)
                continue
            if not answer.done():
                answer.set_result(results)

    def _take(self) -> list[Waiting[Item, Answer]]:
        """The waiting requests, first come first, up to max_items (at least one request).
        Requests of another event loop (one closed with them waiting: tests run one each) are
        dropped: their answers can no longer be given."""
        loop = asyncio.get_running_loop()
        self._waiting = [w for w in self._waiting if w[1].get_loop() is loop]
        items = requests = 0
        for group, _ in self._waiting:
            if requests and items + len(group) > self._max_items:
                break
            items += len(group)
            requests += 1
        taken, self._waiting = self._waiting[:requests], self._waiting[requests:]
        return taken
