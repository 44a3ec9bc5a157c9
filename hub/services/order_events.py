"""A new order's first two events (`Placed`, `Accepted`) written straight to their stored form.

The intake records each order as an `Order` aggregate: the library builds the `Placed` event
from the constructor's arguments, makes an aggregate by replaying it (filtering the event's
fields for `__base_init__` and `__init__` by their signatures), triggers `Accepted` through its
command-method machinery, and the mapper then copies each event's fields, dumps the submission
through pydantic a second time (the digest had dumped it already) and walks every value before
orjson writes it. For an order nobody reads back in the same process, that was about half of
the intake role's Python per order (py-spy, benchmarks/README.md, h-intake3). Here the stored
events are written from the command: the same fields in the same order, the submission's JSON
values taken from the digest's dump, the same `stored_json` writer; so the stored bytes are
those the aggregate and the mapper write (tests/unit/test_order_events.py compares them), and
an order stored either way loads as the same `Order`.

Only what that path would write for certain goes this way: an order the intake accepts (one
it rejects takes the aggregate's path), through the library's JSON transcoder with no
compression or encryption configured. `events_of` answers None otherwise.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from aggregates.order import Order, check_actor, placed_at_problems
from aggregates.stored_json import stored_json
from aggregates.stored_reads import library_json

# The event classes the library made for `@event("Placed")` and `@event("Accepted")`.
_PLACED: Any = vars(Order)["Placed"]
_ACCEPTED: Any = vars(Order)["Accepted"]
_ORDER_TOPIC = get_topic(Order)
_PLACED_TOPIC = get_topic(_PLACED)
_ACCEPTED_TOPIC = get_topic(_ACCEPTED)
# Fields `stored_json` need not walk to know orjson writes them as the standard encoder does:
# texts, the batch's time as the transcoder wrote it (a dict of two texts), and the
# submission's JSON values (pydantic's JSON-mode dump: texts, finite numbers, booleans, None,
# lists, dicts under text keys), and the events' own timestamps, each written here as the
# transcoder writes it (as the batch's time is). A text of an unusual kind (a subclass) goes to
# the transcoder by orjson's passthrough anyway.
_PLAIN_PLACED = frozenset(
    {
        "timestamp",
        "originator_topic",
        "channel",
        "external_id",
        "submission",
        "digest",
        "raw_payload",
        "actor",
        "correlation_id",
        "received_at",
    }
)
_PLAIN_ACCEPTED = frozenset({"timestamp", "actor", "correlation_id", "accepted_at"})


class Submitted(Protocol):
    """What the events are written from: the intake's `SubmitOrder` or a `VouchedOrder` (named
    here, not imported, so that the intake depends on this module and not the other way round)."""

    @property
    def channel(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def placed_at(self) -> datetime: ...
    @property
    def submission_json(self) -> dict[str, Any]: ...
    @property
    def stored_submission(self) -> Any: ...
    @property
    def stored_submission_json(self) -> bytes | None: ...
    @property
    def digest(self) -> str: ...
    @property
    def raw_payload(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def order_id(self) -> UUID: ...


def writes_stored_json(mapper: Mapper[Any], *events: Any) -> bool:
    """Whether `mapper` writes these event classes as `stored_json` writes them: the library's
    JSON transcoder, no compression or encryption, class version 1."""
    return (
        library_json(mapper.transcoder)
        and not mapper.compressor
        and not mapper.cipher
        and all(getattr(event, "class_version", 1) == 1 for event in events)
    )


class AcceptedOrderEvents:
    """Writes the stored `Placed` and `Accepted` of orders the intake accepts, for one mapper."""

    def __init__(
        self,
        mapper: Mapper[Any],
        intake_actor: str,
        timestamp: Callable[[], datetime] = _PLACED.create_timestamp,
    ) -> None:
        self._transcoder: Any = mapper.transcoder  # `_encode_obj` is the JSON transcoder's
        self._intake_actor = intake_actor
        self._timestamp = timestamp
        self._at: tuple[datetime, Any] | None = None  # the last `now` and its transcoding
        # Each condition under which the mapper would write other bytes than `stored_json`.
        self.usable = writes_stored_json(mapper, _PLACED, _ACCEPTED)

    def events_of(self, command: Submitted, now: datetime) -> list[StoredEvent] | None:
        """The two stored events of `command`'s order accepted at `now`; None when the intake
        would not accept it (its aggregate's path then writes what it does)."""
        if not self.usable or placed_at_problems(command.placed_at, now):
            return None
        check_actor(command.actor)  # as the `Placed` event's constructor does
        at = self._encoded(now)
        placed = {
            "timestamp": self._written(self._timestamp()),
            "originator_topic": _ORDER_TOPIC,
            "channel": command.channel,
            "external_id": command.external_id,
            "submission": command.stored_submission,
            "digest": command.digest,
            "raw_payload": command.raw_payload,
            "actor": command.actor,
            "correlation_id": command.correlation_id,
            "received_at": at,
        }
        accepted = {
            "timestamp": self._written(self._timestamp()),
            "actor": self._intake_actor,
            "correlation_id": command.correlation_id,
            "accepted_at": at,
        }
        order_id = command.order_id
        return [
            StoredEvent(order_id, 1, _PLACED_TOPIC, self._placed_json(placed, command)),
            StoredEvent(
                order_id,
                2,
                _ACCEPTED_TOPIC,
                # Texts only: no number in it for `stored_json` to look at.
                stored_json(self._transcoder, accepted, _PLAIN_ACCEPTED, numbers_in=b""),
            ),
        ]

    def _placed_json(self, placed: dict[str, Any], command: Submitted) -> bytes:
        try:
            # Its numbers are in the submission's values: the other fields are texts.
            numbers = command.stored_submission_json
            return stored_json(self._transcoder, placed, _PLAIN_PLACED, numbers_in=numbers)
        except TypeError:
            # The values as they came (`orjson.Fragment`) met the standard encoder, which
            # `stored_json` leaves some texts to: it is given the values themselves.
            placed["submission"] = command.submission_json
            return stored_json(self._transcoder, placed, _PLAIN_PLACED)

    def _written(self, timestamp: datetime) -> Any:
        """An event's timestamp as the transcoder writes it, made here rather than by orjson
        calling back for it (its `default`): one call from Python instead of one from C."""
        return self._transcoder._encode_obj(timestamp)

    def _encoded(self, now: datetime) -> Any:
        """`now` as the transcoder writes it (what orjson's `default` makes of it), made once
        for a batch's orders, which share it."""
        held = self._at  # read once: callers may be threads of their own
        if held is None or held[0] is not now:
            held = (now, self._transcoder._encode_obj(now))
            self._at = held
        return held[1]
