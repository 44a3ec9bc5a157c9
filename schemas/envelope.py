"""The envelope every event on Kafka travels in: CloudEvents 1.0 attributes plus our extensions."""

import functools
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import UtcDatetime

SPEC_VERSION = "1.0"
EVENT_TYPE_PREFIX = "orderhub."


class ActorKind(StrEnum):
    CHANNEL = "channel"
    SYSTEM = "system"
    USER = "user"
    SOURCE = "source"


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActorKind
    id: str = Field(min_length=1, max_length=128)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> "Actor":
        """`kind:id`. Parsed once per text: few actors act (channels, the hub's services,
        people) and every event names one, read back on every consumed record; an Actor is
        frozen, so the same one may be shared. Text that is not an actor raises each time."""
        return _parse_actor(cls, text)


@functools.lru_cache(maxsize=4096)
def _parse_actor(cls: type[Actor], text: str) -> Actor:
    kind, _, ident = text.partition(":")
    return cls(kind=ActorKind(kind), id=ident)


EventKey = tuple[str, str, int]


class EventEnvelope(BaseModel):
    """One domain event as published: CloudEvents attributes, extensions, and the data.

    Identity (what a consumer deduplicates by): `dedup_key` = (source, subject, sequence),
    carried as the `ce_source`, `ce_subject` and `ce_sequence` headers; `id` is a UUID derived
    from the same subject and sequence, so either may be used. The sequence counts the events of
    one subject (one aggregate); it is not a counter per Kafka key: an order's exception cases
    travel under the order's key (so they stay in its partition, in order) with their own
    subject and their own sequence 1, 2, ….
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = SPEC_VERSION
    id: str = Field(description="Unique event id (the stored event's id)")
    source: str = Field(description="URI reference of the producer, e.g. /orderhub/orders")
    type: str = Field(description="e.g. orderhub.order.accepted")
    subject: str = Field(
        description="The aggregate id: the order id for order events, the case id for "
        "exception cases (which travel under their order's Kafka key)"
    )
    time: UtcDatetime
    datacontenttype: str = "application/json"
    sequence: int = Field(
        ge=1,
        description="Version of the subject aggregate: 1, 2, … per subject (not per Kafka key). "
        "Deduplicate by (source, subject, sequence), or by id",
    )
    correlationid: str
    causationid: str
    actor: Actor
    schemaversion: int = Field(ge=1)
    data: dict[str, Any]

    # CloudEvents extension names must be lower-case alphanumerics; these are ours.
    EXTENSIONS: ClassVar[tuple[str, ...]] = (
        "sequence",
        "correlationid",
        "causationid",
        "schemaversion",
    )

    @classmethod
    def trusted(
        cls,
        *,
        id: str,
        source: str,
        type: str,
        subject: str,
        time: datetime,
        sequence: int,
        correlationid: str,
        causationid: str,
        actor: Actor,
        schemaversion: int,
        data: dict[str, Any],
    ) -> "EventEnvelope":
        """An envelope of attributes the hub made itself, each of the type its field declares
        and `time` in UTC (`aggregates.contract.envelope_of`), not validated again: the model
        validation makes of them (fields in the same order, the same fields set) for a fifth
        of the cost; `data` becomes the envelope's own."""
        envelope = _new(cls)
        _set(
            envelope,
            "__dict__",
            {
                "specversion": SPEC_VERSION,
                "id": id,
                "source": source,
                "type": type,
                "subject": subject,
                "time": time,
                "datacontenttype": "application/json",
                "sequence": sequence,
                "correlationid": correlationid,
                "causationid": causationid,
                "actor": actor,
                "schemaversion": schemaversion,
                "data": data,
            },
        )
        _set(envelope, "__pydantic_fields_set__", set(_PASSED))
        _set(envelope, "__pydantic_extra__", None)
        _set(envelope, "__pydantic_private__", None)
        return envelope

    @property
    def aggregate_id(self) -> str:
        return self.subject

    @property
    def dedup_key(self) -> EventKey:
        """Equal for two copies of one event, different for any two events."""
        return (self.source, self.subject, self.sequence)


_new = object.__new__
_set = object.__setattr__
# What `trusted` is given (the fields but the defaulted ones), as validation would record them.
_PASSED = frozenset(EventEnvelope.model_fields) - {"specversion", "datacontenttype"}
