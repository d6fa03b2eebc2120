"""Reads on grids that callers share (MapIt style): the active generations' grids."""
from __future__ import annotations

from django.contrib.gis.db import models


class GridQuerySet(models.QuerySet):
    def active(self, town=None) -> GridQuerySet:
        """Return grids of the active generation (of one town, or of every town)."""
        qs = self.filter(generation__status="active")
        return qs.filter(generation__town=town) if town is not None else qs
