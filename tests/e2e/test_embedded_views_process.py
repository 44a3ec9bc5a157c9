"""`orderhub serve` embedded, as a user runs it, with the read models in a process of their own
(and routing in another): an acknowledged order is readable at once; a killed views process is
started again and nothing is lost (captures answered meanwhile are readable once it is back);
SIGTERM to the process group stops all three cleanly; a views process whose API process died
ends itself."""

import os
import signal
from typing import Any

import httpx

from tests.e2e import test_embedded_routing_process as routing_e2e
from tests.e2e.test_embedded_routing_process import _gone, _until, routing_with_stock

serve = routing_e2e.serve  # the fixture: `orderhub serve` with routing in a second process
VIEWS_ON = {"ORDERHUB_VIEWS_PROCESS": "on"}


def _views(api: httpx.Client) -> dict[str, Any] | None:
    views: dict[str, Any] | None = api.get("/healthz").json().get("views_process")
    return views if views and views["routing"] else None


def _capture(api: httpx.Client, prefix: str, count: int, readable: bool) -> list[str]:
    ids: list[str] = routing_e2e._capture(api, prefix, count)
    if readable:  # acknowledged: in the read models already
        assert {api.get(f"/v1/orders/{i}").status_code for i in ids} == {200}
    return ids


def _all_routed(api: httpx.Client, ids: list[str]) -> bool:
    """Every order readable and routed (a 404 while the views catch up is not yet)."""
    answers = (api.get(f"/v1/orders/{i}") for i in ids)
    return all(a.status_code == 200 and a.json()["status"] == "routed" for a in answers)


def test_a_killed_views_process_is_started_again_and_sigterm_stops_all(serve: Any) -> None:
    proc, api = serve(**VIEWS_ON)
    router = routing_with_stock(api)
    first = _until(lambda: _views(api), 30, "views process up")["pid"]
    assert first not in (router, proc.process.pid)

    before = _capture(api, "WEB-B", 20, readable=True)
    _until(lambda: _all_routed(api, before), 30, "orders routed")
    os.kill(first, signal.SIGKILL)
    during = _capture(api, "WEB-D", 10, readable=False)  # answered while the views are down
    again = _until(lambda: (v := _views(api)) and v["pid"] != first and v, 30, "views back")
    _until(lambda: _all_routed(api, before + during), 60, "orders readable after the restart")
    after = _capture(api, "WEB-A", 10, readable=True)
    _until(lambda: _all_routed(api, after), 30, "orders routed after the restart")
    assert again["restarts"] == 1
    lamps = api.get("/v1/stock/wh-lyon/BLUE-LAMP").json()
    assert lamps["reserved"] == 40, "each order reserved once"

    os.killpg(proc.process.pid, signal.SIGTERM)  # the whole group, as a service manager does
    assert proc.process.wait(timeout=25) in (0, -signal.SIGTERM), proc.log_tail()
    assert _gone(again["pid"]) and _gone(router)
    log = proc.log_path.read_text(errors="replace")
    assert f"views process {again['pid']} stopped (exit code 0)" in log, proc.log_tail()
    assert f"routing process {router} stopped (exit code 0)" in log, proc.log_tail()
    assert log.count("starting another") == 1, "only the killed one was started again"
    assert "database is locked" not in log and "Traceback" not in log, proc.log_tail(80)


def test_a_views_process_whose_api_process_died_ends_itself(serve: Any) -> None:
    proc, api = serve(**VIEWS_ON)
    views = _until(lambda: _views(api), 30, "views process up")["pid"]

    os.kill(proc.process.pid, signal.SIGKILL)

    _until(lambda: _gone(views), 15, "the orphaned views process ended")
