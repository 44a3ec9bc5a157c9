"""Publishing, rolling back and selecting orchestration policies (validated before they count)."""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from aggregates.directory import Directory, directory_id
from aggregates.ids import policy_aggregate_id
from aggregates.policy import PolicyVersions
from hub.services.conflicts import retried
from hub.services.lookup import find
from hub.store import OrderStore
from orchestration_policies import (
    Policy,
    PolicyError,
    default_policy,
    load_policy,
    validate_policy,
)
from orchestration_policies.loading import Problem

POLICIES = "policies"


@dataclass(frozen=True)
class PolicySummary:
    policy_id: str
    name: str
    active_version: int | None
    versions: list[int]
    bundled: bool = False


class PolicyService:
    def __init__(
        self,
        store: OrderStore,
        clock: Callable[[], datetime],
        known_sources: Callable[[], Iterable[str]],
        demand_classes: Iterable[str],
    ) -> None:
        self._store = store
        self._clock = clock
        self._known_sources = known_sources
        self._demand_classes = set(demand_classes)
        self._compiled: dict[tuple[str, int], Policy] = {}

    def validate(self, text: str) -> Policy:
        """Parse, type-check CEL, and check references; PolicyError lists every problem."""
        policy = load_policy(text)
        problems = validate_policy(
            policy,
            known_sources=set(self._known_sources()),
            known_demand_classes=self._demand_classes,
        )
        if problems:
            raise PolicyError(problems)
        return policy

    def publish(self, text: str, actor: str) -> tuple[str, int]:
        """Validate and publish as the next version of the policy's id; returns (id, version)."""
        policy = self.validate(text)
        digest = hashlib.sha256(text.encode()).hexdigest()

        # A new policy joins the one directory of policies: two published at once conflict
        # there, and the loser records its own again on the fresh directory.
        def record() -> int:
            versions = self._versions(policy.id)
            created = versions is None
            if versions is None:
                versions = PolicyVersions(policy_id=policy.id)
            version = versions.publish(text, digest, actor=actor, at=self._clock())
            if created:
                directory = find(self._store, directory_id(POLICIES), Directory) or Directory(
                    kind=POLICIES
                )
                directory.add(policy.id)
                self._store.save(versions, directory)
            else:
                self._store.save(versions)
            return version

        return policy.id, retried(f"policy {policy.id!r}", record)

    def roll_back(self, policy_id: str, to_version: int, actor: str) -> int:
        versions = self._versions(policy_id)
        if versions is None:
            raise PolicyError([Problem("id", f"no policy {policy_id!r} has been published")])
        versions.roll_back(to_version, actor=actor, at=self._clock())
        self._store.save(versions)
        return to_version

    def summaries(self) -> list[PolicySummary]:
        summaries = []
        for policy_id in self._policy_ids():
            versions = self._versions(policy_id)
            if versions is None:
                continue
            active = self._policy(versions) if versions.active_version else None
            summaries.append(
                PolicySummary(
                    policy_id=policy_id,
                    name=active.name if active else policy_id,
                    active_version=versions.active_version,
                    versions=sorted(versions.documents),
                )
            )
        if not summaries:
            default = default_policy()
            summaries.append(
                PolicySummary(default.id, default.name, default.version, [default.version], True)
            )
        return summaries

    def document(self, policy_id: str, version: int | None = None) -> tuple[int, str] | None:
        versions = self._versions(policy_id)
        if versions is None or not versions.documents:
            return None
        if version is None:
            return versions.active_document()
        if version not in versions.documents:
            return None
        return version, versions.documents[version]

    def active_policies(self) -> list[Policy]:
        """Every policy's active version; the bundled default when none has been published."""
        policies = []
        for policy_id in self._policy_ids():
            versions = self._versions(policy_id)
            if versions is not None and versions.active_version is not None:
                policies.append(self._policy(versions))
        if all(p.id != default_policy().id for p in policies):
            # The bundled default stays the fallback for orders no published policy applies to.
            policies.append(default_policy())
        return policies

    def _policy(self, versions: PolicyVersions) -> Policy:
        version, text = versions.active_document()
        key = (versions.policy_id, version)
        if key not in self._compiled:
            # The stored version number is the truth; the document's own `version` is a hint.
            self._compiled[key] = load_policy(text).model_copy(update={"version": version})
        return self._compiled[key]

    def _versions(self, policy_id: str) -> PolicyVersions | None:
        return find(self._store, policy_aggregate_id(policy_id), PolicyVersions)

    def _policy_ids(self) -> list[str]:
        directory = find(self._store, directory_id(POLICIES), Directory)
        return list(directory.names) if directory is not None else []
