"""Channel and ApiKey: the capture channels, and the credentials that act for them or for staff."""

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError


class CredentialError(DomainError):
    pass


def channel_aggregate_id(channel_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderhub:channel:{channel_id}")


def api_key_aggregate_id(key_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderhub:api-key:{key_id}")


class Channel(Aggregate):
    @staticmethod
    def create_id(channel_id: str) -> UUID:
        return channel_aggregate_id(channel_id)

    @event("Registered")
    def __init__(
        self, channel_id: str, definition: dict[str, Any], actor: str, at: datetime
    ) -> None:
        self.channel_id = channel_id
        self.definition = definition

    def redefine(self, definition: dict[str, Any], actor: str, at: datetime) -> None:
        if definition != self.definition:
            self._redefined(definition=definition, actor=actor, at=at)

    @event("Redefined")
    def _redefined(self, definition: dict[str, Any], actor: str, at: datetime) -> None:
        self.definition = definition


class ApiKey(Aggregate):
    """Only a hash of the secret is kept: a leaked event store leaks no usable key."""

    @staticmethod
    def create_id(key_id: str) -> UUID:
        return api_key_aggregate_id(key_id)

    @event("Issued")
    def __init__(
        self,
        key_id: str,
        secret_sha256: str,
        role: str,
        channel_id: str | None,
        label: str,
        actor: str,
        at: datetime,
        source_id: str | None = None,
    ) -> None:
        self.key_id = key_id
        self.source_id = source_id
        self.secret_sha256 = secret_sha256
        self.role = role
        self.channel_id = channel_id
        self.label = label
        self.revoked = False

    def revoke(self, actor: str, at: datetime) -> None:
        if self.revoked:
            raise CredentialError(f"key {self.key_id} is revoked already")
        self._revoked(actor=actor, at=at)

    @event("Revoked")
    def _revoked(self, actor: str, at: datetime) -> None:
        self.revoked = True
