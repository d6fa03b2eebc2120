"""Answers are gzipped for clients that accept it (Django's GZipMiddleware, gridops/settings/base.py):
the same JSON, a fraction of the bytes; nothing changes for a client that does not ask."""
from __future__ import annotations

import gzip
import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import TextGZipMiddleware
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def test_a_json_answer_is_gzipped_when_the_client_accepts_it_and_only_then():
    for k in range(30):
        f.report("other", title=f"垃圾堆放 rubbish dumped {k}")
    client = f.api_client("operator")
    plain = client.get("/api/incidents/", {"page_size": 30})
    assert plain.status_code == 200 and "Content-Encoding" not in plain
    packed = client.get("/api/incidents/", {"page_size": 30}, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert packed.status_code == 200 and packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    assert len(packed.content) * 3 < len(plain.content)


def test_a_short_answer_is_sent_as_it_is_and_an_error_stays_a_clear_400():
    client = f.api_client("operator")
    bad = client.get("/api/review/heatmap/", {"cell": 75}, HTTP_ACCEPT_ENCODING="gzip")
    assert bad.status_code == 400 and len(bad.content) < 200  # too short to gain from compression
    assert "Content-Encoding" not in bad and set(bad.json()) == {"cell"}


def test_only_text_is_compressed_photos_and_spreadsheets_go_as_they_are():
    request = RequestFactory().get("/", HTTP_ACCEPT_ENCODING="gzip")
    body = b"x" * 5000
    for content_type, packed in (("application/json", True), ("application/geo+json", True),
                                 ("text/csv; charset=utf-8", True), ("text/html; charset=utf-8", True),
                                 ("image/jpeg", False), ("image/webp", False),
                                 ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", False)):
        response = TextGZipMiddleware(lambda r, t=content_type: HttpResponse(body, content_type=t))(request)
        assert (response.get("Content-Encoding") == "gzip") is packed, content_type
        assert (gzip.decompress(response.content) if packed else response.content) == body


def test_a_large_answer_is_gzipped_fast_with_a_random_length_and_only_for_those_who_ask():
    """Over GZIP_FAST_ABOVE: GZIP_FAST_LEVEL (a city's heatmap), still a gzip any client reads, its length
    varied by a random file name in the header (against BREACH); Vary, Content-Length and a weakened ETag
    as Django sets them; nothing for a client that does not accept gzip."""
    from core.middleware import GZIP_FAST_ABOVE, GZIP_FAST_LEVEL

    body = json.dumps([{"cell": [k % 977, k // 977], "n": k % 13} for k in range(GZIP_FAST_ABOVE // 20)]).encode()
    assert len(body) > GZIP_FAST_ABOVE

    def answer(accept: str):
        def view(request):
            response = HttpResponse(body, content_type="application/json")
            response["ETag"] = '"abc"'
            return response
        return TextGZipMiddleware(view)(RequestFactory().get("/", HTTP_ACCEPT_ENCODING=accept))

    lengths = set()
    for _ in range(20):
        response = answer("gzip, br")
        assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
        assert response["ETag"] == 'W/"abc"' and int(response["Content-Length"]) == len(response.content)
        assert gzip.decompress(response.content) == body and len(response.content) * 4 < len(body)
        assert response.content[3] & 0x08  # FNAME: the random name is there
        name_end = response.content.index(b"\x00", 10)
        # zlib is deterministic: the deflate stream is the fast level's, not Django's level 6
        assert response.content[name_end + 1:] == gzip.compress(body, compresslevel=GZIP_FAST_LEVEL, mtime=0)[10:]
        assert GZIP_FAST_LEVEL < 6
        lengths.add(len(response.content))
    assert len(lengths) > 1
    plain = answer("identity")
    assert plain.content == body and "Content-Encoding" not in plain and "Accept-Encoding" in plain["Vary"]
