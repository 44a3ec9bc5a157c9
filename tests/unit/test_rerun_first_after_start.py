"""What a start warms for the first re-run after it: the API's route table (FastAPI builds a
route's state at the first request matched against it otherwise) and the route's own path on
the newest recorded decision (its order read, its inputs decided again, digests compared).
Warming writes nothing, does not hold back readiness, and leaves every decision re-running to
its own digests."""

import contextlib
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi import routing

from benchmarks.rerun_api import routed_orders
from hub.api import app as app_module
from hub.api.app import create_app
from hub.api.route_table import build_route_table
from hub.api.routes.decisions import _rerun as route_rerun
from hub.bootstrap import Hub
from hub.services import decisions, recorded_inputs, rerun
from hub.services.access import Principal
from hub.services.decisions import forget_orders, latest_decided_order
from schemas.channels import Role
from tests.support.running_hub import embedded_hub, serving

AUDITOR = Principal(Role.AUDITOR, "test")


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[tuple[Hub, list[UUID]]]:
    """Three orders routed over 6 sources, each decision with its own recorded inputs."""
    with contextlib.closing(embedded_hub(tmp_path, routing_process="off")) as hub:
        yield hub, routed_orders(hub, candidates=6, orders=3, seed=7)


def _forget(hub: Hub) -> None:
    forget_orders()
    with recorded_inputs._INPUTS_LOCK:
        recorded_inputs._INPUTS_READ.pop(hub.store, None)


def _stored(hub: Hub) -> list[tuple[UUID, int]]:
    """Every stored event, by its notification: what a write would change."""
    recorder = hub.store.events.recorder
    found = recorder.select_notifications(start=1, limit=1_000_000)  # type: ignore[attr-defined]
    return [(n.originator_id, n.originator_version) for n in found]


def test_warming_reruns_the_newest_decision_as_the_route_does_and_writes_nothing(
    routed: tuple[Hub, list[UUID]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, orders = routed
    _forget(hub)
    before = _stored(hub)
    answers: list[rerun.Rerun] = []
    real = rerun.RerunService.rerun

    def watched(self: rerun.RerunService, *args: Any, **kwargs: Any) -> rerun.Rerun:
        answers.append(real(self, *args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(rerun.RerunService, "rerun", watched)
    assert rerun.RerunService(hub.store, hub.policies).warm() is True

    assert [(a.order_id, a.n, a.identical) for a in answers] == [(orders[-1], 1, True)]
    assert list(decisions._KEPT[hub.store]) == [orders[-1]]  # kept, as any re-run's order
    assert list(recorded_inputs._INPUTS_READ[hub.store]) == [answers[0].inputs_digest]
    assert _stored(hub) == before


def test_after_warming_each_decision_reruns_to_its_own_digests(
    routed: tuple[Hub, list[UUID]],
) -> None:
    """The warmed decision's inputs and order are kept: another decision must never be given
    them (each re-run here compares with its own recorded digests, and they all differ)."""
    hub, orders = routed
    _forget(hub)
    assert rerun.RerunService(hub.store, hub.policies).warm() is True
    found = [route_rerun(hub.store, hub.policies, o, 1, AUDITOR) for o in orders]
    again = [route_rerun(hub.store, hub.policies, o, 1, AUDITOR) for o in reversed(orders)]

    for answer in found + again:
        assert answer.identical and answer.rerun_digest == answer.recorded_digest
    assert len({a.inputs_digest for a in found}) == len({a.rerun_digest for a in found}) == 3
    assert [a.rerun_digest for a in reversed(again)] == [a.rerun_digest for a in found]
    assert [a.order_id for a in found] == orders


def test_the_newest_decided_order_is_found_across_windows_and_within_the_look_back(
    routed: tuple[Hub, list[UUID]],
) -> None:
    hub, orders = routed
    newest = latest_decided_order(hub.store)
    assert newest == orders[-1]
    assert latest_decided_order(hub.store, window=1) == newest  # read back one at a time
    # The routing of the last order is followed by its fulfillment request and stock moves:
    # a look-back of one notification does not reach its decision.
    assert latest_decided_order(hub.store, look_back=1) is None


def _contexts_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on: each route whose state FastAPI builds (at its first request, lazily), and
    each endpoint whose source lines it reads (at its first request, for error messages)."""
    built: list[str] = []
    real = routing._EffectiveRouteContext.from_api_route.__func__  # type: ignore[attr-defined]

    def counted(cls: type, /, **kwargs: Any) -> Any:
        built.append(kwargs["original_route"].path)
        return real(cls, **kwargs)

    real_lines = inspect.getsourcelines

    def lines(thing: Any) -> Any:
        built.append(f"source of {thing.__name__}")
        return real_lines(thing)

    monkeypatch.setattr(routing._EffectiveRouteContext, "from_api_route", classmethod(counted))
    monkeypatch.setattr(inspect, "getsourcelines", lines)
    routing._endpoint_context_cache.clear()  # as in a new process
    return built


def _warm_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "orderhub-warm-rerun"), None)


@pytest.mark.asyncio
@pytest.mark.parametrize("warmed", [True, False])
async def test_a_started_app_has_built_its_routes_before_the_first_rerun(
    routed: tuple[Hub, list[UUID]], monkeypatch: pytest.MonkeyPatch, warmed: bool
) -> None:
    hub, orders = routed
    built = _contexts_built(monkeypatch)
    if not warmed:  # as before: the first request builds the routes it is matched against
        monkeypatch.setattr(app_module, "build_route_table", lambda app: None)
    async with serving(create_app(hub)) as client:
        thread = _warm_thread()
        if thread is not None:
            thread.join(timeout=60)
        at_start = len(built)
        answer = await client.post(f"/v1/orders/{orders[0]}/decisions/1/rerun")
        assert answer.status_code == 200 and answer.json()["identical"] is True
    by_request = built[at_start:]
    if warmed:
        assert at_start > 20 and "source of rerun_decision" in built and by_request == []
    else:
        assert at_start == 0 and "/v1/orders/{order_id}/decisions/{n}/rerun" in by_request
        assert "source of rerun_decision" in by_request


@pytest.mark.asyncio
async def test_readiness_does_not_wait_for_the_warming(
    routed: tuple[Hub, list[UUID]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, _ = routed
    release = threading.Event()

    def slow(app: Any) -> None:
        release.wait(timeout=60)
        build_route_table(app)

    monkeypatch.setattr(app_module, "build_route_table", slow)
    try:
        async with serving(create_app(hub)) as client:
            assert (await client.get("/healthz")).status_code == 200  # warming still held
            assert _warm_thread() is not None
    finally:
        release.set()
    thread = _warm_thread()
    if thread is not None:
        thread.join(timeout=60)
