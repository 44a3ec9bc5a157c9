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


def bootstrap_key_aggregate_id(secret_sha256: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderhub:bootstrap-key:{secret_sha256}")


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
    """Only a hash of the secret is kept: a leaked event store leaks no usable key.

    A rotation replaces the secret and may leave the previous one working until a given time,
    so that the callers holding it can move over without an outage."""

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
        expires_at: datetime | None = None,
    ) -> None:
        self.key_id = key_id
        self.source_id = source_id
        self.secret_sha256 = secret_sha256
        self.role = role
        self.channel_id = channel_id
        self.label = label
        self.revoked = False
        self.expires_at = expires_at
        self.previous_secret_sha256: str | None = None
        self.previous_valid_until: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def revoke(self, actor: str, at: datetime) -> None:
        if self.revoked:
            raise CredentialError(f"key {self.key_id} is revoked already")
        self._revoked(actor=actor, at=at)

    @event("Revoked")
    def _revoked(self, actor: str, at: datetime) -> None:
        self.revoked = True

    def rotate(
        self, secret_sha256: str, previous_valid_until: datetime | None, actor: str, at: datetime
    ) -> None:
        if self.revoked:
            raise CredentialError(f"key {self.key_id} is revoked; issue a new key instead")
        if self.expired(at):
            raise CredentialError(f"key {self.key_id} has expired; issue a new key instead")
        if previous_valid_until is not None and previous_valid_until <= at:
            previous_valid_until = None  # no grace: the old secret stops now
        self._rotated(
            secret_sha256=secret_sha256,
            previous_valid_until=previous_valid_until,
            actor=actor,
            at=at,
        )

    @event("Rotated")
    def _rotated(
        self, secret_sha256: str, previous_valid_until: datetime | None, actor: str, at: datetime
    ) -> None:
        self.previous_secret_sha256 = self.secret_sha256 if previous_valid_until else None
        self.previous_valid_until = previous_valid_until
        self.secret_sha256 = secret_sha256


class BootstrapKey(Aggregate):
    """The operator's ORDERHUB_ADMIN_API_KEY, revoked: recorded by the hash of that value only,
    so that it stays refused for good while a new value set by the operator works."""

    @staticmethod
    def create_id(secret_sha256: str) -> UUID:
        return bootstrap_key_aggregate_id(secret_sha256)

    @event("Revoked")
    def __init__(self, secret_sha256: str, actor: str, at: datetime) -> None:
        self.secret_sha256 = secret_sha256
