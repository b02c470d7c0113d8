"""No page loads anything from another host (SPEC §11: no network at run time).

Each page is opened in a real browser, which records every request it makes — those
a script makes after loading included (Redoc's sidebar logo was one) — and waits until
the network is quiet. Every request must go to the server under test."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from tests.e2e.conftest import RESULTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = [
    "/api/v2/redoc/",
    "/api/v2/docs/",
    "/accounts/login/",
    "/dashboard/",
    "/admin/",
]
SIGNED_IN = ("/dashboard/", "/admin/")


@pytest.fixture
def staff(transactional_db):
    User.objects.create_superuser("ops", "ops@x.test", "offline-pw-0123456789")


@pytest.mark.parametrize("path", PAGES)
def test_a_page_loads_nothing_from_another_host(staff, chromium_browser, live_server,
                                                 path):  # fmt: skip
    host = urlsplit(live_server.url).netloc
    context = chromium_browser.new_context()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    if path in SIGNED_IN:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", "offline-pw-0123456789")
        page.click("input[type=submit]")
    response = page.goto(f"{live_server.url}{path}", wait_until="networkidle")
    assert response.status == 200, path
    page.wait_for_timeout(500)  # what scripts ask for once they have run
    elsewhere = [
        url for url in requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and urlsplit(url).netloc != host
    ]  # fmt: skip
    assert elsewhere == [], path
    assert any(urlsplit(url).path == path for url in requested)
    if path == "/api/v2/redoc/":  # it still renders, under its Content-Security-Policy
        page.wait_for_selector("h1", timeout=15_000)
        RESULTS.mkdir(exist_ok=True)
        page.screenshot(path=str(RESULTS / "redoc.png"))
        assert "Conductor" in page.locator("h1").first.inner_text()
    context.close()
