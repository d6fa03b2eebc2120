"""Components placed directly (the import is tested on its own, tests/components/test_import.py)."""
from __future__ import annotations

from django.contrib.gis.geos import Point

from components.models import Component
from components.services import component_types_load, place
from grids import locator


def component(code: str, lon: float, lat: float, **fields) -> Component:
    """Create a component of type 0101 (上水井盖) at an EPSG:4326 point, filed under its grid."""
    component_types_load()
    c = Component(code=code, type_id=code[6:10], location=Point(lon, lat, srid=4326), **fields)
    place(c, locator.grids_at([lon], [lat])[0])
    c.save()
    return c
