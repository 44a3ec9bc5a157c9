"""Where admission control reads how far routing is behind (`hub.api.admission` says why)."""

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing

from connectors.lag import GroupLag, LagProbe
from connectors.relay import STREAM as RELAY_STREAM
from hub.api.admission import Admission, Queue, Sampler
from hub.api.admission_inflight import CaptureCount
from hub.bootstrap import Hub
from hub.embedded.delivery import STREAM
from hub.services.followers import FOLLOWER as ORCHESTRATOR
from hub.streaming.roles import ORDER_EVENTS, SUBMISSIONS, Role, plain_group, plain_topics


def embedded_sampler(hub: Hub) -> Sampler:
    """The event store's head against the orchestrator's saved position (wherever it runs: the
    API's process or the routing process; both save to the same store)."""
    position_of = _orchestrator_position(hub)

    def look() -> Queue:
        # The position first: read after the head, it could pass it and hide a backlog.
        position = position_of()
        head = hub.store.max_position()
        return Queue({STREAM: head}, {STREAM: position})

    async def sample() -> Sequence[Queue]:
        return [await asyncio.to_thread(look)]

    return sample


_POSITION = "SELECT position FROM orderhub_positions WHERE follower = ? AND stream = ?"


def _orchestrator_position(hub: Hub) -> Callable[[], int | None]:
    """SQLite: read on a read-only connection of its own, not in a view transaction, which
    takes the database's write lock (BEGIN IMMEDIATE) and this process's lock of the views:
    five looks a second would queue behind the views and the routing process, and they behind
    them."""
    db = hub.views_db
    if db.dialect != "sqlite":
        return lambda: hub.orchestrator.positions().get(STREAM)
    uri = f"file:{db.url.removeprefix('sqlite:///')}?mode=ro"

    def read() -> int | None:
        # A connection per look (~0.1 ms): nothing is left open when the app stops.
        with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as reader:
            row = reader.execute(_POSITION, (ORCHESTRATOR, STREAM)).fetchone()
        return None if row is None else int(row[0])

    return read


def distributed_sampler(hub: Hub, probe: LagProbe, channel_ids: list[str]) -> Sampler:
    """The intake role's consumer (submissions and the channels' topics), the relay (the event
    store's head against its saved position), then the orchestration role's order-events
    consumer: each partition's end against the group's committed offset."""
    s = hub.settings
    intake = (
        plain_group(s, Role.INTAKE, SUBMISSIONS),
        plain_topics(s, Role.INTAKE, SUBMISSIONS, channel_ids),
    )
    routing = (
        plain_group(s, Role.ORCHESTRATION, ORDER_EVENTS),
        plain_topics(s, Role.ORCHESTRATION, ORDER_EVENTS),
    )

    relay = hub.relay_positions()

    def relayed() -> Queue:
        position = relay.get(RELAY_STREAM)  # before the head, as embedded_sampler says
        return Queue({RELAY_STREAM: hub.store.max_position()}, {RELAY_STREAM: position})

    async def sample() -> Sequence[Queue]:
        queues = [queue_of(await probe.group_lag(g, topics)) for g, topics in (intake, routing)]
        return [queues[0], await asyncio.to_thread(relayed), queues[1]]

    return sample


def queue_of(lag: GroupLag) -> Queue:
    """A group's partitions: end offsets against committed ones (never committed: unknown)."""
    heads = {f"{tp.topic}:{tp.partition}": end for tp, end in lag.ends.items()}
    positions = {
        f"{tp.topic}:{tp.partition}": (offset if offset >= 0 else None)
        for tp, offset in lag.committed.items()
    }
    return Queue(heads, positions)


def admission_for(hub: Hub, probe: LagProbe | None, channel_ids: list[str]) -> Admission:
    """Admission control as the settings ask (off: `ORDERHUB_ADMISSION_MAX_LAG_SECONDS=0`)."""
    s = hub.settings
    sample: Sampler | None = None
    answer_within = 0.0  # distributed: a capture is a publish, its API not the bottleneck
    if s.admission_max_lag_seconds > 0:
        if probe is not None:
            sample = distributed_sampler(hub, probe, channel_ids)
        elif hub.delivery is not None:
            sample = embedded_sampler(hub)
            answer_within = s.admission_capture_seconds
    return Admission(
        sample,
        s.admission_max_lag_seconds,
        s.admission_sample_seconds,
        s.admission_max_retry_seconds,
        captures=None if sample is None else CaptureCount(answer_within=answer_within),
    )
