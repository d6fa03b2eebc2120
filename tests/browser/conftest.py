"""Browser tests: Playwright from PyPI driving Debian's chromium (no browser download); the pages
are served by the real server, `manage.py serve` (HTTP + WebSocket, Redis channel layer) on the test database."""
from __future__ import annotations

import os
import re
import shutil
import time
from urllib.parse import urlparse

import pytest
from django.db import connection

from tests.servers import app_server

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the same
    # test thread are still synchronous, so allow them explicitly.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """Return the base URL of the platform's server using the test database (tests must be transactional)."""
    with django_db_blocker.unblock(), app_server(tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


@pytest.fixture(autouse=True)
def quiet_server(demo_data, browser):
    """After the test, close its pages and wait until the server has finished with the database, so
    the flush of the transactional test never meets a late request (a deadlock otherwise)."""
    yield
    for context in list(browser.contexts):
        context.close()
    deadline, quiet = time.monotonic() + 10, 0
    while quiet < 3 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND state <> 'idle'")
            quiet = quiet + 1 if cursor.fetchone()[0] == 0 else 0
        time.sleep(0.1)


# Reports every Content Security Policy violation of a page to the test (the policy: gridops/settings/base.py).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolation([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber, e.sample].join(" "));
}, true);
"""


def _as_function(expression: str) -> str:
    """Playwright's wait_for_function runs an expression (not a function) through eval() in the page, which
    the pages' policy refuses ('unsafe-eval' is not allowed): give it a function, which it calls instead."""
    body = expression.strip()
    if body.startswith(("function", "async")) or re.match(r"^(\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>", body):
        return expression
    return f"() => ({body})"


def _patch_wait_for_function() -> None:
    from playwright.sync_api import Page

    original = Page.wait_for_function
    if getattr(original, "as_function", False):
        return

    def wait_for_function(self, expression, *args, **kwargs):
        return original(self, _as_function(expression), *args, **kwargs)

    wait_for_function.as_function = True
    Page.wait_for_function = wait_for_function


@pytest.fixture(autouse=True)
def no_csp_violation(browser):
    """Fail a browser test when any of its pages violated the Content Security Policy: every context the test
    opens reports the page's `securitypolicyviolation` events and console errors naming the policy."""
    _patch_wait_for_function()
    violations: list[str] = []
    original = browser.new_context

    def new_context(*args, **kwargs):
        context = original(*args, **kwargs)
        context.expose_binding("__cspViolation",
                               lambda source, text: violations.append(f"{source['frame'].url}: {text}"))
        context.add_init_script(CSP_LISTENER)
        context.on("page", lambda page: page.on(
            "console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text)))
        return context

    browser.new_context = new_context
    yield violations
    del browser.new_context  # the class's method again
    assert violations == [], "Content Security Policy violated:\n" + "\n".join(violations)


def _watch(page, host: str) -> None:
    page.console_errors = []
    page.foreign_requests = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.on("request", lambda req: urlparse(req.url).hostname not in (host, None)
            and not req.url.startswith(("data:", "blob:")) and page.foreign_requests.append(req.url))


@pytest.fixture
def new_page(browser):
    """Return a factory of fresh pages (own cookies each) that record console errors and foreign requests."""
    contexts = []

    def make(host: str = "127.0.0.1", width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        _watch(page, host)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page, live_server, demo_data):
    """A page for the WSGI live server (pages without live push)."""
    return new_page(urlparse(live_server.url).hostname)


def login(page, base_url: str, username: str, password: str, next_url: str = "/") -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
