"""The console in a real browser: `orderhub serve --demo` as a process, Debian's Chromium
driven by Playwright. An operator filters the queue to holds, opens a held order, reads its
timeline, releases the hold with a note, and finds the order gone from the open holds.

Playwright's own browser download does not work here: Chromium is launched by the path
`infra/chromium.sh path` prints. A missing Chromium (or Playwright) skips the test locally
and FAILS it under CI (CI=true)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.harness.services import under_ci
from tests.support.processes import HubProcess, free_port, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def _unavailable(reason: str) -> NoReturn:
    if under_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    found = subprocess.run(
        ["bash", str(ROOT / "infra" / "chromium.sh"), "path"],
        capture_output=True,
        text=True,
        check=False,
    )
    path = found.stdout.strip()
    if found.returncode != 0 or not path:
        _unavailable("Debian's Chromium is not installed: run `infra/chromium.sh install`")
    return path


class ServeProcess(HubProcess):
    """`orderhub serve` with arguments (HubProcess runs a bare command)."""

    def __init__(self, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.command = "serve"
        self.log_path = log_dir / "serve.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", *args],
            env=env,
            cwd=log_dir,  # no stray .env file is read
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    # Embedded whatever the machine has set: no ORDERHUB_* variable but ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHUB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["ORDERHUB_DATA_DIR"] = str(tmp_path / "data")
    env["ORDERHUB_LOG_LEVEL"] = "warning"
    proc = ServeProcess(["--demo", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/healthz", proc, timeout=90)
        if httpx.get(f"{base}/console/exceptions").status_code == 404:
            pytest.fail("the console is not mounted: app.include_router(console.router)")
        yield base
    finally:
        proc.stop()


def _open_holds(page: Any) -> tuple[int, list[str]]:
    chip = page.locator('.chips a[data-kind="on_hold"] .n')
    rows = page.locator("#queue tbody tr")
    return int(chip.inner_text()), [
        rows.nth(i).get_attribute("data-order") for i in range(rows.count())
    ]


def test_an_operator_releases_a_hold(served: str, tmp_path: Path) -> None:
    executable = chromium_path()
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
                ),
            )

            # The queue, filtered to holds with the chip.
            page.goto(f"{served}/console/exceptions")
            expect(page).to_have_title("Exception queue · OrderHub console")
            page.locator('.chips a[data-kind="on_hold"]').click()
            page.wait_for_url("**/console/exceptions?kind=on_hold")
            expect(page.locator('.chips a[data-kind="on_hold"]')).to_have_class("chip active")
            count, orders = _open_holds(page)
            assert count > 0
            assert len(orders) == count
            kinds = page.locator("#queue tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.kind)"
            )
            assert set(kinds) == {"on_hold"}
            expect(page.locator("#queue-count")).to_have_text(f"{count} open exceptions")
            page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

            # A held order: its timeline, why it is held.
            external_id = orders[0]
            page.get_by_role("link", name=external_id, exact=True).click()
            expect(page).to_have_title(f"Order {external_id} · OrderHub console")
            expect(page.locator("#order-status")).to_have_text("held")
            timeline = page.locator("#timeline > li")
            expect(timeline.first).to_contain_text("Placed by channel")
            # Not necessarily the last entry: the jeopardy clock may flag the held order's
            # promise meanwhile (the demo places some with promises already past).
            expect(timeline.filter(has_text="Held by rule").last).to_be_visible()
            expect(page.locator("#explanation")).to_contain_text("HELD by rule")
            timeline.first.locator("summary").click()
            expect(timeline.first.locator("pre")).to_contain_text(external_id)
            page.screenshot(path=str(tmp_path / "order.png"), full_page=True)

            # Release it, with a note.
            page.get_by_label("Note", exact=True).fill("payment confirmed by phone")
            page.get_by_role("button", name="Release hold").click()
            expect(page.locator(".flash.ok")).to_contain_text("Hold released")
            expect(page.locator("#order-status")).not_to_have_text("held")
            released = page.locator("#timeline > li", has_text="Hold released")
            expect(released).to_contain_text("payment confirmed by phone")
            expect(released).to_contain_text("user:trial")
            page.screenshot(path=str(tmp_path / "released.png"), full_page=True)

            # Back to the queue: one hold fewer, and not this one.
            page.get_by_role("navigation", name="Console").get_by_role(
                "link", name="Exceptions"
            ).click()
            page.locator('.chips a[data-kind="on_hold"]').click()
            page.wait_for_url("**/console/exceptions?kind=on_hold")
            count_after, orders_after = _open_holds(page)
            assert count_after == count - 1
            assert external_id not in orders_after
        finally:
            browser.close()
    assert problems == []
