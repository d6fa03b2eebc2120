"""The OpenAPI schema is complete: generated without a warning or an error, valid OpenAPI, and every
API route is in it."""
from __future__ import annotations

import yaml
from django.core.management import call_command


def test_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    for path in ["/api/incidents/", "/api/incidents/batch/", "/api/assessment/", "/api/review/heatmap/",
                 "/api/review/trend/", "/api/generations/", "/api/generations/{generation}/grids/",
                 "/api/generations/{generation}/grids/{code}/boundary/", "/api/generations/{generation}/preview/",
                 "/api/generations/{generation}/publish/", "/api/incidents/{id}/context/",
                 "/api/incidents/{id}/return_visit/", "/api/incidents/{id}/return_to_centre/",
                 "/api/incidents/{id}/request_extension/", "/api/incidents/{id}/decide_extension/"]:
        assert path in paths, path
