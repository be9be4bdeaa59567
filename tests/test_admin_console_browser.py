"""The admin as an operator console, in a real headless Chromium (Debian's package, Playwright).

A session whose results are 1 MB each with a failed instance: the page stays short and narrow,
the traceback is one click away from the list; a live page sees a worker finish an instance;
dark mode and 420 px screenshots land in ``test-output/`` (and in ``docs/img/`` with
``UPDATE_DOCS_SCREENSHOTS=1``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.helpers import new_uid
from tests.support.rq_helpers import reset_queues, run_burst_workers
from triggers import TriggerManager
from triggers.models import TriggerSession
from triggers.registry import flush_pending_counts

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
DOCS_IMG = ROOT / "docs" / "img"
DOCS_SHOTS = {"admin-session.png", "admin-instance.png"}  # and admin-graph.png (docs/admin.md)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (make test installs it where it may use apt-get)",
)

BIG_CONFIG = {
    "inventory": {"after": [], "andEvery": "start", "run": "tests.support.tasks.big_result"},
    "packages_with_a_really_long_descriptive_name": {
        "after": [],
        "andEvery": "inventory",
        "run": "tests.support.tasks.big_result",
    },
    "licences": {
        "after": [],
        "andEvery": "inventory",
        "run": "tests.support.tasks.fail_with_big_kwargs",
    },
    "report": {"after": ["licences"], "run": "tests.support.tasks.echo", "unless": ["cancel"]},
}


@pytest.fixture
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS, chromium_sandbox=False
        )
        try:
            yield chromium
        finally:
            chromium.close()


def log_in(browser, live_server, django_user_model, **context):
    django_user_model.objects.create_superuser("admin", "admin@example.org", "correct horse")
    page = browser.new_page(**context)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "correct horse")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


def shoot(page, name: str, full_page: bool = True) -> Path:
    path = OUTPUT / name
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") and name in DOCS_SHOTS:
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copy(path, DOCS_IMG / name)
    return path


def page_size(page) -> dict:
    return page.evaluate(
        "() => ({height: document.documentElement.scrollHeight,"
        " scrollWidth: document.documentElement.scrollWidth,"
        " clientWidth: document.documentElement.clientWidth})"
    )


@pytest.mark.django_db(transaction=True)
def test_big_payloads_stay_readable_and_the_traceback_is_one_click_away(
    live_server, settings, django_user_model, browser
):
    settings.TRIGGERS = {**settings.TRIGGERS, "DEFAULT_RUNNER": "sync"}
    uid = new_uid("console")
    manager = TriggerManager.for_session(uid)
    manager.update_configuration(BIG_CONFIG)
    for n in range(3):  # three firings: three 1 MB inventories, packages, and failed licences
        manager.fire("start", {"n": n})
    failed = [inst.name for inst in manager.storage if inst.status == "failed"]
    assert failed == ["licences#0", "licences#1", "licences#2"]
    manager.replay_failed_instance("licences#0")
    flush_pending_counts()
    session = TriggerSession.objects.get(uid=uid)

    page = log_in(browser, live_server, django_user_model, viewport={"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/triggers/triggersession/?q={uid}")
    page.click(f'a.tg-first-failure[data-session="{session.pk}"]')  # one click from the list
    page.wait_for_selector("#traceback")
    assert "RuntimeError" in page.inner_text("#error")
    assert "Traceback (most recent call last)" in page.inner_text("#traceback")
    assert "fail_with_big_kwargs" in page.inner_text("#traceback")
    shoot(page, "admin-instance.png")

    page.goto(f"{live_server.url}/admin/triggers/triggersession/{session.pk}/change/")
    size = page_size(page)
    assert size["height"] < 3000, size
    assert size["scrollWidth"] <= size["clientWidth"], size
    rows = page.locator("tr[data-instance]")
    assert rows.first.get_attribute("data-status") == "failed"  # failed first
    node = page.locator('g.node[data-node="licences"]')
    counts = node.locator(".tg-counts").text_content()
    assert counts == "3 failed · 1 replayed", counts  # the replay failed too; never mixed
    assert page.locator("path.tg-edge-unless").count() == 1
    assert page.locator(".tg-legend").count() == 1
    long_name = page.locator('g.node[data-node="packages_with_a_really_long_descriptive_name"]')
    assert (
        "packages_with_a_really_long_descriptive_name" in long_name.locator("title").text_content()
    )
    shoot(page, "admin-session.png")
    page.locator(".tg-graph-wrap").screenshot(path=str(OUTPUT / "admin-graph.png"))
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        shutil.copy(OUTPUT / "admin-graph.png", DOCS_IMG / "admin-graph.png")

    page.emulate_media(color_scheme="dark")
    page.reload()
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('.tg-graph-wrap')).backgroundColor"
    )
    assert background != "rgb(255, 255, 255)", background
    shoot(page, "admin-session-dark.png")

    narrow = browser.new_page(viewport={"width": 420, "height": 900})
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"{live_server.url}/admin/triggers/triggersession/{session.pk}/change/")
    size = page_size(narrow)
    assert size["scrollWidth"] <= size["clientWidth"] + 1, size
    shoot(narrow, "admin-session-420.png")


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_a_worker_finishing_an_instance_without_a_reload(
    live_server, settings, django_user_model, browser
):
    settings.TRIGGERS = {**settings.TRIGGERS, "DEFAULT_RUNNER": "rq"}
    reset_queues()
    uid = new_uid("live")
    manager = TriggerManager.for_session(uid)
    manager.update_configuration({"load": {"after": ["start"], "run": "tests.support.tasks.echo"}})
    manager.fire("start", {"day": "2026-11-29"})
    assert manager.storage["load#0"].status == "scheduled"
    session = TriggerSession.objects.get(uid=uid)

    page = log_in(browser, live_server, django_user_model, viewport={"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/triggers/triggersession/{session.pk}/change/")
    row = '[data-instance="load#0"]'
    assert page.get_attribute(row, "data-status") == "scheduled"
    assert (
        "no worker" in page.inner_text("#queues-panel").lower()
        or page.locator("#queues-panel .tg-no-worker").count()
    )
    run_burst_workers(1)
    assert manager.storage["load#0"].status == "finished"
    page.wait_for_selector(f'{row}[data-status="finished"]', timeout=10_000)
    assert page.inner_text(f'{row} [data-role="status"]') == "finished"
    assert page.locator('g.node.tg-finished[data-node="load"]').count() == 1
    page.wait_for_function(
        "() => document.getElementById('live-state').textContent.includes('resolved')",
        timeout=10_000,
    )
