"""The admin in a real headless Chromium (Debian's package, driven by Playwright).

Log in, open a session with a failed instance, replay it from the confirmation page, see the
clone finish; the screenshot lands in ``test-output/admin-replay.png``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.helpers import new_uid
from triggers import TriggerManager
from triggers.models import TriggerSession
from triggers.registry import flush_pending_counts

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
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


@pytest.mark.django_db(transaction=True)
def test_replay_a_failed_instance_from_the_admin(live_server, settings, django_user_model):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    # Playwright's sync API runs an event loop in this thread; our ORM calls here are sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    settings.TRIGGERS = {**settings.TRIGGERS, "DEFAULT_RUNNER": "sync"}
    django_user_model.objects.create_superuser("admin", "admin@example.org", "correct horse")
    uid = new_uid("browser")
    manager = TriggerManager.for_session(uid)
    manager.update_configuration(
        {
            "load": {"after": ["start"], "run": "tests.support.tasks.fail_unless_ok"},
            "report": {"after": ["load"], "run": "tests.support.tasks.echo"},
        }
    )
    manager.fire("start", {"ok": False})
    assert manager.storage["load#0"].status == "failed"
    flush_pending_counts()
    assert TriggerSession.objects.get(uid=uid).n_failed == 1

    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS, chromium_sandbox=False
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "correct horse")
            page.click("input[type=submit]")
            page.goto(f"{live_server.url}/admin/triggers/triggersession/")
            page.click(f"text={uid}")
            assert page.get_attribute('[data-instance="load#0"]', "data-status") == "failed"
            assert page.locator("svg.triggers-graph").count() == 1

            page.click("#action-replay")
            # the click navigates: wait for the confirmation page rather than read a half-loaded one
            page.wait_for_selector("#confirm-form")
            assert "Please confirm" in page.inner_text("#content-main")
            page.fill("textarea[name=kwargs]", '{"start": {"ok": true}}')
            page.click("#confirm")
            page.wait_for_selector('[data-instance="load#1"][data-status="finished"]')
            assert page.get_attribute('[data-instance="load#0"]', "data-status") == "replayed"
            assert page.get_attribute('[data-instance="report#0"]', "data-status") == "finished"
            page.screenshot(path=str(OUTPUT / "admin-replay.png"), full_page=True)
        finally:
            browser.close()
    assert manager.storage["load#1"].result == {"ok": True}
    assert (OUTPUT / "admin-replay.png").stat().st_size > 10_000
