"""gis_core.fields.GeometryField: the GeoJSON drf-gis's field writes, from GEOS's coordinates."""
from __future__ import annotations

import json

import pytest
from django.contrib.gis.geos import GEOSGeometry, LineString, MultiPolygon, Point, Polygon
from rest_framework_gis import fields as gis_fields

from gis_core.fields import GeometryField
from grids.models import Grid, Town, Village

RING = ((119.1234567891, 32.5), (119.2, 32.5000000449), (119.2, 32.6), (119.1234567891, 32.5))
HOLE = ((119.15, 32.55), (119.16, 32.55), (119.16, 32.56), (119.15, 32.55))
SHAPES = [
    Point(119.12345675, 32.98765435, srid=4326),  # halves at the 8th decimal
    Point(-0.00000005, 0.0, srid=4326),
    LineString((119.0, 32.0), (119.000000051, 32.000000049), srid=4326),
    Polygon(RING, HOLE, srid=4326),  # a vertex on the edge of the ring's box, a hole
    MultiPolygon(Polygon(RING, srid=4326), Polygon(((120, 33), (120.1, 33), (120.1, 33.1), (120, 33))), srid=4326),
    GEOSGeometry("SRID=4549;POINT(500000.123456789 3600000.987654321)"),  # metres, as stored elsewhere
]


def _both(value, **kwargs):
    ours = GeometryField(**kwargs).to_representation(value)
    theirs = gis_fields.GeometryField(**kwargs).to_representation(value)
    return json.loads(json.dumps(ours)), json.loads(json.dumps(theirs))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda g: g.geom_type)
@pytest.mark.parametrize("precision", [7, 3, 0])
def test_the_same_geojson_as_drf_gis(shape, precision):
    ours, theirs = _both(shape, precision=precision)
    assert ours == theirs
    assert ours["type"] == shape.geom_type


def test_what_it_does_not_write_itself_goes_to_drf_gis():
    assert GeometryField(precision=7).to_representation(None) is None
    empty = Point(srid=4326)
    assert _both(empty, precision=7)[0] == _both(empty, precision=7)[1] == {"type": "Point", "coordinates": []}
    collection = GEOSGeometry("SRID=4326;GEOMETRYCOLLECTION(POINT(119.1 32.1),LINESTRING(119 32,119.2 32.3))")
    assert _both(collection, precision=7)[0] == _both(collection, precision=7)[1]
    z = GEOSGeometry("SRID=4326;POINT Z (119.12345678 32.1 5.5)")
    assert _both(z, precision=7)[0] == _both(z, precision=7)[1]
    assert _both(SHAPES[3])[0] == _both(SHAPES[3])[1]  # no precision


@pytest.mark.django_db
def test_gongdaos_outlines_are_written_as_drf_gis_writes_them():
    outlines = [*Town.objects.values_list("boundary", flat=True), *Village.objects.values_list("boundary", flat=True),
                *Grid.objects.values_list("boundary", flat=True)[:60]]
    assert len(outlines) > 60
    for outline in outlines:
        ours, theirs = _both(outline, precision=7)
        assert ours == theirs
