"""The town leader's review page in a real browser: it is their home, the heatmap, hotspots, trend and
assessment come from the server, the filters reload them, and nothing is loaded from outside."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from grids.models import Grid
from tests.browser.conftest import login
from tests.components.factories import component
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10_000
SCREENSHOTS = os.environ.get("GRIDOPS_SCREENSHOT_DIR")


def test_town_leader_reviews_hotspots_trend_and_assessment(demo_data, asgi_server, new_page):
    home = f.grid()
    at = f.interior_point(home)
    cover = component("3210030101000001", *at)
    for _ in range(4):  # a recurring place, and a recurring component: one hotspot of each
        f.report("straw_burning", at=at, component=cover)
    other = Grid.objects.active().filter(kind="comprehensive").exclude(pk=home.pk).order_by("code").last()
    f.report("other", at=f.interior_point(other))

    page = new_page(width=1600, height=900)
    login(page, asgi_server, "leader", "gongdao-leader", next_url="/")
    page.wait_for_url("**/review/", timeout=TIMEOUT)
    page.wait_for_selector("body[data-review=ready]", timeout=TIMEOUT)
    assert page.locator("#map[data-loaded=true]").count() == 1

    # The heatmap is drawn from the server's cells; the recurring place is the first hotspot.
    assert page.evaluate("window.gridops.cells.length") == 2
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    hotspots = page.locator("#hotspots li[data-hotspot]")
    assert hotspots.count() == 1
    assert hotspots.first.inner_text().startswith("4 件") and "秸秆禁烧 4" in hotspots.first.inner_text()
    assert page.locator(".hot-label").count() == 1
    parts = page.locator("#component-hotspots li[data-component]")
    assert parts.count() == 1 and parts.first.inner_text().startswith("4 件 · 上水井盖 3210030101000001")

    # The heatmap is the view's: panned far away (no incident there), the page asks again for that view.
    asked = page.evaluate("window.gridops.heatView.serial")
    page.evaluate("window.gridops.map.panBy([4000, 0], {animate: false})")
    page.wait_for_function(f"window.gridops.heatView.serial > {asked} && window.gridops.cells.length === 0",
                           timeout=TIMEOUT)
    page.evaluate("window.gridops.map.panBy([-4000, 0], {animate: false})")
    page.wait_for_function("window.gridops.cells.length === 2", timeout=TIMEOUT)

    # The trend: one bar per day of the 30 days (31 buckets, both ends partial), 5 reported in all.
    assert page.locator("#trend rect.bar").count() == 31
    assert page.evaluate("window.gridops.trend.reduce((n, b) => n + b.reported, 0)") == 5
    # The assessment by village: a row per village with incidents, and the total.
    assert page.locator("#assessment tfoot td").first.inner_text() == "合计 total"
    assert page.evaluate("window.gridops.assessment.totals.received") == 5

    # A filter reloads everything: only 'other' now, no hotspot left.
    loads = page.evaluate("window.gridops.loads")
    page.select_option("select[name=category]", "other")
    page.wait_for_function(f"window.gridops.loads > {loads} && document.body.dataset.review === 'ready'",
                           timeout=TIMEOUT)
    assert page.evaluate("window.gridops.cells.length") == 1
    assert page.locator("#hotspots li[data-hotspot]").count() == 0
    assert page.locator("#component-hotspots li[data-component]").count() == 0
    # By week over a year.
    page.select_option("select[name=category]", "")
    page.select_option("select[name=period]", "365")
    page.wait_for_function("document.body.dataset.review === 'ready' && window.gridops.trend.length >= 52",
                           timeout=TIMEOUT)
    assert page.locator("#trend-bucket").inner_text() == "按周 by week"
    # a page at a time (a row here; a city's thousands 200 at a time), the total of all in the footer
    page.evaluate("window.gridops.assess.limit = 1")
    page.select_option("select[name=group]", "grid")
    page.wait_for_function("document.body.dataset.review === 'ready' && window.gridops.assessment.group === 'grid'",
                           timeout=TIMEOUT)
    whole = page.evaluate("window.gridops.assessment")
    assert whole["count"] >= 2 and len(whole["rows"]) == 1 and whole["offset"] == 0
    assert page.locator("#assessment .rv-pager span").inner_text() == f"1–1 / {whole['count']}"
    page.click("#assessment button[data-page='1']")
    page.wait_for_function("window.gridops.assessment.offset === 1", timeout=TIMEOUT)
    assert page.evaluate("window.gridops.assessment.totals") == whole["totals"]
    assert page.evaluate("window.gridops.assessment.rows[0].code") != whole["rows"][0]["code"]
    page.click("#assessment button[data-page='-1']")
    page.wait_for_function("window.gridops.assessment.offset === 0", timeout=TIMEOUT)
    page.evaluate("window.gridops.assess.limit = 200")

    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "review.png"))
    assert page.console_errors == []
    assert page.foreign_requests == []


def test_the_assessment_downloads_and_the_monthly_report_prints_on_a4(demo_data, asgi_server, new_page):
    for _ in range(3):
        f.report("straw_burning", at=f.interior_point(f.grid()))
    page = new_page(width=1600, height=900)
    login(page, asgi_server, "leader", "gongdao-leader", next_url="/review/")
    page.wait_for_selector("body[data-review=ready]", timeout=TIMEOUT)
    # the table shows the standard's rates; the Excel link carries the table's query
    header = page.locator("#assessment thead").inner_text()
    assert "立案率" in header and "满意率" in header and "准确派遣率" in header
    # a header ranks by its column, the most first, then the other way; the files follow the ranking
    page.click("#assessment th[data-order=accepted]")
    page.wait_for_function("window.gridops.assessment.order === '-accepted' && "
                           "document.getElementById('assessment').dataset.state === 'ready'", timeout=TIMEOUT)
    assert "order=-accepted" in page.get_attribute("#export-xlsx", "href")
    counts = page.evaluate("window.gridops.assessment.rows.map(r => r.accepted)")
    assert counts == sorted(counts, reverse=True) and counts[0] == 3
    page.click("#assessment th[data-order=accepted]")
    page.wait_for_function("window.gridops.assessment.order === 'accepted'", timeout=TIMEOUT)
    page.select_option("select[name=group]", "category")
    page.wait_for_function("document.body.dataset.review === 'ready' && "
                           "document.getElementById('export-xlsx').href.includes('group=category')", timeout=TIMEOUT)
    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename.startswith("assessment-category-")
    workbook = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = list(workbook.active.iter_rows(min_row=4, values_only=True))
    assert rows[0][0] == "straw_burning" and rows[0][2] == 3 and rows[-1][1] == "合计 total"

    page.click("#report-link")
    page.wait_for_selector(".rp-key", timeout=TIMEOUT)
    assert page.locator("[data-rate=立案率] strong").inner_text() == "100.0%"
    assert page.locator("section[data-group=category] tbody tr").count() == 1
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    sizes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert sizes and all(abs(float(w) - 841.9) < 1 and abs(float(h) - 595.3) < 1 for w, h in sizes)  # A4 across
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "report.png"), full_page=True)
    assert page.console_errors == [] and page.foreign_requests == []
