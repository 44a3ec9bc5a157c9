"""Channel definitions kept in memory between batches, and checked against the store at each use.

The intake role parses each channel topic's records with its channel's definition. Loading the
channel for every batch (a query for all its events, the aggregate rebuilt, the definition
validated) was some 16 % of the role's busy samples (py-spy, benchmarks/README.md). A definition
must never be used stale, though: a channel redefined (its format, its SKU map, its stores) takes
effect from the next batch read after the change. So each use asks the store for the channel
events recorded after the version held, for every channel of the batch in one query
(`select_events_of_many`, on the index of the events table), which comes back empty while
nothing changed; new events are projected onto the aggregate held, and only then is the
definition validated again. A channel not registered is held as unknown at version 0, so that
its registration is seen the same way.
"""

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aggregates.channel import Channel, channel_aggregate_id
from hub.multi_get import project_events, select_events_of_many
from hub.store import OrderStore
from schemas.channels import ChannelDefinition


@dataclass(frozen=True)
class _Held:
    channel: Channel | None
    definition: ChannelDefinition | None

    @property
    def version(self) -> int:
        return 0 if self.channel is None else int(self.channel.version)


class ChannelDefinitions:
    """The current definition of channels by id (None: no such channel), one query per call."""

    def __init__(self, store: OrderStore) -> None:
        self._store = store
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()  # callers may be threads of their own

    def current(self, channel_ids: Iterable[str]) -> dict[str, ChannelDefinition | None]:
        wanted = {channel_id: channel_aggregate_id(channel_id) for channel_id in channel_ids}
        if not wanted:
            return {}
        with self._lock:
            held = {c: self._held.get(c, _Held(None, None)) for c in wanted}
            repository = self._store.repository
            newer = select_events_of_many(
                repository.event_store.recorder,
                {wanted[c]: h.version for c, h in held.items()},
            )
            for channel_id, aggregate_id in wanted.items():
                stored = newer.get(aggregate_id)
                if stored:
                    events = map(repository.event_store.mapper.to_domain_event, stored)
                    held[channel_id] = _refreshed(held[channel_id].channel, events)
                    self._held[channel_id] = held[channel_id]
                elif channel_id not in self._held:
                    self._held[channel_id] = held[channel_id]
            return {channel_id: h.definition for channel_id, h in held.items()}


def _refreshed(channel: Channel | None, events: Iterable[Any]) -> _Held:
    # Projected onto a copy of the aggregate held (the events came after its version, in
    # order): one that fails half-way leaves what was held as it was.
    updated = project_events(copy.deepcopy(channel), events)
    if not isinstance(updated, Channel):
        raise TypeError(f"{type(updated).__name__} stored under a channel's id")
    return _Held(updated, ChannelDefinition.model_validate(updated.definition))
