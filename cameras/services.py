"""Writes on cameras: loading, and assigning each camera to the grid it stands in."""
from __future__ import annotations

import json
from pathlib import Path

from django.contrib.gis.geos import Point
from django.db import transaction

from cameras.models import Camera
from grids.locator import locate_point


class CameraDataError(Exception):
    """A camera record is incomplete or out of range (the message names the camera)."""


def _camera_fields(feature: dict) -> dict:
    props = feature.get("properties") or {}
    code = props.get("code", "?")
    try:
        lon, lat = feature["geometry"]["coordinates"][:2]
        return {
            "code": str(code), "name": str(props["name"]),
            "location": Point(float(lon), float(lat), srid=4326),
            "bearing_deg": float(props["bearing_deg"]) % 360.0,
            "fov_deg": float(props["fov_deg"]), "range_m": float(props["range_m"]),
            "status": props.get("status") or Camera.Status.ONLINE,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CameraDataError(f"camera {code}: {exc!r}") from exc


@transaction.atomic
def cameras_load(path: Path) -> int:
    """Create or update the cameras of a GeoJSON file (by code); return how many were loaded."""
    try:
        features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError) as exc:
        raise CameraDataError(f"{path}: cannot read cameras ({exc})") from exc
    for feature in features:
        fields = _camera_fields(feature)
        camera = Camera.objects.filter(code=fields["code"]).first() or Camera(code=fields["code"])
        for name, value in fields.items():
            setattr(camera, name, value)
        camera_assign_grid(camera=camera, save=False)
        camera.full_clean(validate_unique=False)
        camera.save()
    return len(features)


def camera_assign_grid(*, camera: Camera, save: bool = True) -> Camera:
    """Set the camera's grid to the active comprehensive grid it stands in (None outside)."""
    camera.grid = locate_point(camera.location).grid
    if save:
        camera.save(update_fields=["grid"])
    return camera
