"""PolicyVersions: the published versions of one orchestration policy and which one is active."""

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import PolicyVersionError
from aggregates.ids import policy_aggregate_id


class PolicyVersions(Aggregate):
    """Documents are validated before they get here; this keeps history and the active pointer.

    Every decision names (policy id, version), and a version's document never changes, so any
    recorded decision can be re-run against exactly the policy that made it.
    """

    @staticmethod
    def create_id(policy_id: str) -> UUID:
        return policy_aggregate_id(policy_id)

    @event("Created")
    def __init__(self, policy_id: str) -> None:
        self.policy_id = policy_id
        self.documents: dict[int, str] = {}
        self.digests: dict[int, str] = {}
        self.active_version: int | None = None

    @property
    def latest_version(self) -> int:
        return max(self.documents, default=0)

    def publish(self, document: str, digest: str, actor: str, at: datetime) -> int:
        """Publish a new version and make it active; re-publishing the active text is a no-op."""
        if self.active_version is not None and self.digests[self.active_version] == digest:
            return self.active_version
        version = self.latest_version + 1
        self._published(version=version, document=document, digest=digest, actor=actor, at=at)
        return version

    @event("Published")
    def _published(
        self, version: int, document: str, digest: str, actor: str, at: datetime
    ) -> None:
        self.documents[version] = document
        self.digests[version] = digest
        self.active_version = version

    def roll_back(self, to_version: int, actor: str, at: datetime) -> None:
        if to_version not in self.documents:
            raise PolicyVersionError(
                f"policy {self.policy_id} has no version {to_version} "
                f"(versions: {sorted(self.documents)})"
            )
        if to_version != self.active_version:
            self._rolled_back(to_version=to_version, actor=actor, at=at)

    @event("RolledBack")
    def _rolled_back(self, to_version: int, actor: str, at: datetime) -> None:
        self.active_version = to_version

    def active_document(self) -> tuple[int, str]:
        if self.active_version is None:
            raise PolicyVersionError(f"policy {self.policy_id} has no published version")
        return self.active_version, self.documents[self.active_version]
