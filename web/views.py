"""Pages: the home page sends each user to the map that fits their job."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.gis.db.models import Extent
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from grids.models import Town
from incidents import assessment_files, rules
from incidents.analytics import assessment
from web.pages import home_for


def page_context() -> dict:
    """Return what every page's shell shows: the town, the first view's centre and the bounds of all towns,
    the base tile layer."""
    town = Town.objects.order_by("code").first()
    centre = town.boundary.point_on_surface if town is not None else None
    extent = Town.objects.aggregate(extent=Extent("boundary"))["extent"]  # every town's (a city's)
    return {
        "town": town,
        "town_center": f"{centre.y:.6f},{centre.x:.6f}" if centre is not None else "",
        "towns_bounds": ",".join(f"{v:.6f}" for v in extent) if extent else "",
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    }


def home(request):
    """Send a logged-in user to their page, anyone else to the login."""
    if not request.user.is_authenticated:
        return redirect(f"{settings.LOGIN_URL}?next=/")
    return redirect(home_for(request.user))


def map_page(request):
    """Render the boundaries map: layers come from the API; scripts and styles from local static files."""
    return render(request, "web/map.html", page_context())


@login_required
def command_page(request):
    """Render the command centre (full screen, the command hall's main screen)."""
    return render(request, "web/command.html", page_context())


@login_required
def my_page(request):
    """Render the grid team's workspace (phone-sized first)."""
    return render(request, "web/my.html", page_context())


# The phone page's files, kept by its service worker at install (web/templates/web/sw.js): the page works
# offline with them. tests/browser/test_offline.py checks every file the page loads is here.
PHONE_STATIC = [
    "web/helpers.js", "web/store.js", "web/socket.js", "web/symbols.js", "web/layers.js", "web/markers.js",
    "web/feed.js", "web/panel.js", "web/actions.js", "web/photos.js", "web/bell.js", "web/phonedb.js",
    "web/offline.js", "web/my.js", "web/patrol.js", "web/command.css", "web/map.css", "web/fonts.css",
    "vendor/leaflet/leaflet.css", "vendor/leaflet/leaflet.js", "vendor/markercluster/MarkerCluster.css",
    "vendor/markercluster/leaflet.markercluster.js", "vendor/noto-sans-sc/400.css", "vendor/noto-sans-sc/700.css",
    "web/icons/phone-192.png", "web/icons/phone-512.png",
]
WORKBOX_MODULES = ["workbox-core", "workbox-routing", "workbox-strategies", "workbox-expiration"]
PHONE_API_CACHE = {"entries": 400, "max_age_s": 7 * 86400}  # a week of the answers the phone last read


@login_required
def phone_worker(request):
    """The phone page's service worker (web/offline.js registers it), its files named as static storage names
    them (hashed in production: a new release installs a new worker)."""
    shell = [reverse("my"), *[static(name) for name in PHONE_STATIC]]
    modules = {m: static(f"vendor/workbox/{m}.prod.js") for m in WORKBOX_MODULES}
    body = render_to_string("web/sw.js", {
        "scope": reverse("my"), "shell": json.dumps(shell), "modules": json.dumps(modules),
        "version": hashlib.sha256("\n".join(shell).encode()).hexdigest()[:12],
        "static_prefix": settings.STATIC_URL, "api_entries": PHONE_API_CACHE["entries"],
        "api_max_age": PHONE_API_CACHE["max_age_s"]}, request=request)
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # the browser asks again at each visit: releases reach phones
    return response


@login_required
def phone_manifest(request):
    """The phone page as an installable web app."""
    town = page_context()["town"]
    return JsonResponse({
        "name": f"我的网格 My grid{' · ' + town.name if town else ''}", "short_name": "我的网格",
        "start_url": reverse("my"), "scope": reverse("my"), "display": "standalone", "lang": "zh-Hans",
        "background_color": "#ffffff", "theme_color": "#17324d",
        "icons": [{"src": static(f"web/icons/phone-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png"}
                  for n in (192, 512)],
    }, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})


@login_required
def review_page(request):
    """Render the leaders' review (研判): heatmap, hotspots, trend and assessment of the visible incidents."""
    return render(request, "web/review.html", page_context())


REPORT_MAX_ROWS = 300  # a section longer than this is left to the Excel file (a city's 5,000 grids)
REPORT_SECTIONS = [("town", "按镇街 by town"), ("village", "按村居 by village"), ("category", "按类别 by category"),
                   ("grid", "按网格 by grid"), ("person", "按人员 by person")]


def _report_month(value: str | None) -> tuple[datetime, datetime] | None:
    """Return the local month [start, end) of ``YYYY-MM`` (default: last month), None when malformed."""
    if not value:
        return rules.month_bounds(rules.month_bounds()[0] - timedelta(days=1))
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if match is None or not (2000 <= int(match[1]) <= 2100 and 1 <= int(match[2]) <= 12):
        return None
    return rules.month_bounds(timezone.make_aware(datetime(int(match[1]), int(match[2]), 15)))


@login_required
def report_page(request):
    """Render the monthly assessment report (月度考核报告) of the incidents the user may see, for print
    on A4: the standard's key figures, then a table per town, village, category, grid and person."""
    bounds = _report_month(request.GET.get("month"))
    if bounds is None:
        return render(request, "web/report.html", {**page_context(), "error": "month: YYYY-MM, e.g. 2026-11"},
                      status=400)
    start, end = bounds
    actor, now = Actor.of(request.user), timezone.now()
    sections, totals = [], None
    for group, label in REPORT_SECTIONS:
        result = assessment(actor=actor, group=group, start=start, end=end, now=now)
        totals = totals or result.totals
        if group == "town" and len([r for r in result.rows if r.code is not None]) < 2:
            continue  # one town: its figures are the key figures
        table = assessment_files.report_table(result)
        sections.append({"group": group, "label": label, "too_long": len(table["rows"]) > REPORT_MAX_ROWS,
                         "count": len(table["rows"]), **table})
    key = [(r.label, assessment_files.rate_text(totals.rates[r.name]), r.numerator, r.denominator,
            totals.counts[r.numerator], totals.counts[r.denominator]) for r in rules.STANDARD_RATES]
    local = timezone.localtime(start)
    return render(request, "web/report.html", {
        **page_context(), "start": start, "end": end, "now": now, "running": end > now, "key": key,
        "totals": totals, "sections": sections, "month": f"{local:%Y-%m}",
        "month_label": f"{local.year}年{local.month}月",
        "previous": f"{timezone.localtime(start - timedelta(days=1)):%Y-%m}",
        "following": f"{timezone.localtime(end):%Y-%m}", "max_rows": REPORT_MAX_ROWS,
        "export": urlencode({"start": start.isoformat(), "end": end.isoformat()}),
    })
