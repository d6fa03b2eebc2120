"""Pages: the map is the home page."""
from __future__ import annotations

from django.conf import settings
from django.shortcuts import render

from grids.models import Town


def map_page(request):
    """Render the map: layers come from the API; scripts and styles from the app's static files."""
    town = Town.objects.order_by("code").first()
    return render(request, "map.html", {
        "town": town,
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    })
