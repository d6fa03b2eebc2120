"""Spatial reads on grids live here (MapIt style): callers never write raw spatial filters."""
from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.gis.geos import Point
from django.db.models import Func, Value
from django.db.models.functions import Round

from gis_core.db import GeographyDistance, KnnDistance


class GridQuerySet(models.QuerySet):
    def active(self, town=None) -> GridQuerySet:
        """Return grids of the active generation (of one town, or of every town)."""
        qs = self.filter(generation__status="active")
        return qs.filter(generation__town=town) if town is not None else qs

    def covering(self, point: Point) -> GridQuerySet:
        """Return grids whose boundary covers the EPSG:4326 point (an edge or vertex counts)."""
        return self.filter(boundary__covers=point)

    def with_edge_distance(self, point: Point) -> GridQuerySet:
        """Annotate ``edge_distance_m``: geodesic metres from the point to each grid's outline."""
        return self.annotate(
            edge_distance_m=GeographyDistance(Func("boundary", function="ST_Boundary"), _point_value(point))
        )

    def nearest(self, point: Point, shortlist: int = 5) -> GridQuerySet:
        """Return the nearest grids first, with ``distance_m`` (geodesic metres) annotated.

        The KNN operator orders a shortlist through the spatial index; the true distance in
        metres is then computed on that shortlist only and decides the final order; distances
        equal to the centimetre (a shared vertex) are a tie, broken by the smaller code.
        """
        ids = list(
            self.order_by(KnnDistance("boundary", _point_value(point)))
            .values_list("pk", flat=True)[:shortlist]
        )
        return (
            self.model.objects.filter(pk__in=ids)
            .annotate(distance_m=GeographyDistance("boundary", _point_value(point)))
            .order_by(Round("distance_m", 2), "code")
        )


def _point_value(point: Point) -> Value:
    """Wrap an EPSG:4326 GEOS point as a query parameter."""
    return Value(point, output_field=models.PointField(srid=4326))
