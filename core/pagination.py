"""Keyset pagination for the API's lists, once, for every list that grows without bound.

A page is asked for by the key of the last row of the previous page (``before=<id>``: the rows with
a smaller id, newest first), never by an OFFSET: the database reads one page of the primary key's
index whatever the depth, and a row that leaves the list while later pages are read does not shift
the rest (one would be skipped with page numbers). A keyset page carries no ``count`` (counting a
million rows is the cost the keyset avoids): ``next`` is null on the last page.

Pages by number (``page``) stay for small lists and clients that show "page 3 of 12"; they count at most
``COUNT_CAP`` rows (``count_exact`` false past it, and no page past the cap), since counting every
incident of a city (10M rows) takes seconds whatever the index.
"""
from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.schema import GeoJsonPagination

KEYSET_PARAM = "before"
KEYSET_START = 2**63 - 1  # ``before`` on a first page: every id is smaller
COUNT_CAP = 10_000  # the rows a numbered list counts (and pages through) at most; past them, ``before``


def keyset_value(request, param: str = KEYSET_PARAM) -> int | None:
    """Return the keyset key of the request (None: not a keyset request); bad values are a 400."""
    raw = request.query_params.get(param)
    if raw is None:
        return None
    if not (raw.isdigit() and 0 < int(raw) <= KEYSET_START):
        raise exceptions.ValidationError({param: [f"a whole number from 1 to {KEYSET_START}"]})
    return int(raw)


class CountedPaginator(Paginator):
    """Django's paginator counting ``count_from`` when given: the rows a page shows before their
    ``values()`` of related fields, whose joins a count would otherwise carry (at 1M incidents the
    list's count took four times as long with them); and counting no further than ``COUNT_CAP`` rows
    (``capped`` says there are more), so a list's first page costs the same at 10M rows as at 10k."""

    count_from = None
    capped = False

    @cached_property
    def count(self) -> int:
        rows = self.object_list if self.count_from is None else self.count_from
        if not hasattr(rows, "order_by"):  # a list in memory: its length
            return len(rows)
        counted = rows.order_by()[:COUNT_CAP + 1].count()  # COUNT(*) of a LIMIT subquery: stops at the cap
        self.capped = counted > COUNT_CAP
        return min(counted, COUNT_CAP)


class GeoJsonKeysetPagination(GeoJsonPagination):
    """GeoJSON pages by number (``page``, with ``count``) as before, or by key when ``before`` is
    given: ``{"type": "FeatureCollection", "next", "previous": null, "features"}``, ``page_size`` rows
    with an id below ``before``, newest first, and ``next`` the URL of the page after (null at the end).

    The view's rows must be rows with an ``id`` (model instances or ``values()`` dicts)."""

    keyset_param = KEYSET_PARAM
    count_from = None
    invalid_page_message = (f"page {{page_number}}: {{message}} (numbered pages reach the first {COUNT_CAP:,} rows; "
                            f"page on with `{KEYSET_PARAM}`=<the last id shown>)")

    def django_paginator_class(self, object_list, per_page) -> CountedPaginator:
        paginator = CountedPaginator(object_list, per_page)
        paginator.count_from = self.count_from
        return paginator

    def paginate_queryset(self, queryset, request, view=None, count_from=None):
        """Return the page's rows; a page by number counts ``count_from`` (the same rows, without the
        joins of ``queryset``'s values()) when given."""
        self.keyset = keyset_value(request, self.keyset_param)
        if self.keyset is None:
            self.count_from = count_from
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        size = self.get_page_size(request)
        rows = list(queryset.filter(pk__lt=self.keyset).order_by("-pk")[:size + 1])
        self.has_more = len(rows) > size
        rows = rows[:size]
        self.last_key = _key(rows[-1]) if rows else None
        return rows

    def get_paginated_response(self, data):
        if self.keyset is None:
            response = super().get_paginated_response(data)
            response.data["count_exact"] = not self.page.paginator.capped
            return response
        url = self.request.build_absolute_uri()
        nxt = replace_query_param(url, self.keyset_param, self.last_key) if self.has_more else None
        return Response({"type": "FeatureCollection", "next": nxt, "previous": None,
                         "features": data["features"]})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        page = super().get_paginated_response_schema(schema)
        page["allOf"][1]["required"] = ["type", "features"]
        page["allOf"][1]["properties"]["count_exact"] = {
            "type": "boolean", "description": f"false when there are more than {COUNT_CAP:,} rows: `count` is that cap"}
        page["allOf"][1]["description"] = (f"a page by number has `count` (at most {COUNT_CAP:,}: see `count_exact`); "
                                           "a page by key (`before`) has none, and `next` is null on the last page")
        return page


def _key(row) -> int:
    return row["id"] if isinstance(row, dict) else row.pk
