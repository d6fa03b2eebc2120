"""Database functions named after the PostGIS operators they wrap (Django-side helpers)."""
from __future__ import annotations

from django.db.models import FloatField, Func


class KnnDistance(Func):
    """Return the index-assisted planar distance ``a <-> b`` (in SRID units: degrees for 4326).

    Use it only to order a shortlist (``ORDER BY boundary <-> point LIMIT k``); compute the
    true distance in metres with :class:`GeographyDistance` on that shortlist.
    """

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


class GeographyDistance(Func):
    """Return the geodesic distance in metres between two EPSG:4326 geometries (on the spheroid)."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        (sql_a, params_a), (sql_b, params_b) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        return f"ST_Distance(({sql_a})::geography, ({sql_b})::geography)", [*params_a, *params_b]
