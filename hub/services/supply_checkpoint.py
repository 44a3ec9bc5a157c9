"""Checkpoints of the supply view, so that a start reads a checkpoint and the log after it.

Rebuilding the view from the beginning of the log costs 35-90 µs per supply event: 11.5 s after
54,000 orders, minutes after a million, and a worker restarting under load falls that far
behind. The view's whole state is small beside its history (sources, one row per stock item,
shipments per source for the last days), so the process that keeps the view writes it now and
then, with the log position it covers (hub.view_checkpoints), and a start restores the newest
one and catches up from that position. The view is a function of the log up to its position,
so any process's checkpoint serves every process.

The position is the view's own, with the live view's meaning: the last notification id it has
applied or passed. PostgreSQL may leave gaps in the ids (a rolled-back insert), but never fills
one later: the store's saves take turns (hub/pg_recorder.py), each assigning its ids and
committing before the next begins, so nothing can
appear at or below a position once the view has passed it. Catching up from a checkpoint is
the same `refresh()` the live view runs after every batch.

Format (FORMAT = 1): zlib-compressed JSON (orjson writes it; pydantic, strict, reads it back),
stock as columns: ~8 bytes per stock row compressed. zlib's checksum and the strict
read make a damaged checkpoint an error, and an error, a missing checkpoint, a checkpoint of
another format or one past the end of the log is a full rebuild, logged: never a wrong view.
A change to what the view keeps or how it is written takes a new FORMAT.

Written off the routing call, by a thread that looks every CHECK_SECONDS and writes when the
view has applied EVERY_EVENTS events since the last checkpoint, or anything at all and
EVERY_SECONDS have passed (a quiet hub still gets one); and at a clean stop. Both thresholds are
settings (`ORDERHUB_SUPPLY_CHECKPOINT_EVENTS`, `ORDERHUB_SUPPLY_CHECKPOINT_SECONDS`). Routing waits
only while the view's state is copied (`SupplyView.export`, about a millisecond).
"""

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain, starmap
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from hub.collector import collector_paused
from hub.services.supply_view import Holding, SupplyState, SupplyView
from hub.store import OrderStore
from hub.view_checkpoints import CheckpointTable, StoredCheckpoint, checkpoint_table

log = logging.getLogger(__name__)

VIEW = "supply"
FORMAT = 1
EVERY_EVENTS = 50_000
EVERY_SECONDS = 60.0
CHECK_SECONDS = 5.0


class _Checkpoint(BaseModel):
    """The stored shape, read strictly: a wrong type anywhere is an unreadable checkpoint."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal[1]
    position: NonNegativeInt
    policy_generation: NonNegativeInt
    sources: list[tuple[str, dict[str, Any], bool]]
    # Columns, so that both ways run in C: the (source id, SKU) of each stock row, and
    # on hand, reserved, safety stock and version of each, in that order, flat.
    stock_keys: list[tuple[str, str]]
    stock_levels: list[int]
    shipments: list[tuple[date, list[tuple[str, int]]]]


EMPTY = SupplyState(position=0, policy_generation=0, sources=[], stock={}, shipments={})


class CheckpointUnreadable(Exception):
    """Bytes that are not a checkpoint of this format."""


def encode(state: SupplyState) -> bytes:
    with collector_paused():
        return _encode(state)


def _encode(state: SupplyState) -> bytes:
    document = {
        "format": FORMAT,
        "position": state.position,
        "policy_generation": state.policy_generation,
        "sources": state.sources,
        "stock_keys": list(state.stock),
        "stock_levels": list(chain.from_iterable(state.stock.values())),
        "shipments": [(day, list(counts.items())) for day, counts in state.shipments.items()],
    }
    return zlib.compress(orjson.dumps(document), 1)


def decode(blob: bytes) -> SupplyState:
    with collector_paused():
        return _decode(blob)


def _decode(blob: bytes) -> SupplyState:
    try:
        stored = _Checkpoint.model_validate_json(zlib.decompress(blob))
    except (zlib.error, ValidationError) as exc:
        raise CheckpointUnreadable(str(exc).splitlines()[0]) from exc
    levels = iter(stored.stock_levels)
    holdings = list(starmap(Holding, zip(levels, levels, levels, levels, strict=False)))
    if len(holdings) != len(stored.stock_keys) or len(stored.stock_levels) % 4:
        raise CheckpointUnreadable(
            f"{len(stored.stock_keys)} stock rows but {len(stored.stock_levels)} levels"
        )
    return SupplyState(
        position=stored.position,
        policy_generation=stored.policy_generation,
        sources=stored.sources,
        stock=dict(zip(stored.stock_keys, holdings, strict=True)),
        shipments={day: dict(counts) for day, counts in stored.shipments},
    )


@dataclass(frozen=True, slots=True)
class StartReport:
    """How a view started: from which checkpoint position (None: rebuilt) and events read."""

    checkpoint: int | None
    events_read: int
    seconds: float


class SupplyCheckpoints:
    """Starts a view from its newest checkpoint and keeps writing new ones while it runs."""

    def __init__(
        self,
        view: SupplyView,
        store: OrderStore,
        table: CheckpointTable | None = None,
        every_events: int = EVERY_EVENTS,
        every_seconds: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self._store = store
        self._table = table if table is not None else checkpoint_table(store.recorder)
        self._every_events = every_events
        self._every_seconds = every_seconds
        self._clock = clock
        self._written_at = clock()
        self._written_position = -1
        self._applied_mark = 0  # the view's `applied` when the last checkpoint was taken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_view(self) -> StartReport:
        """Restore the newest readable checkpoint (or rebuild), then catch up to the log's end."""
        started = time.perf_counter()
        state = self._newest()
        if state is not None and not self._restored(state):
            state = None
        if state is not None:
            self._written_position, self._applied_mark = state.position, 0
        else:
            self._written_at = -math.inf  # rebuilt: worth a checkpoint at the first look
        read = self.view.refresh()
        report = StartReport(state.position if state else None, read, time.perf_counter() - started)
        log.info(
            "supply view started from %s: %d events read in %.2f s",
            "a full rebuild" if state is None else f"the checkpoint at {state.position}",
            read,
            report.seconds,
        )
        return report

    def _restored(self, state: SupplyState) -> bool:
        """Whether the view took the state; a source definition it cannot read leaves it empty."""
        try:
            with collector_paused():
                self.view.restore(state)
        except Exception:
            log.warning("supply view checkpoint not usable: rebuilding from the log", exc_info=True)
            self.view.restore(EMPTY)
            return False
        return True

    def _newest(self) -> SupplyState | None:
        if self._table is None:
            return None
        stored = {c.format: c for c in self._table.read(VIEW)}
        mine = stored.get(FORMAT)
        if mine is None:
            others = sorted(stored)
            log.info(
                "no supply view checkpoint of format %d%s: rebuilding from the log",
                FORMAT,
                f" (only of formats {others})" if others else "",
            )
            return None
        try:
            state = decode(mine.state)
        except CheckpointUnreadable as exc:
            log.warning("supply view checkpoint unreadable (%s): rebuilding from the log", exc)
            return None
        end = self._store.max_position()
        if state.position != mine.position or state.position > end:
            log.warning(
                "supply view checkpoint at %d (row says %d) does not fit a log ending at %d: "
                "rebuilding from the log",
                state.position,
                mine.position,
                end,
            )
            return None
        return state

    def due(self) -> bool:
        new = self.view.applied - self._applied_mark
        if self.view.position <= self._written_position or new <= 0:
            return False
        return new >= self._every_events or self._clock() - self._written_at >= self._every_seconds

    def write(self) -> bool:
        """Write a checkpoint of the view now (unless another process's is as new). Whether
        one was written."""
        if self._table is None:
            return False
        applied = self.view.applied
        state = self.view.export()
        stored = self._table.position(VIEW, FORMAT)
        written = False
        if stored is None or stored < state.position:
            checkpoint = StoredCheckpoint(
                VIEW, FORMAT, state.position, datetime.now(UTC), encode(state)
            )
            written = self._table.write(checkpoint)
        self._written_at, self._written_position = self._clock(), state.position
        self._applied_mark = applied
        return written

    def start(self) -> None:
        """Write checkpoints in the background while the view is kept current."""
        if self._table is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="supply-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop writing; a last checkpoint if the view moved, so the next start reads little."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self.view.position > self._written_position:
            self._write_logged()

    def _run(self) -> None:
        # A hub told to checkpoint more often than CHECK_SECONDS looks as often as it is told.
        while not self._stop.wait(min(CHECK_SECONDS, self._every_seconds)):
            if self.due():
                self._write_logged()

    def _write_logged(self) -> None:
        # Only a shortcut for the next start: a failure is logged and the next turn tries again.
        try:
            self.write()
        except Exception:
            log.exception("could not write a supply view checkpoint")
