"""Decision inputs recorded by five workers racing on PostgreSQL: each worker records the same
source definitions at first (the store keeps one, the others settle the conflict and decide
again), and every decision of the race re-runs to the identical decision."""

import pytest

from hub.bootstrap import Hub
from hub.services.recorded_inputs import forget_definitions
from hub.services.rerun import RerunService
from schemas.event_types import EventType
from tests.integration.test_orchestration_postgres import SOURCES, _race, _set_up, hubs

__all__ = ["hubs"]  # the fixture, shared with the race it reuses

pytestmark = pytest.mark.postgres


def test_every_decision_of_five_racing_workers_reruns_identical(hubs: list[Hub]) -> None:
    main, workers = hubs[0], hubs[1:]
    order_ids = _set_up(main)

    _race(workers, order_ids)

    forget_definitions()  # read back from PostgreSQL (all in one query), not from this process
    service = RerunService(main.store, main.policies)
    reruns = []
    for order_id in order_ids:
        found = service.decisions(order_id)
        assert found is not None
        for decision in found[1]:
            assert decision.inputs_recorded is True
            reruns.append(service.rerun(decision, order_id))
    assert len(reruns) >= len(order_ids)
    assert all(r.identical for r in reruns), [r.differences for r in reruns if not r.identical]
    definitions = [
        env
        for _, env in main.store.read_envelopes(None, 100_000)
        if env.type == EventType.RECORDED_SOURCE_RECORDED
    ]
    assert len(definitions) == len(SOURCES)  # once each, however many workers recorded them
