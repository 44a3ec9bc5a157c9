"""The envelope every event on Kafka travels in: CloudEvents 1.0 attributes plus our extensions."""

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
        kind, _, ident = text.partition(":")
        return cls(kind=ActorKind(kind), id=ident)


class EventEnvelope(BaseModel):
    """One domain event as published: CloudEvents attributes, extensions, and the data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = SPEC_VERSION
    id: str = Field(description="Unique event id (the stored event's id)")
    source: str = Field(description="URI reference of the producer, e.g. /orderhub/orders")
    type: str = Field(description="e.g. orderhub.order.accepted")
    subject: str = Field(description="The aggregate id (order id)")
    time: UtcDatetime
    datacontenttype: str = "application/json"
    sequence: int = Field(ge=1, description="Aggregate version of this event")
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

    @property
    def aggregate_id(self) -> str:
        return self.subject
