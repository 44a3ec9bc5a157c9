"""`orderhub serve` embedded with admission control: a routing process that stops makes the
orders wait; past the limit, capture answers 429 with Retry-After and stores nothing; once
routing has caught up, the same order is taken as a new one."""

import os
import signal
from typing import Any

import httpx

from tests.contracts.factories import submission_dict
from tests.contracts.order_search_contract import LYON
from tests.e2e.test_embedded_routing_process import (
    _all_routed,
    _capture,
    _until,
    routing_with_stock,
    serve,  # noqa: F401 (the fixture)
)


def _admission(api: httpx.Client) -> dict[str, Any]:
    found: dict[str, Any] = api.get("/healthz").json()["admission"]
    return found


def _shed_count(api: httpx.Client) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith('orderhub_admission_shed_total{route="orders"}'):
            return float(line.split()[-1])
    return 0.0


def test_capture_sheds_while_routing_is_behind_and_the_retry_is_a_new_order(serve: Any) -> None:  # noqa: F811
    _, api = serve(
        ORDERHUB_ADMISSION_MAX_LAG_SECONDS="1",
        ORDERHUB_ADMISSION_SAMPLE_SECONDS="0.1",
        ORDERHUB_ROUTING_STALL_SECONDS="120",  # a stopped router is not replaced meanwhile
    )
    router = routing_with_stock(api)
    before = _capture(api, "WEB-B", 5)
    _until(lambda: _all_routed(api, before), 30, "orders routed")
    assert _admission(api)["shedding"] is False
    shed_before = _shed_count(api)

    os.kill(router, signal.SIGSTOP)  # alive, routing no more: the orders wait
    try:
        waiting = _capture(api, "WEB-W", 3)  # taken: routing is not behind yet
        _until(lambda: _admission(api)["shedding"], 15, "admission shedding")
        body = submission_dict(external_id="WEB-SHED", ship_to=LYON, payment_state="authorized")
        refused = api.post("/v1/orders", json=body)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        problem = refused.json()
        assert problem["type"] == "/problems/overloaded"
        assert problem["routing_lag_seconds"] >= 1  # past the limit (rounded to 0.01 s)
        assert _shed_count(api) == shed_before + 1
    finally:
        os.kill(router, signal.SIGCONT)

    _until(lambda: not _admission(api)["shedding"], 30, "admission open again")
    again = api.post("/v1/orders", json=body)
    assert again.status_code == 202, again.text  # not 200: the 429 had stored nothing
    assert again.json()["outcome"] == "created"
    _until(lambda: _all_routed(api, [*waiting, again.json()["order_id"]]), 30, "all routed")
