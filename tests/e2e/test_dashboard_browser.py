"""The dashboard in a real browser (Debian's Chromium through Playwright).

An anonymous visit lands on the login page; after logging in through the form, the
overview shows the real counts of the jobs in the database. Screenshots (desktop, phone,
dark theme) go to ``test-results/`` for a human to look at.
"""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from conductor import states
from conductor.models import Job
from conductor.services import job_type_ensure
from conductor.states import ACTIVE, FINAL, JobState
from tests.e2e.conftest import RESULTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USERNAME = "ops-admin"
PASSWORD = "dash-pw-0123456789"

# Distinct numbers per state, so a count shown in the wrong row cannot pass.
JOBS_PER_STATE = {
    JobState.PENDING: 3,  # waiting for a worker
    JobState.RUNNING: 1,  # claimed
    JobState.SUCCEEDED: 5,  # finished well
    JobState.FAILED: 2,  # finished badly
    JobState.DEAD: 4,  # out of retries
    JobState.WAITING: 0,  # none: the row must still show 0
    JobState.PARKED: 0,
    JobState.CANCELLED: 0,
}
TOTAL = sum(JOBS_PER_STATE.values())


@pytest.fixture
def seeded(transactional_db):
    User.objects.create_superuser(USERNAME, "ops@x.test", PASSWORD)
    job_type = job_type_ensure(name="demo.noop")
    now = timezone.now()
    Job.objects.bulk_create(
        Job(job_type=job_type, state=state, run_at=now, payload={"n": i})
        for state, count in JOBS_PER_STATE.items()
        for i in range(count)
    )
    assert Job.objects.count() == TOTAL


def _kpi(page, label: str) -> str:
    return (
        page.locator(".kpi", has=page.locator(".label", has_text=label))
        .locator(".value")
        .inner_text()
    )


def test_dashboard_login_and_real_counts(seeded, chromium_browser, live_server):
    RESULTS.mkdir(exist_ok=True)
    base = live_server.url
    context = chromium_browser.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme="light"
    )
    page = context.new_page()
    try:
        # Anonymous: sent to the login page, with the way back.
        page.goto(f"{base}/dashboard/")
        assert page.url == f"{base}/accounts/login/?next=/dashboard/"
        assert page.locator("h1").inner_text() == "Log in to Conductor"

        # A wrong password keeps us out and says so.
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", "not-the-password")
        page.click(".login button[type=submit]")
        expect(page.locator("[role=alert]")).to_contain_text("didn't match")
        assert page.url.startswith(f"{base}/accounts/login/")

        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click(".login button[type=submit]")
        page.wait_for_url(f"{base}/dashboard/")
        assert page.locator("h1").inner_text() == "Overview"
        assert USERNAME in page.locator(".who").inner_text()

        # The numbers are the database's.
        assert page.locator("[data-testid=jobs-total]").inner_text().strip() == str(
            TOTAL
        )
        shown = {
            state: page.locator(f"td[data-state={state}]").inner_text().strip()
            for state in states.VALUES
        }
        assert shown == {state: str(n) for state, n in JOBS_PER_STATE.items()}
        active = sum(n for s, n in JOBS_PER_STATE.items() if s in ACTIVE)
        finished = sum(n for s, n in JOBS_PER_STATE.items() if s in FINAL)
        assert _kpi(page, "Active").strip() == str(active)
        assert _kpi(page, "Finished").strip() == str(finished)
        # Recent jobs: one row per job (all fit in the first 15).
        recent = page.locator("section[aria-labelledby=recent] tbody tr")
        assert recent.count() == min(TOTAL, 15)

        # The stylesheet loaded: the page is styled, not raw HTML.
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor")
            == "rgb(246, 247, 249)"
        )
        page.screenshot(path=str(RESULTS / "dashboard-overview.png"), full_page=True)

        # Phone: nothing wider than the screen (tables scroll inside their box).
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(200)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(
            path=str(RESULTS / "dashboard-overview-phone.png"), full_page=True
        )
        assert width <= 390, f"page is {width}px wide on a 390px phone"

        # Dark theme: the toggle switches it, and it sticks across a reload.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.click("#theme-toggle")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor")
            == "rgb(18, 21, 26)"
        )
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        page.screenshot(
            path=str(RESULTS / "dashboard-overview-dark.png"), full_page=True
        )
    finally:
        context.close()
