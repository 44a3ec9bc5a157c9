"""Channels and credentials: register channels, issue and revoke API keys, authenticate."""

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aggregates.channel import ApiKey, Channel, CredentialError, api_key_aggregate_id
from aggregates.channel import channel_aggregate_id as channel_id_of
from aggregates.directory import Directory, directory_id
from aggregates.errors import DomainError
from hub.services.lookup import find
from hub.store import OrderStore
from schemas.channels import ChannelDefinition, IssueKey, KeyIssued, Role

CHANNELS = "channels"
KEY_PREFIX = "ohk"
# How long an authenticated key is trusted without re-reading it: bounds how late a revocation
# takes effect on another API instance.
KEY_CACHE_SECONDS = 5.0

ALL_SCOPES = frozenset(
    {
        "orders:submit",
        "orders:read",
        "orders:act",
        "submissions:read",
        "stock:read",
        "stock:write",
        "sources:read",
        "sources:write",
        "policies:read",
        "policies:write",
        "channels:read",
        "channels:write",
        "fulfillment:update",
    }
)
SCOPES: dict[Role, frozenset[str]] = {
    # A channel's reads are narrowed to its own orders by the routes, not by the scope name.
    Role.CHANNEL: frozenset({"orders:submit", "orders:read", "submissions:read"}),
    Role.OPS: frozenset(
        {
            "orders:read",
            "orders:act",
            "submissions:read",
            "stock:read",
            "stock:write",
            "sources:read",
            "sources:write",
            "policies:read",
            "channels:read",
        }
    ),
    Role.AUDITOR: frozenset(
        {
            "orders:read",
            "submissions:read",
            "stock:read",
            "sources:read",
            "policies:read",
            "channels:read",
        }
    ),
    Role.ADMIN: ALL_SCOPES,
    # A source reports on its own shipments only (checked against the update's source_id).
    Role.SOURCE: frozenset({"fulfillment:update"}),
}


class UnknownChannelError(DomainError):
    def __init__(self, channel_id: str) -> None:
        super().__init__(f"no channel {channel_id!r} is registered")
        self.channel_id = channel_id


@dataclass(frozen=True)
class Principal:
    role: Role
    key_id: str
    channel_id: str | None = None
    label: str = ""
    source_id: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return SCOPES[self.role]

    @property
    def actor(self) -> str:
        if self.role is Role.CHANNEL:
            return f"channel:{self.channel_id}"
        if self.role is Role.SOURCE:
            return f"source:{self.source_id}"
        return f"user:{self.label or self.key_id}"

    def may_see_channel(self, channel: str) -> bool:
        return self.role is not Role.CHANNEL or channel == self.channel_id


class AccessService:
    def __init__(
        self, store: OrderStore, clock: Callable[[], datetime], admin_key: str | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._admin_key = admin_key
        self._cache: dict[str, tuple[float, tuple[Principal, str] | None]] = {}
        self._lock = threading.Lock()

    def register_channel(self, definition: ChannelDefinition, actor: str) -> bool:
        """Register or redefine a channel; returns True when it is new."""
        now = self._clock()
        body = definition.model_dump(mode="json")
        existing = self.find_channel(definition.channel_id)
        if existing is not None:
            existing.redefine(body, actor=actor, at=now)
            self._store.save(existing)
            return False
        channel = Channel(channel_id=definition.channel_id, definition=body, actor=actor, at=now)
        directory = find(self._store, directory_id(CHANNELS), Directory) or Directory(kind=CHANNELS)
        directory.add(definition.channel_id)
        self._store.save(channel, directory)
        return True

    def find_channel(self, channel_id: str) -> Channel | None:
        return find(self._store, channel_id_of(channel_id), Channel)

    def channel(self, channel_id: str) -> ChannelDefinition:
        found = self.find_channel(channel_id)
        if found is None:
            raise UnknownChannelError(channel_id)
        return ChannelDefinition.model_validate(found.definition)

    def channels(self) -> list[ChannelDefinition]:
        directory = find(self._store, directory_id(CHANNELS), Directory)
        names = directory.names if directory is not None else []
        return [self.channel(name) for name in names]

    def issue_key(self, request: IssueKey, actor: str) -> KeyIssued:
        if request.channel_id is not None:
            self.channel(request.channel_id)  # a key for an unknown channel is refused
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            secret_sha256=_sha256(secret),
            role=request.role.value,
            channel_id=request.channel_id,
            label=request.label,
            actor=actor,
            at=self._clock(),
            source_id=request.source_id,
        )
        self._store.save(key)
        return KeyIssued(
            key_id=key_id,
            api_key=f"{KEY_PREFIX}_{key_id}_{secret}",
            role=request.role,
            channel_id=request.channel_id,
            source_id=request.source_id,
        )

    def revoke_key(self, key_id: str, actor: str) -> None:
        key = find(self._store, api_key_aggregate_id(key_id), ApiKey)
        if key is None:
            raise CredentialError(f"no key {key_id}")
        key.revoke(actor=actor, at=self._clock())
        self._store.save(key)
        with self._lock:
            self._cache.pop(key_id, None)

    def authenticate(self, presented: str) -> Principal | None:
        """The principal for an API key, or None; compares hashes in constant time."""
        if self._admin_key and hmac.compare_digest(presented.encode(), self._admin_key.encode()):
            return Principal(role=Role.ADMIN, key_id="bootstrap", label="admin")
        prefix, _, rest = presented.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not secret or not _is_key_id(key_id):
            return None
        known = self._known_key(key_id)
        if known is None or not hmac.compare_digest(known[1], _sha256(secret)):
            return None
        return known[0]

    def _known_key(self, key_id: str) -> tuple[Principal, str] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        key = find(self._store, api_key_aggregate_id(key_id), ApiKey)
        known = None
        if key is not None and not key.revoked:
            principal = Principal(
                role=Role(key.role),
                key_id=key_id,
                channel_id=key.channel_id,
                label=key.label,
                source_id=getattr(key, "source_id", None),
            )
            known = (principal, key.secret_sha256)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: unknown ids must not grow it for ever
                self._cache.clear()
            self._cache[key_id] = (now, known)
        return known


def _is_key_id(text: str) -> bool:
    return len(text) == 12 and all(ch in "0123456789abcdef" for ch in text)


def _sha256(secret: str) -> str:
    # API keys are long random secrets, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()
