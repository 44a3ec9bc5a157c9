"""Directory: the ids of the aggregates of one kind (sources, policies), so they can be listed."""

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class Directory(Aggregate):
    """The event store finds aggregates by id only; a directory is how a kind is enumerated."""

    @staticmethod
    def create_id(kind: str) -> UUID:
        return directory_id(kind)

    @event("Created")
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []

    def add(self, name: str) -> None:
        if name not in self.names:
            self._added(name=name)

    @event("Added")
    def _added(self, name: str) -> None:
        self.names.append(name)


def directory_id(kind: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"orderhub:directory:{kind}")
