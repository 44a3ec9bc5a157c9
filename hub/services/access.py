"""Channels and credentials: register channels, issue, rotate and revoke API keys,
authenticate (with reasons), and check the credential behind a console session."""

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregates.channel import (
    ApiKey,
    BootstrapKey,
    Channel,
    CredentialError,
    api_key_aggregate_id,
    bootstrap_key_aggregate_id,
)
from aggregates.channel import channel_aggregate_id as channel_id_of
from aggregates.directory import Directory, directory_id
from aggregates.errors import DomainError
from hub.services.lookup import find
from hub.services.sessions import ConsoleSessions
from hub.store import OrderStore
from schemas.channels import ChannelDefinition, IssueKey, KeyIssued, KeyRotated, Role

CHANNELS = "channels"
KEY_PREFIX = "ohk"
# How long an authenticated key is trusted without re-reading it: bounds how late a revocation
# takes effect on another API instance.
KEY_CACHE_SECONDS = 5.0
# The key id under which the operator's ORDERHUB_ADMIN_API_KEY acts (and is revoked).
BOOTSTRAP = "bootstrap"

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
        "decisions:rerun",
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
            "decisions:rerun",  # re-running a recorded decision writes nothing
        }
    ),
    Role.ADMIN: ALL_SCOPES,
    # A source reports on its own shipments only (checked against the update's source_id).
    Role.SOURCE: frozenset({"fulfillment:update"}),
}


class NotAuthenticated(Exception):
    """The credential does not authenticate; the message says why, in words for the caller
    (it names a reason only once the secret matched: a guess learns nothing)."""


class UnknownKeyError(DomainError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key {key_id!r}")
        self.key_id = key_id


class KeyExpiryError(DomainError):
    """expires_at is not in the future."""


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


@dataclass(frozen=True)
class KnownKey:
    """What authentication needs of a key, cached for a few seconds."""

    principal: Principal
    secret_sha256: str
    revoked: bool = False
    expires_at: datetime | None = None
    previous_sha256: str | None = None
    previous_until: datetime | None = None

    def accepts(self, digest: str, now: datetime) -> bool:
        current = hmac.compare_digest(self.secret_sha256, digest)
        previous = (
            self.previous_sha256 is not None
            and self.previous_until is not None
            and now < self.previous_until
            and hmac.compare_digest(self.previous_sha256, digest)
        )
        return current or previous

    def refusal(self, now: datetime) -> str | None:
        """Why a matching secret is refused anyway, or None."""
        if self.revoked:
            return f"the API key {self.principal.key_id} was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return (
                f"the API key {self.principal.key_id} expired at {_iso(self.expires_at)}; "
                "ask an admin for a new key"
            )
        return None


class AccessService:
    def __init__(
        self,
        store: OrderStore,
        clock: Callable[[], datetime],
        admin_key: str | None = None,
        admin_key_expires_at: datetime | None = None,
        sessions: ConsoleSessions | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._admin_key = admin_key
        self._admin_sha256 = _sha256(admin_key) if admin_key else None
        self._admin_expires_at = admin_key_expires_at
        self._sessions = sessions
        self._cache: dict[str, tuple[float, KnownKey | None]] = {}
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

    # -- keys -----------------------------------------------------------------------------

    def issue_key(self, request: IssueKey, actor: str) -> KeyIssued:
        now = self._clock()
        if request.expires_at is not None and request.expires_at <= now:
            raise KeyExpiryError(f"expires_at must be after now ({_iso(now)})")
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
            at=now,
            source_id=request.source_id,
            expires_at=request.expires_at,
        )
        self._store.save(key)
        return KeyIssued(
            key_id=key_id,
            api_key=_presentable(key_id, secret),
            role=request.role,
            channel_id=request.channel_id,
            source_id=request.source_id,
            expires_at=request.expires_at,
        )

    def rotate_key(self, key_id: str, grace_seconds: int, actor: str) -> KeyRotated:
        """A new secret for the same key (id, role, channel or source, expiry); the previous
        secret works for `grace_seconds` more (0: it stops now), and console sessions opened
        with it end with it."""
        key = self._key(key_id)
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        grace_until = now + timedelta(seconds=grace_seconds) if grace_seconds else None
        key.rotate(_sha256(secret), grace_until, actor=actor, at=now)
        self._store.save(key)
        self._forget(key_id)
        return KeyRotated(
            key_id=key_id,
            api_key=_presentable(key_id, secret),
            role=Role(key.role),
            channel_id=key.channel_id,
            source_id=key.source_id,
            expires_at=key.expires_at,
            previous_valid_until=key.previous_valid_until,
        )

    def revoke_key(self, key_id: str, actor: str) -> None:
        """Revoke a key (or, as "bootstrap", the configured admin key) and end its sessions."""
        if key_id == BOOTSTRAP:
            self._revoke_bootstrap(actor)
        else:
            key = self._key(key_id)
            key.revoke(actor=actor, at=self._clock())
            self._store.save(key)
        self._forget(key_id)
        if self._sessions is not None:
            self._sessions.close_for_key(key_id)

    def _revoke_bootstrap(self, actor: str) -> None:
        if self._admin_sha256 is None:
            raise UnknownKeyError(BOOTSTRAP)
        revoked = find(self._store, bootstrap_key_aggregate_id(self._admin_sha256), BootstrapKey)
        if revoked is not None:
            raise CredentialError("the bootstrap admin key is revoked already")
        self._store.save(BootstrapKey(self._admin_sha256, actor=actor, at=self._clock()))

    def _key(self, key_id: str) -> ApiKey:
        key = None
        if _is_key_id(key_id):
            key = find(self._store, api_key_aggregate_id(key_id), ApiKey)
        if key is None:
            raise UnknownKeyError(key_id)
        return key

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, presented: str) -> Principal | None:
        """The principal for an API key, or None."""
        try:
            return self.check(presented)[0]
        except NotAuthenticated:
            return None

    def check(self, presented: str) -> tuple[Principal, str]:
        """The principal for an API key and the hash of the secret that proved it (a console
        session keeps that hash, to end with the secret); hashes are compared in constant
        time. Raises NotAuthenticated."""
        digest = _sha256(presented)
        if self._admin_sha256 is not None and hmac.compare_digest(digest, self._admin_sha256):
            return self.check_credential(BOOTSTRAP, digest), digest
        prefix, _, rest = presented.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not secret or not _is_key_id(key_id):
            raise NotAuthenticated("the API key is unknown, revoked or malformed")
        digest = _sha256(secret)
        return self.check_credential(key_id, digest), digest

    def check_credential(self, key_id: str, secret_sha256: str) -> Principal:
        """The principal of a key whose secret hashes to `secret_sha256`, if it still works."""
        now = self._clock()
        known = self._known(key_id)
        if known is None or not known.accepts(secret_sha256, now):
            raise NotAuthenticated("the API key is unknown, revoked or malformed")
        refusal = known.refusal(now)
        if refusal is not None:
            raise NotAuthenticated(refusal)
        return known.principal

    def answers_from_memory(self, presented: str) -> bool:
        """Whether `check(presented)` reads nothing from the store (the key it names was read
        within KEY_CACHE_SECONDS less a margin): the caller need not leave the event loop."""
        admin = self._admin_sha256 and hmac.compare_digest(_sha256(presented), self._admin_sha256)
        # The key id as `check` reads it (a malformed key is refused there before any read).
        named = presented.partition("_")[2].partition("_")[0]
        cached = self._cache.get(BOOTSTRAP if admin else named)
        return cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS - 1.0

    def _known(self, key_id: str) -> KnownKey | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        known = self._load_bootstrap() if key_id == BOOTSTRAP else self._load(key_id)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: unknown ids must not grow it for ever
                self._cache.clear()
            self._cache[key_id] = (now, known)
        return known

    def _load(self, key_id: str) -> KnownKey | None:
        key = find(self._store, api_key_aggregate_id(key_id), ApiKey)
        if key is None:
            return None
        principal = Principal(
            role=Role(key.role),
            key_id=key_id,
            channel_id=key.channel_id,
            label=key.label,
            source_id=key.source_id,
        )
        return KnownKey(
            principal=principal,
            secret_sha256=key.secret_sha256,
            revoked=key.revoked,
            expires_at=key.expires_at,
            previous_sha256=key.previous_secret_sha256,
            previous_until=key.previous_valid_until,
        )

    def _load_bootstrap(self) -> KnownKey | None:
        if self._admin_sha256 is None:
            return None
        revoked = find(self._store, bootstrap_key_aggregate_id(self._admin_sha256), BootstrapKey)
        return KnownKey(
            principal=Principal(role=Role.ADMIN, key_id=BOOTSTRAP, label="admin"),
            secret_sha256=self._admin_sha256,
            revoked=revoked is not None,
            expires_at=self._admin_expires_at,
        )

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)


def _presentable(key_id: str, secret: str) -> str:
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _is_key_id(text: str) -> bool:
    return len(text) == 12 and all(ch in "0123456789abcdef" for ch in text)


def _sha256(secret: str) -> str:
    # API keys are long random secrets, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
