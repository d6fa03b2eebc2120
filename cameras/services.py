"""Writes on cameras: loading, and assigning each camera to the grid it stands in."""
from __future__ import annotations

import json
from pathlib import Path

from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver

from cameras.models import Camera
from grids import locator
from grids.models import BoundaryGeneration
from grids.signals import generation_activated


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


def camera_assign_grid(*, camera: Camera, save: bool = True, generation: BoundaryGeneration | None = None) -> Camera:
    """Set the camera's grid to the comprehensive grid it stands in (None outside), of ``generation``
    or, by default, of the active generations."""
    camera.grid = locator.locate(camera.location.x, camera.location.y, generation=generation).grid
    if save:
        Camera.objects.filter(pk=camera.pk).update(grid=camera.grid)  # the sector is unchanged: no save()
    return camera


@receiver(generation_activated, dispatch_uid="cameras_follow_generation")
def cameras_follow_generation(*, generation: BoundaryGeneration, **kwargs) -> int:
    """Move the town's cameras to the grids of its newly active generation (in the publishing
    transaction); return how many changed grid row. A camera that keeps its grid code still moves to
    the new generation's row of that code, so no camera points at a retired grid."""
    town = generation.town
    cameras = Camera.objects.filter(Q(grid__generation__town=town) | Q(location__coveredby=town.boundary))
    cameras = list(cameras.select_for_update(of=("self",)).order_by("pk").only("pk", "grid", "location"))
    moved = locator.follow_generation(cameras, generation)
    for camera, grid in moved:
        Camera.objects.filter(pk=camera.pk).update(grid=grid)
    return len(moved)
