"""Pages: the home page sends each user to the map that fits their job."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.gis.db.models import Extent
from django.shortcuts import redirect, render

from grids.models import Town
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


@login_required
def review_page(request):
    """Render the leaders' review (研判): heatmap, hotspots, trend and assessment of the visible incidents."""
    return render(request, "web/review.html", page_context())
