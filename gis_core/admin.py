"""Admin map widgets served from the app's own static files (no CDN, no outside tiles)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.gis import admin
from django.contrib.gis.forms.widgets import OpenLayersWidget


class LocalOpenLayersWidget(OpenLayersWidget):
    """OpenLayers from /static/vendor/ol; a base tile layer only when MAP_TILE_URL is set."""

    template_name = "gis_core/openlayers_local.html"

    class Media:
        extend = False  # drop the parent's CDN links
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/dist/ol.js", "gis/js/OLMapWidget.js", "gis_core/map_widget.js")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        # no inline script (Content Security Policy): the options as JSON, started by gis_core/map_widget.js
        context["options_id"] = f"{context['id']}_options"
        context["widget_options"] = {
            "geom_name": context["geom_type"], "id": context["id"], "map_id": f"{context['id']}_map",
            "map_srid": context["map_srid"], "name": context["name"], "module": context["module"],
            "tile_url": settings.MAP_TILE_URL,
        }
        return context


class LocalGISModelAdmin(admin.GISModelAdmin):
    gis_widget = LocalOpenLayersWidget
