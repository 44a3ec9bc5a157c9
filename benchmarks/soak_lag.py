"""Each role's lag during a soak (`benchmarks.flow --orders N`, distributed): records behind per
consumer group, summed by role, and the records each role has consumed so far.

A soak paced only on orders not yet decided (`--soak-behind`) sees the orchestration role and
nothing after it: the quiet soak of the seventh wave (benchmarks/README.md) kept a pace the hub
could not sustain, still busy 6 minutes after sending stopped, and which role lagged was not
known. Here every role is read as the broker sees it (committed offsets against the partitions'
ends, `connectors.lag`), and the relay as the event store's head against its saved position:

- intake: the submissions and the channels' topics;
- orchestration, projections: the order events and the stock events;
- fulfillment: the sources' updates and the stock feed (plain groups of their own);
- relay: events stored and not yet published.

`LagBound` is the rule shared by the pacing (`--soak-lag`) and the report (`flow_soak_report`):
a role is lagging once its lag has stayed above a bound for a while; a burst (the network's
rounds send a round's updates at once) is not.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError

from connectors.lag import GroupLag, LagProbe
from connectors.relay import STREAM as RELAY_STREAM
from hub.settings import Settings
from hub.store import OrderStore
from hub.streaming.roles import Role, role_groups
from projections.positions import SqlPositionStore
from projections.sqldb import SqlDatabase

log = logging.getLogger(__name__)

RELAY = "relay"
ROLES = (Role.INTAKE.value, RELAY, Role.ORCHESTRATION.value, Role.FULFILLMENT.value,
         Role.PROJECTIONS.value)  # fmt: skip
LAG_EVERY = 2.0  # s between two looks of the pacing


@dataclass(frozen=True)
class Behind:
    """One look: records behind and records consumed so far (the relay: events published),
    by role."""

    lag: dict[str, int]
    consumed: dict[str, int]
    groups: dict[str, int] = field(default_factory=dict)  # records behind by consumer group

    def as_json(self) -> dict[str, Any]:
        return {"lag": self.lag, "consumed": self.consumed, "groups": self.groups}


def role_of(settings: Settings, group: str) -> str:
    """`<consumer_group>-<role>[-<consumer>]` → role."""
    return group.removeprefix(f"{settings.consumer_group}-").split("-", 1)[0]


def by_role(lags: list[tuple[str, GroupLag]]) -> Behind:
    """Groups' lags summed by their role."""
    lag: dict[str, int] = {}
    consumed: dict[str, int] = {}
    for role, group in lags:
        lag[role] = lag.get(role, 0) + group.lag
        consumed[role] = consumed.get(role, 0) + group.committed_total
    return Behind(lag, consumed, {group.group: group.lag for _, group in lags})


class LagWatch:
    """Looks at every role's lag from the benchmark's process (a broker admin client and the
    event store), one look at a time."""

    def __init__(self, settings: Settings, channel_ids: list[str]) -> None:
        assert settings.kafka_bootstrap is not None
        self._groups = [
            (role_of(settings, group), group, topics)
            for group, topics in role_groups(settings, channel_ids).items()
        ]
        self._probe = LagProbe(settings.kafka_bootstrap)
        self._store = OrderStore(env=settings.eventsourcing_env())
        self._db = SqlDatabase(settings.views_url())
        self._relay = SqlPositionStore(self._db, follower=RELAY)
        self._lock = asyncio.Lock()
        self.failed = 0
        self.last: Behind | None = None

    def _relayed(self) -> tuple[int, int]:
        """(events behind, events published): the saved position read before the head, so
        that it cannot pass it."""
        position = self._relay.get(RELAY_STREAM) or 0
        return max(0, self._store.max_position() - position), position

    async def look(self) -> Behind | None:
        """Every role's lag now (None, counted in `failed`, when the broker did not answer)."""
        async with self._lock:
            try:
                lags = [(role, await self._probe.group_lag(group, topics))
                        for role, group, topics in self._groups]  # fmt: skip
                behind, published = await asyncio.to_thread(self._relayed)
            except (KafkaError, OSError, TimeoutError):
                self.failed += 1
                log.warning("lag look failed", exc_info=True)
                return None
        found = by_role(lags)
        found.lag[RELAY], found.consumed[RELAY] = behind, published
        self.last = found
        return found

    async def close(self) -> None:
        await self._probe.stop()
        self._store.close()
        self._db.close()


@dataclass
class LagBound:
    """A role is lagging once more than `records` behind for `seconds` in a row. `held` adds up,
    by role, the time it was lagging (the pacing's holds)."""

    records: int
    seconds: float
    over_since: dict[str, float] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)
    _now: float | None = None

    def observe(self, now: float, lag: dict[str, int]) -> None:
        for role in self.lagging():
            self.held[role] = self.held.get(role, 0.0) + now - (self._now or now)
        self._now = now
        for role, behind in lag.items():
            if behind > self.records:
                self.over_since.setdefault(role, now)
            else:
                self.over_since.pop(role, None)

    def lagging(self) -> list[str]:
        """The roles lagging at the last look, the longest over its bound first."""
        if self._now is None:
            return []
        now = self._now
        over = [(since, role) for role, since in self.over_since.items()]
        return [role for since, role in sorted(over) if now - since >= self.seconds]


async def watch_lag(watch: LagWatch, bound: LagBound | None, clock: Any) -> None:
    """Look every LAG_EVERY s; each look feeds the bound (the pacing's hold reads it)."""
    while True:
        found = await watch.look()
        if found is not None and bound is not None:
            bound.observe(clock(), found.lag)
        await asyncio.sleep(LAG_EVERY)


def note_zero(
    lag: dict[str, int], now: float, first: dict[str, int], zero_at: dict[str, float | None]
) -> None:
    """One look's lags: the first of each role kept, when each reached 0 (None: behind)."""
    for role, behind in lag.items():
        first.setdefault(role, behind)
        if behind:
            zero_at[role] = None
        elif zero_at.get(role) is None:
            zero_at[role] = now


async def catch_up(watch: LagWatch, limit: float, clock: Any, pause: float = 1.0) -> dict[str, Any]:
    """After sending stopped: look every `pause` s until every role is 0 behind (at most `limit` s).
    For each role: how far behind it was at the first look and how long until it reached 0
    for good (a role can fall behind again on what another one produced meanwhile)."""
    started = clock()
    first: dict[str, int] = {}
    zero_at: dict[str, float | None] = {}
    found: Behind | None = None
    while clock() - started < limit:
        found = await watch.look()
        if found is not None:
            note_zero(found.lag, clock() - started, first, zero_at)
            if all(behind == 0 for behind in found.lag.values()):
                break
        await asyncio.sleep(pause)
    return {
        "seconds": clock() - started,
        "roles": {role: {"behind": first[role], "seconds": zero_at.get(role)} for role in first},
        "left": {} if found is None else {r: n for r, n in found.lag.items() if n},
    }
