"""The operations console, in process: an embedded hub filled by `hub.tools.demo.seed`, the app on
httpx's ASGI transport. Pages render, filters filter, forms act and come back with a message,
bad input reads as a message (never a 500), and keys and scopes are honoured."""

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio

from hub.bootstrap import Hub
from hub.services.decision_records import explanation_of
from hub.tools.demo import seed
from projections.exceptions import ExceptionQuery
from projections.order_query import OrderQuery
from schemas.channels import IssueKey, Role
from tests.contracts.factories import NOW, fixed_clock, submit_order
from tests.support.running_hub import embedded_hub, running

pytestmark = pytest.mark.asyncio
ADMIN_KEY = "console-test-admin-key-0f3a9c2e7b14d58e"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded once per module; each test works on its own copy."""
    data_dir = tmp_path_factory.mktemp("console-seed")
    with closing(embedded_hub(data_dir, fixed_clock(NOW))) as hub:
        assert seed(hub) == 60
    return data_dir


@asynccontextmanager
async def on_a_copy(
    seeded: Path, data_dir: Path, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    shutil.copytree(seeded, data_dir)
    async with running(data_dir, **settings) as pair:
        yield pair


@pytest_asyncio.fixture
async def env(seeded_dir: Path, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    async with on_a_copy(seeded_dir, tmp_path / "hub") as pair:
        yield pair


@pytest_asyncio.fixture
async def secured(seeded_dir: Path, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    async with on_a_copy(
        seeded_dir, tmp_path / "hub", auth_required=True, admin_api_key=ADMIN_KEY
    ) as pair:
        yield pair


def held_orders(hub: Hub) -> list[Any]:
    return hub.order_status.search(OrderQuery(status=("held",), limit=100)).rows


def open_holds(hub: Hub) -> int:
    return hub.exceptions.counts(ExceptionQuery(state="open"))["on_hold"]


def queue_orders(html: str) -> list[str]:
    return re.findall(r'data-order="([^"]*)"', html)


def issue(hub: Hub, role: Role, label: str) -> str:
    return hub.access.issue_key(IssueKey(role=role, label=label), actor="user:admin").api_key


# -- pages ----------------------------------------------------------------------------------


async def test_root_redirects_to_the_queue(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    response = await client.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/exceptions"


async def test_queue_lists_the_held_orders(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    response = await client.get("/console/exceptions")
    assert response.status_code == 200
    assert "<title>Exception queue · OrderHub console</title>" in response.text
    held = held_orders(hub)
    assert held
    listed = queue_orders(response.text)
    for row in held:
        assert row.external_id in listed
    assert "Resolve or assign" in response.text


async def test_kind_filter_shows_only_holds_and_counts_per_kind(
    env: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = env
    response = await client.get("/console/exceptions", params={"kind": "on_hold"})
    assert response.status_code == 200
    kinds = re.findall(r'<tr data-kind="([^"]+)"', response.text)
    assert kinds and set(kinds) == {"on_hold"}
    assert sorted(queue_orders(response.text)) == sorted(r.external_id for r in held_orders(hub))
    counts = hub.exceptions.counts(ExceptionQuery(state="open"))
    for kind in ("on_hold", "backordered", "unroutable"):
        chip = re.search(rf'data-kind="{kind}">\s*[^<]*<span class="n">(\d+)</span>', response.text)
        assert chip is not None and int(chip.group(1)) == counts[kind]
    assert f"{counts['on_hold']} open exceptions" in response.text


async def test_queue_filters_and_pages_with_a_cursor(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    first = await client.get("/console/exceptions", params={"severity": "low", "limit": "4"})
    assert first.status_code == 200
    assert set(re.findall(r'<span class="sev (\w+)">', first.text)) == {"low"}
    link = re.search(r'<a href="([^"]+)" rel="next">Next page', first.text)
    assert link is not None
    second = await client.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "First page" in second.text
    ids = re.findall(r'id="note-([^"]+)"', first.text)
    assert ids and not set(ids) & set(re.findall(r'id="note-([^"]+)"', second.text))


@pytest.mark.parametrize("page", ["/console/exceptions", "/console/orders", "/console/stock"])
async def test_a_bad_cursor_reads_as_a_message(
    env: tuple[httpx.AsyncClient, Hub], page: str
) -> None:
    client, _ = env
    response = await client.get(page, params={"after": "not-a-cursor!"})
    assert response.status_code == 400
    assert "This page link is not valid any more" in response.text
    assert "<table" in response.text  # the first page is shown under the message


async def test_unknown_filter_values_are_explained(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    response = await client.get(
        "/console/exceptions", params={"kind": "nonsense", "state": "maybe"}
    )
    assert response.status_code == 200
    assert "Unknown kind" in response.text and "Unknown state" in response.text


async def test_summary_by_sku(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    response = await client.get("/console/exceptions", params={"view": "summary", "by": "sku"})
    assert response.status_code == 200
    assert "<title>Exceptions by SKU" in response.text
    assert 'href="/console/exceptions?sku=GREEN-SOFA&amp;state=open"' in response.text


async def test_order_search_by_status_and_text(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    response = await client.get("/console/orders", params={"status": "held"})
    assert response.status_code == 200
    held = held_orders(hub)
    for row in held:
        assert f'href="/console/orders/{row.order_id}">{row.external_id}</a>' in response.text
    assert response.text.count('<span class="badge warn">held</span>') == len(held)
    one = held[0].external_id
    found = await client.get("/console/orders", params={"q": one.lower(), "placed_to": "x"})
    assert found.status_code == 200
    assert one in found.text and "is not a date" in found.text
    assert "EUR" in found.text


async def test_order_page_shows_timeline_explanation_and_actions(
    env: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    response = await client.get(f"/console/orders/{row.order_id}")
    assert response.status_code == 200
    assert f"<title>Order {row.external_id} · OrderHub console</title>" in response.text
    order = hub.intake.find(UUID(row.order_id))
    assert order is not None
    explanation = explanation_of(order)  # derived from the recorded decision
    assert explanation is not None and "HELD by rule" in explanation
    assert "HELD by rule" in response.text
    for entry in hub.audit.trail(row.order_id):
        assert f'<span class="what">{entry.summary}</span>' in response.text
    assert f"{row.total} {row.currency}" in response.text
    for form in ("release-form", "reroute-form", "cancel-form"):
        assert f'id="{form}"' in response.text
    assert 'name="note"' in response.text and 'for="release-note"' in response.text


@pytest.mark.parametrize("order_id", [str(UUID(int=7)), "not-a-uuid"])
async def test_an_unknown_order_is_a_404_page(
    env: tuple[httpx.AsyncClient, Hub], order_id: str
) -> None:
    client, _ = env
    response = await client.get(f"/console/orders/{order_id}")
    assert response.status_code == 404
    assert "Order not found" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_release_hold_through_the_form(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    before = open_holds(hub)
    response = await client.post(
        f"/console/orders/{row.order_id}/release-hold", data={"note": "paid by phone"}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/console/orders/{row.order_id}?done=")
    page = await client.get(response.headers["location"])
    assert "Hold released" in page.text
    status = hub.order_status.get(row.order_id)
    assert status is not None and status.status != "held"
    assert open_holds(hub) == before - 1
    released = [e for e in hub.audit.trail(row.order_id) if e.type.endswith("hold_released")]
    assert released and released[0].actor == "user:trial"
    queue = await client.get("/console/exceptions", params={"kind": "on_hold"})
    assert row.external_id not in queue_orders(queue.text)


async def test_a_missing_note_is_asked_for(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    response = await client.post(f"/console/orders/{row.order_id}/release-hold", data={})
    assert response.status_code == 303 and "error=" in response.headers["location"]
    page = await client.get(response.headers["location"])
    assert "Write a note" in page.text
    assert hub.order_status.get(row.order_id).status == "held"  # type: ignore[union-attr]


async def test_a_bad_reroute_shows_the_error(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    response = await client.post(
        f"/console/orders/{row.order_id}/reroute",
        data={"source_id": "wh-atlantis", "reason": "closer"},
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "no fulfillment source &#39;wh-atlantis&#39; is registered" in page.text


async def test_a_broken_rule_shows_the_error(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    shipped = hub.order_status.search(OrderQuery(status=("shipped",), limit=1)).rows[0]
    response = await client.post(
        f"/console/orders/{shipped.order_id}/release-hold", data={"note": "why not"}
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'class="flash bad"' in page.text and "cannot be" in page.text


async def test_reroute_an_unroutable_order(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = hub.order_status.search(OrderQuery(status=("unroutable",), limit=1)).rows[0]
    response = await client.post(
        f"/console/orders/{row.order_id}/reroute",
        data={"source_id": "wh-lyon", "reason": "customer collects in Lyon"},
    )
    assert "done=" in response.headers["location"]
    trail = hub.audit.trail(row.order_id)
    assert any(e.type.endswith("reroute_requested") and e.actor == "user:trial" for e in trail)


async def test_cancel_through_the_form(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    response = await client.post(
        f"/console/orders/{row.order_id}/cancel", data={"reason": "customer asked"}
    )
    assert "done=" in response.headers["location"]
    status = hub.order_status.get(row.order_id)
    assert status is not None and status.status in ("cancelled", "cancelling")


async def test_assign_and_resolve_from_the_queue(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    refused = hub.exceptions.queue(ExceptionQuery(kinds=("rejected_submission",))).rows[0]
    back = "/console/exceptions?kind=rejected_submission"
    path = f"/console/exceptions/{refused.exception_id}"
    assigned = await client.post(f"{path}/assign", data={"assignee": "alice", "back": back})
    assert assigned.headers["location"].startswith(back + "&done=")
    assert hub.exceptions.get(refused.exception_id).assignee == "alice"  # type: ignore[union-attr]
    resolved = await client.post(
        f"{path}/resolve", data={"note": "asked the marketplace", "back": "https://evil.test/"}
    )
    assert resolved.status_code == 303
    assert resolved.headers["location"].startswith("/console?done=")  # not another site
    row = hub.exceptions.get(refused.exception_id)
    assert row is not None and not row.is_open and row.resolved_by == "user:trial"
    page = await client.get("/console/exceptions", params={"state": "resolved"})
    assert "asked the marketplace" in page.text and "user:trial" in page.text


async def test_everything_is_escaped(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    command = submit_order(
        external_id="WEB-XSS-1",
        customer={"id": SCRIPT, "name": SCRIPT},
        payment_state="pending",
    )
    hub.intake.place_orders([command])
    hub.deliver()
    pages = [
        "/console/exceptions",
        f"/console/exceptions?customer={SCRIPT}",
        "/console/orders?q=WEB-XSS",
        f"/console/orders/{command.order_id}",
        "/console/exceptions?view=summary&by=customer",
    ]
    for url in pages:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert SCRIPT not in response.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text, url


async def test_stock_page(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    response = await client.get("/console/stock", params={"source": "wh-lyon"})
    assert response.status_code == 200
    assert "<title>Stock · OrderHub console</title>" in response.text
    assert "Lyon DC" in response.text and "RED-CHAIR" in response.text
    assert "Paris DC" not in response.text.split("<table", 1)[1]
    short = await client.get("/console/stock", params={"short": "1", "sku": "NOPE-"})
    assert "Good news" in short.text


async def test_kpis_page_draws_charts_and_explains(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    response = await client.get("/console/kpis")
    assert response.status_code == 200
    assert response.text.count('<svg class="chart"') == 3
    assert "Fill rate" in response.text and "units shipped ÷ units ordered" in response.text
    assert "web-shop" in response.text and " EUR" in response.text
    backwards = await client.get("/console/kpis", params={"from": "2026-11-20", "to": "2026-11-01"})
    assert backwards.status_code == 400 and "must not be after" in backwards.text


async def test_static_files_and_headers(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, _ = env
    css = await client.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/console/static/../app.py")).status_code == 404
    page = await client.get("/console/orders")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_a_form_from_another_site_is_refused(env: tuple[httpx.AsyncClient, Hub]) -> None:
    client, hub = env
    row = held_orders(hub)[0]
    response = await client.post(
        f"/console/orders/{row.order_id}/release-hold",
        data={"note": "x"},
        headers={"Origin": "https://evil.test"},
    )
    assert response.status_code == 403
    assert hub.order_status.get(row.order_id).status == "held"  # type: ignore[union-attr]


# -- keys and scopes ------------------------------------------------------------------------


async def test_without_a_key_the_console_asks_to_sign_in(
    secured: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = secured
    page = await client.get("/console/exceptions", params={"kind": "on_hold"})
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=%2Fconsole%2Fexceptions")
    row = held_orders(hub)[0]
    action = await client.post(f"/console/orders/{row.order_id}/release-hold", data={"note": "x"})
    assert action.status_code == 401
    assert (await client.get("/console/login")).status_code == 200


async def test_signing_in_sets_a_cookie_and_actions_carry_the_name(
    secured: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = secured
    key = issue(hub, Role.OPS, "alice")
    wrong = await client.post("/console/login", data={"api_key": "ohk_nope", "next": "/"})
    assert wrong.status_code == 401 and "unknown" in wrong.text
    login = await client.post(
        "/console/login", data={"api_key": key, "next": "/console/orders?status=held"}
    )
    assert login.status_code == 303
    assert login.headers["location"] == "/console/orders?status=held"
    cookie = login.headers["set-cookie"].lower()
    assert "orderhub_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert key.lower() not in cookie  # the cookie holds a session id, never the key
    page = await client.get("/console/orders")  # the client keeps the cookie
    assert page.status_code == 200 and "user:alice" in page.text
    row = held_orders(hub)[0]
    await client.post(f"/console/orders/{row.order_id}/release-hold", data={"note": "ok"})
    trail = hub.audit.trail(row.order_id)
    assert any(e.type.endswith("hold_released") and e.actor == "user:alice" for e in trail)


async def test_an_auditor_may_look_but_not_release(
    secured: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = secured
    headers = {"X-API-Key": issue(hub, Role.AUDITOR, "audrey")}
    row = held_orders(hub)[0]
    page = await client.get(f"/console/orders/{row.order_id}", headers=headers)
    assert page.status_code == 200 and 'id="release-form"' not in page.text
    response = await client.post(
        f"/console/orders/{row.order_id}/release-hold", data={"note": "x"}, headers=headers
    )
    assert response.status_code == 403
    assert "may not act on orders" in response.text
    assert hub.order_status.get(row.order_id).status == "held"  # type: ignore[union-attr]


async def test_a_revoked_or_foreign_key_is_turned_away(
    secured: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = secured
    client.cookies.set("orderhub_session", uuid4().hex, path="/console")
    bad = await client.get("/console/stock")
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    assert 'orderhub_session=""' in bad.headers["set-cookie"]
    client.cookies.clear()
    source = hub.access.issue_key(
        IssueKey(role=Role.SOURCE, source_id="wh-lyon"), actor="user:admin"
    )
    foreign = await client.get("/console/orders", headers={"X-API-Key": source.api_key})
    assert foreign.status_code == 403 and "operations staff" in foreign.text
