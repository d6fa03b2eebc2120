"""The Content Security Policy in the browser: the pages run under it (the autouse fixture no_csp_violation
fails any browser test whose page violates it), and that watcher does see a violation."""
from __future__ import annotations

from grids.models import Grid
from tests.browser.conftest import login


def test_the_watcher_sees_an_inline_style_and_an_inline_script(page, live_server, no_csp_violation):
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate("""() => {
      document.body.insertAdjacentHTML("beforeend", '<b style="color: red">inline style</b>');
      const s = document.createElement("script"); s.textContent = "window.ran = 1"; document.body.append(s);
    }""")
    page.wait_for_function("() => true")
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None  # the inline script did not run
    seen = " ".join(no_csp_violation)
    assert "style-src" in seen and "script-src" in seen
    no_csp_violation.clear()  # expected here: the test passes


def test_response_headers_of_a_page(page, live_server):
    response = page.goto(f"{live_server.url}/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy


def test_admin_map_widget_starts_without_an_inline_script(page, live_server):
    """Django's map widget template starts the map in an inline script; ours from a JSON block."""
    grid = Grid.objects.active().order_by("code").first()
    login(page, live_server.url, "admin", "gongdao-admin", f"/admin/grids/grid/{grid.pk}/change/")
    page.wait_for_selector(".dj_map .ol-viewport canvas", timeout=30_000)
    assert page.evaluate("typeof window.geodjango_boundary") == "object"
    assert [e for e in page.console_errors if "404" not in e] == []  # the admin has no favicon
