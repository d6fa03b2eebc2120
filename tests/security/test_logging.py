"""Issue 11: Open311's api_key (and any mistaken ?token=) never reaches a log line."""
from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from core.logging import ScrubSecrets, install, scrub

pytestmark = pytest.mark.django_db
KEY = "8f2a9c0d7e6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"


def test_scrub_replaces_secret_parameters_and_keeps_the_rest():
    line = f'127.0.0.1:5000 - "GET /open311/v2/requests.json?api_key={KEY}&status=open HTTP/1.1" 200'
    assert scrub(line) == ('127.0.0.1:5000 - "GET /open311/v2/requests.json?api_key=[scrubbed]&status=open '
                           'HTTP/1.1" 200')
    assert KEY not in scrub(f"/api/x/?Token={KEY}") and KEY not in scrub(f"?auth_token={KEY}")
    assert KEY not in scrub(f"api_key%3D{KEY}")
    assert scrub("csrftoken=abc; sessionid=1") == "csrftoken=abc; sessionid=1"  # other names untouched


def test_the_access_loggers_are_filtered(caplog):
    install()
    for name in ("uvicorn.access", "django.server", "django.request"):
        assert any(isinstance(f, ScrubSecrets) for f in logging.getLogger(name).filters), name
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/open311/v2/requests.json?api_key={KEY}",
                    "1.1", 200)
    assert caplog.records and KEY not in caplog.text and "api_key=[scrubbed]" in caplog.text
    # the arguments stay arguments: uvicorn's access formatter unpacks all five
    from uvicorn.logging import AccessFormatter

    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(
        caplog.records[-1])
    assert line == '127.0.0.1:1 GET /open311/v2/requests.json?api_key=[scrubbed] HTTP/1.1 200 OK'


def test_the_console_handler_filters_every_logger():
    from gridops.settings import base

    handler = base.LOGGING["handlers"]["console"]
    assert "scrub_secrets" in handler.get("filters", [])


def test_a_request_with_an_api_key_leaves_no_key_in_the_logs(caplog):
    with caplog.at_level(logging.DEBUG):
        response = APIClient().get("/open311/v2/requests.json", {"api_key": KEY})
    assert response.status_code == 403
    assert KEY not in caplog.text
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden: %s",
                               (f"/open311/v2/requests.json?api_key={KEY}",), None)
    assert ScrubSecrets().filter(record) and KEY not in record.getMessage()
