"""A re-run's policy version: a published one is kept per store once found (its document never
changes); the bundled default's answer is not kept, as its id and number may be published
later, which then decides; a version never published and not the bundled one is unknown."""

from pathlib import Path
from typing import Any

import pytest

from hub.bootstrap import bootstrap
from hub.services import rerun
from hub.services.policies import PolicyService
from hub.services.rerun import RerunService
from hub.settings import Settings
from orchestration_policies import default_policy
from orchestration_policies.decision_inputs import PolicyRef

DEFAULT = Path(rerun.__file__).parents[2] / "orchestration_policies" / "default_policy.yaml"


def _counted(policies: PolicyService, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """From now on: each look-up of a policy's published versions."""
    asked: list[Any] = []
    real = policies.document

    def document(*args: Any) -> Any:
        asked.append(args)
        return real(*args)

    monkeypatch.setattr(policies, "document", document)
    return asked


def test_published_kept_bundled_asked_each_time_and_a_later_publish_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None))
    try:
        bundled = default_policy()
        ref = PolicyRef(bundled.id, bundled.version)
        asked = _counted(hub.policies, monkeypatch)
        first = RerunService(hub.store, hub.policies)._recorded_policy(ref)
        again = RerunService(hub.store, hub.policies)._recorded_policy(ref)
        # Never published: the bundled default, its versions not rebuilt (no event says so).
        assert first is again is rerun._bundled() and asked == []
        assert RerunService(hub.store, hub.policies)._recorded_policy(PolicyRef("nope", 1)) is None

        # The default's id published (version 1, as the bundled one) with another name: from
        # now on that document is version 1, for a service made before as after.
        text = DEFAULT.read_text().replace("name: Default routing", "name: Published default")
        assert hub.policies.publish(text, actor="user:admin") == (bundled.id, 1)
        published = RerunService(hub.store, hub.policies)._recorded_policy(ref)
        assert published is not None and published.name == "Published default"
        assert len(asked) == 1
        kept = RerunService(hub.store, hub.policies)._recorded_policy(ref)
        assert kept is published and len(asked) == 1  # kept: not looked up again
        unknown = PolicyRef(bundled.id, 2)
        assert RerunService(hub.store, hub.policies)._recorded_policy(unknown) is None
        assert RerunService(hub.store, hub.policies)._recorded_policy(unknown) is None
        assert len(asked) == 3  # an unknown version is asked for each time (not kept)
    finally:
        hub.close()


def test_kept_per_store(tmp_path: Path) -> None:
    one = bootstrap(Settings(data_dir=tmp_path / "a", kafka_bootstrap=None, database_url=None))
    two = bootstrap(Settings(data_dir=tmp_path / "b", kafka_bootstrap=None, database_url=None))
    try:
        text = DEFAULT.read_text().replace("name: Default routing", "name: Store one's")
        one.policies.publish(text, actor="user:admin")
        ref = PolicyRef("default", 1)
        found = RerunService(one.store, one.policies)._recorded_policy(ref)
        other = RerunService(two.store, two.policies)._recorded_policy(ref)
        assert found is not None and found.name == "Store one's"
        assert other is rerun._bundled()  # the other store never published it
    finally:
        one.close()
        two.close()
