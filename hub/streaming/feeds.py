"""Kafka records to the hub's followers: each record decoded once, however many follow its topic.

One consumer feeds every follower a worker role runs (the projections role: all the read models
and billing). Decoding a CloudEvent is a good part of a view's cost (py-spy: a fifth of the
projections role's samples when each view had its own consumer and decoded every record again),
so a batch is decoded once and each follower is handed the events of the topics it follows, in
the order they were read (per-partition order is kept).

The SQL views of one database write a batch together, in one transaction with their positions:
one commit per batch instead of one per view. Other followers (billing, the orchestrator) record
events in the event store and are applied after, each on its own.

The guarantees of one consumer per follower are kept. The handler returns only once every
follower's writes are committed, so the batch's offsets are committed after them (at least once;
every view is idempotent, so a redelivered batch changes nothing). An undecodable record is
parked once, with its original bytes. When the shared transaction fails for a reason that is not
an outage, each follower is given the batch on its own, and one that still fails takes it event
by event, parking only the events it cannot apply: a follower's failure never makes the others
skip events, and is never silent.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import orjson
from pydantic import ValidationError

from connectors.claim_check import Claimed
from connectors.codec import TYPE_AT, record_to_envelope, written_values
from connectors.consumed import ConsumedMessage, dead_letter, positions_of
from connectors.publisher import Publisher
from connectors.unread_explanation import load_unexplained
from hub.bootstrap import Following
from hub.services.followers import Follower
from hub.settings import Settings
from hub.streaming.retries import is_outage, with_retries
from projections.base import SqlView, write_together
from schemas.envelope import EventEnvelope, EventKey
from schemas.event_types import EventType

log = logging.getLogger(__name__)

Event = tuple[ConsumedMessage, EventEnvelope]


@dataclass(frozen=True)
class Feed:
    """A follower and the Kafka topics that bring it events."""

    name: str  # signs what it parks, in logs and in the DLQ's headers
    follower: Follower
    topics: frozenset[str]
    # The event types it acts on (the follower's `event_types`); None: every event.
    types: frozenset[str] | None = None
    # Whether it may read a decision's explanation (the follower's `reads_explanations`).
    explained: bool = True


def feeds_of(settings: Settings, followers: Iterable[Following]) -> list[Feed]:
    """The hub's followers (Hub.followers) with the Kafka topics their settings name."""
    return [
        Feed(
            f.name,
            f.follower,
            frozenset(settings.topic(t) for t in f.topics),
            getattr(f.follower, "event_types", None),
            getattr(f.follower, "reads_explanations", True),
        )
        for f in followers
    ]


Wanted = dict[str, frozenset[str] | None]


def wanted_types(feeds: Iterable[Feed]) -> Wanted:
    """Per topic, the event types some feed of it acts on; None where one takes every event."""
    wanted: Wanted = {}
    for feed in feeds:
        for topic in feed.topics:
            known = wanted.get(topic, frozenset())
            wanted[topic] = None if known is None or feed.types is None else known | feed.types
    return wanted


# The events whose data holds a decision record, and so an explanation.
DECISION_TYPES = frozenset({EventType.ORDER_ROUTED, EventType.ORDER_HELD})


def unexplained_types(feeds: Iterable[Feed]) -> dict[str, frozenset[str]]:
    """Per topic, the decision events no feed of it that acts on them reads the explanation
    of: decoded without parsing it (connectors.unread_explanation)."""
    unexplained: dict[str, frozenset[str]] = {}
    explained: dict[str, frozenset[str]] = {}
    for feed in feeds:
        taken = DECISION_TYPES if feed.types is None else DECISION_TYPES & feed.types
        for topic in feed.topics:
            side = unexplained if not feed.explained else explained
            side[topic] = side.get(topic, frozenset()) | taken
    return {t: types - explained.get(t, frozenset()) for t, types in unexplained.items()}


@dataclass
class Share:
    """A feed's share of one batch: its events (one copy of each) and the positions reached."""

    feed: Feed
    events: list[Event] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)

    @property
    def envelopes(self) -> list[EventEnvelope]:
        return [env for _, env in self.events]


@dataclass
class Decoded:
    events: list[Event]
    undecodable: list[tuple[ConsumedMessage, str]]
    # Claim checks (connectors.claim_check), each with the place in `events` its event takes.
    claims: list[tuple[int, ConsumedMessage, Claimed]] = field(default_factory=list)


Resolve = Callable[[str, int], EventEnvelope | None]


def resolve_claims(decoded: Decoded, resolve: Resolve) -> None:
    """Each claim check's event read from the event store (`resolve`: subject and sequence to
    the stored event's envelope), in its place among the batch's events; one the store does
    not hold, or cannot read, is undecodable (parked). An outage raises (the caller waits it
    out). Blocking: run in a thread."""
    found = [_resolved(resolve, claim) for _, _, claim in decoded.claims]
    # All read before any is placed: a failed read, retried, places none twice.
    placed = list(zip(decoded.claims, found, strict=True))
    for (place, message, claim), envelope in reversed(placed):
        # A later place first, so that the earlier places still point where they did.
        if isinstance(envelope, str):
            decoded.undecodable.append((message, f"{claim}: {envelope}"))
        else:
            decoded.events.insert(place, (message, envelope))
    decoded.claims = []


def _resolved(resolve: Resolve, claim: Claimed) -> EventEnvelope | str:
    """The claim's event, or why it has none."""
    try:
        envelope = resolve(claim.subject, claim.sequence)
    except Exception as error:
        if is_outage(error):
            raise
        return f"the event store could not read it ({error!r})"
    return envelope if envelope is not None else "not in this hub's event store"


def decode(
    messages: Sequence[ConsumedMessage],
    wanted: Wanted | None = None,
    unexplained: dict[str, frozenset[str]] | None = None,
) -> Decoded:
    """Every record decoded once; what is not a CloudEvent is kept aside with the reason.

    A record whose `ce_type` header names a type that no feed of its topic acts on is not
    decoded at all (its offset still moves the positions): the orchestration role acts on one
    or two of an order's ten-odd events, and decoding the rest was a tenth of its CPU (py-spy).
    Such a record is not checked either: no feed would act on it, malformed or not (the views
    say which types they read, so the projections role passes the others too). A record
    without the header is decoded, and parked as undecodable. A claim check is set aside
    with its place among the events (`resolve_claims` reads its event). A record of a type in
    `unexplained` (per topic) has its decision's explanation left unparsed where it can be.

    Each record's headers are read once (`written_values`), for its type and its envelope."""
    decoded = Decoded([], [])
    for message in messages:
        written = written_values(message.headers)
        kind = _type_of(message) if written is None else written[TYPE_AT].decode(errors="replace")
        types = wanted.get(message.topic) if wanted else None
        if types is not None and kind is not None and kind not in types:
            continue
        cut = unexplained is not None and kind in unexplained.get(message.topic, ())
        try:
            envelope = record_to_envelope(
                message.key,
                message.value,
                message.headers,
                written,
                load_unexplained if cut else orjson.loads,
            )
        except Claimed as claim:
            decoded.claims.append((len(decoded.events), message, claim))
            continue
        except (ValueError, ValidationError) as error:
            decoded.undecodable.append((message, str(error)))
            continue
        decoded.events.append((message, envelope))
    return decoded


def _type_of(message: ConsumedMessage) -> str | None:
    for name, value in message.headers:
        if name == "ce_type":
            return value.decode("utf-8", errors="replace")
    return None


def shares(
    feeds: Sequence[Feed], messages: Sequence[ConsumedMessage], decoded: Decoded
) -> list[Share]:
    """Each feed's share of a batch; feeds with no record in it are left out, as an agent of
    their own would not have been called.

    The batch's positions are worked out once per topic and its events' keys once, and each
    feed takes those of its topics (worked out again for each feed, eight in the projections
    role, they were 7 % of the role's CPU samples in py-spy). A feed is handed only the events
    of the types it acts on (`Feed.types`, the follower's `event_types`): each follower passed
    the others over itself, and billing, handed every order event, was given a thread for each
    batch of the projections role although nearly none holds a shipment for it; with none for
    it, its batch is only noted (`FeedsConsumer._apply`)."""
    streams: dict[str, tuple[str, int]] = {}  # the highest offset per topic-partition
    for m in messages:
        stream = f"{m.topic}:{m.partition}"
        reached = streams.get(stream)
        if reached is None or m.offset > reached[1]:
            streams[stream] = (m.topic, max(m.offset, -1))
    keyed = [(m.topic, env.type, env.dedup_key, (m, env)) for m, env in decoded.events]
    found = []
    for feed in feeds:
        topics, types = feed.topics, feed.types
        positions = {s: offset for s, (topic, offset) in streams.items() if topic in topics}
        if not positions:
            continue
        share = Share(feed, positions=positions)
        seen: set[EventKey] = set()
        for topic, kind, key, event in keyed:
            # A relay that crashed after publishing publishes again: the copies are one event
            # (the documented identity); the view's per-subject sequence drops later copies.
            if topic in topics and (types is None or kind in types) and key not in seen:
                seen.add(key)
                share.events.append(event)
        found.append(share)
    return found


class FeedsConsumer:
    """Batches of records → every feed's follower; the handler never raises for bad data."""

    def __init__(
        self,
        name: str,
        feeds: Sequence[Feed],
        publisher: Publisher,
        settings: Settings,
        resolve: Resolve | None = None,
    ) -> None:
        """`resolve`: a claim check's event from the event store; None: claims are parked."""
        self.name = name
        self.feeds = list(feeds)
        self.wanted = wanted_types(self.feeds)
        self.unexplained = unexplained_types(self.feeds)
        self._publisher = publisher
        self._settings = settings
        self._resolve = resolve

    async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
        decoded = decode(messages, self.wanted, self.unexplained)
        if decoded.claims:
            await self._resolve_claims(decoded)
        await self._park([(m, error, self.name) for m, error in decoded.undecodable])
        together: dict[int, list[tuple[SqlView, Share]]] = {}  # by database
        alone: list[Share] = []
        for share in shares(self.feeds, messages, decoded):
            view = share.feed.follower
            if isinstance(view, SqlView):
                together.setdefault(id(view.database), []).append((view, share))
            else:
                alone.append(share)
        for group in together.values():
            writes = [(view, share.envelopes, share.positions) for view, share in group]
            try:
                await self._retried(partial(asyncio.to_thread, write_together, writes), "views")
            except Exception:
                log.exception("%s: the views' shared write failed; each on its own", self.name)
                alone[:0] = [share for _, share in group]
        for share in alone:
            await self._apply(share)

    async def _resolve_claims(self, decoded: Decoded) -> None:
        resolve = self._resolve
        if resolve is None:
            decoded.undecodable += [(m, str(claim)) for _, m, claim in decoded.claims]
            decoded.claims = []
            return
        # Retried as a view's write is: the store out for a moment is not a reason to park.
        await self._retried(partial(asyncio.to_thread, resolve_claims, decoded, resolve), "claims")

    async def _apply(self, share: Share) -> None:
        noted = getattr(share.feed.follower, "noted", None)
        if not share.events and noted is not None and noted(share.positions):
            # Nothing to act on and nothing to write yet: no thread for it (~40 us of CPU and two
            # wake-ups per batch; the orchestration role's batches are mostly such).
            return
        apply = share.feed.follower.apply
        try:
            await self._retried(
                partial(asyncio.to_thread, apply, share.envelopes, share.positions),
                share.feed.name,
            )
        except Exception:
            log.exception("%s: batch failed; isolating the event at fault", share.feed.name)
            await self._one_by_one(share)

    async def _one_by_one(self, share: Share) -> None:
        apply, name = share.feed.follower.apply, share.feed.name
        parked = []
        for message, envelope in share.events:
            try:
                await self._retried(
                    partial(asyncio.to_thread, apply, [envelope], positions_of([message])), name
                )
            except Exception as error:
                parked.append((message, repr(error), name))
        await self._park(parked)
        try:  # past the parked events and the batch's duplicates, as the whole batch would be
            await self._retried(partial(asyncio.to_thread, apply, [], share.positions), name)
        except Exception:
            log.exception("%s: positions not recorded; the next batch moves them", name)

    async def _park(self, parked: list[tuple[ConsumedMessage, str, str]]) -> None:
        if not parked:
            return
        dlq, limit = self._settings.topic("dlq"), self._settings.kafka_max_record_bytes
        records = [dead_letter(dlq, message, error, by, limit) for message, error, by in parked]
        await self._retried(partial(self._publisher.publish, records), "parking events")

    async def _retried(self, call: Callable[[], Awaitable[object]], what: str) -> None:
        await with_retries(call, self._settings.max_handler_attempts, f"{self.name}: {what}")
