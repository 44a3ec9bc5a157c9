"""The re-run's answer written by orjson is the JSON of `RerunPublic`, and the route still
documents that model."""

import gc
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.api.app import create_app
from hub.api.problems import ProblemError
from hub.api.routes.decisions import _rerun as route_rerun
from hub.api.routes.decisions import answer
from hub.bootstrap import bootstrap
from hub.services import rerun
from hub.services.access import Principal
from hub.services.decisions import order_decisions
from hub.services.rerun import Rerun
from hub.settings import Settings
from orchestration_policies.decision_diff import Difference
from orchestration_policies.decision_inputs import PolicyRef
from schemas.api import RerunPublic
from schemas.channels import Role


def _rerun(*differences: Difference) -> dict[str, Any]:
    return Rerun(
        order_id=uuid.UUID(int=7),
        n=2,
        sequence=5,
        decided_at="2026-12-04T10:00:00+00:00",
        trigger="order_accepted",
        outcome="split",
        policy=PolicyRef("default", 3),
        inputs_digest="i" * 64,
        recorded_digest="d" * 64,
        rerun_digest="d" * 64 if not differences else "e" * 64,
        differences=list(differences),
        seconds=0.0041234,
    ).to_dict()


@pytest.mark.parametrize(
    "body",
    [
        _rerun(),
        _rerun(
            Difference("shipments.wh-lyon", [["1", "RED-CHAIR", 2]], None),
            Difference("explanation.candidates.[0].score", 0.123456, 1e-05),
            Difference("held", {"reason": "é", "n": -3}, True),
        ),
        _rerun(Difference("beyond.64.bits", 2**70, 0)),  # orjson refuses: the model writes it
    ],
    ids=["identical", "differences", "an integer orjson refuses"],
)
def test_the_answer_is_the_models_json(body: dict[str, Any]) -> None:
    response = answer(body)
    assert response.media_type == "application/json"
    expected = RerunPublic.model_validate(body).model_dump(mode="json")
    assert orjson.loads(bytes(response.body)) == expected
    assert expected["identical"] is (not body["differences"])


def test_the_route_still_documents_the_answers_model() -> None:
    schema = create_app().openapi()
    ok = schema["paths"]["/v1/orders/{order_id}/decisions/{n}/rerun"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RerunPublic"
    }


def test_the_route_reads_the_order_with_the_collector_paused_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = bootstrap(Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None))
    seen: list[bool] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return order_decisions(*args, **kwargs)

    monkeypatch.setattr(rerun, "order_decisions", watched)
    was = gc.isenabled()
    try:
        gc.enable()
        with pytest.raises(ProblemError) as unknown:
            route_rerun(hub.store, hub.policies, uuid.uuid4(), 1, Principal(Role.AUDITOR, "a"))
        assert unknown.value.problem.status == 404
        assert seen == [False] and gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
        hub.close()
