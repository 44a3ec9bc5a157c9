"""A stock batch recorded in one transaction, or in halves while routing's reservations keep
landing on its items: a batch of a network's hot rows, saved while orders flow, lost every race
(soak14: a 2,457-row receipt batch answered 409 after 30 tries)."""

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from eventsourcing.domain import Aggregate

from aggregates.errors import DomainError
from hub.services.conflicts import MAX_ATTEMPTS, ConcurrentChangeError, retried
from schemas.sources import StockDelta, StockSnapshot

Row = StockSnapshot | StockDelta
# Where a stock-feed message was read: ("topic/partition", offset). A message applied once is
# recognised by its item when delivered again (hub.streaming: at-least-once).
FeedPosition = tuple[str, int]
# What to record with a batch about the rows it refused (their index in the batch and why): the
# stock feed keeps each refused row as a rejected submission in the batch's own transaction.
KeepRefused = Callable[[list[tuple[int, DomainError]]], Sequence[Aggregate]]
# Tries of a many-row batch before it is halved: a few, since a batch that lost that many
# races to reservations on its items will lose the next ones too.
BATCH_ATTEMPTS = 3
L = TypeVar("L")


class PartlyRecordedError(Exception):
    """A batch stopped after its first rows were recorded, in parts that committed: `settled`
    has their results in order, `cause` is what stopped the rest (none of which was recorded)."""

    def __init__(self, settled: list[Any], cause: BaseException) -> None:
        super().__init__(f"{len(settled)} stock rows recorded, then {cause!r}")
        self.settled = settled
        self.cause = cause


class NotRecordedError(DomainError):
    """A row of a bulk request that was not recorded because the request stopped before it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"not recorded ({type(cause).__name__}); send this row again")


class Halves(Generic[L]):
    """`apply` (rows, their feed positions, keep_refused → one result per row, one transaction)
    run on the whole batch, then on halves of what keeps conflicting, down to single rows;
    halves in order keep an item's rows in order.

    A single row that never wins is raised for a feed (`answer=False`: the messages are
    delivered again and what was recorded is recognised by its offset); for a client
    (`answer=True`, REST) it is answered "try again" with every later row of its item, so that
    resending only the refused rows keeps each item's order, and a failure once part of the
    batch was recorded answers the rows not recorded instead of failing the whole request (a
    client resending all of it would apply the recorded deltas twice)."""

    def __init__(
        self,
        apply: Callable[
            [list[Row], list[FeedPosition | None], KeepRefused | None], list[L | DomainError]
        ],
        answer: bool,
    ) -> None:
        self._apply = apply
        self._answer = answer
        self._blocked: set[tuple[str, str]] = set()  # items with a row answered "try again"

    def run(
        self, rows: list[Row], positions: list[FeedPosition | None], keep: KeepRefused | None
    ) -> list[L | DomainError]:
        try:
            return self._halves(rows, positions, keep)
        except PartlyRecordedError as partly:
            if not self._answer:
                raise
            rest: list[L | DomainError] = [NotRecordedError(partly.cause)]
            return partly.settled + rest * (len(rows) - len(partly.settled))

    def _halves(
        self, rows: list[Row], positions: list[FeedPosition | None], keep: KeepRefused | None
    ) -> list[L | DomainError]:
        single = len(rows) == 1
        if any((r.source_id, r.sku) in self._blocked for r in rows):
            if single:
                after = f"stock {rows[0].source_id}/{rows[0].sku} (after a row of it not recorded)"
                return [ConcurrentChangeError(after)]
        else:
            first_row = f"stock {rows[0].source_id}/{rows[0].sku}"
            try:
                return retried(
                    first_row if single else f"a batch of {len(rows)} stock rows",
                    lambda: self._apply(rows, positions, keep),
                    MAX_ATTEMPTS if single else BATCH_ATTEMPTS,
                )
            except ConcurrentChangeError as conflict:
                if single and not self._answer:
                    raise
                if single:
                    self._blocked.add((rows[0].source_id, rows[0].sku))
                    return [conflict]
        half = len(rows) // 2
        first = self._halves(rows[:half], positions[:half], keep)
        try:
            later = self._halves(rows[half:], positions[half:], shifted(keep, half))
        except PartlyRecordedError as partly:
            raise PartlyRecordedError([*first, *partly.settled], partly.cause) from partly.cause
        except Exception as error:
            raise PartlyRecordedError(list(first), error) from error
        return first + later


def shifted(keep: KeepRefused | None, offset: int) -> KeepRefused | None:
    """`keep` for the rows of a batch from `offset` on, given their indexes in that part."""
    if keep is None:
        return None
    return lambda refusals: keep([(index + offset, error) for index, error in refusals])
