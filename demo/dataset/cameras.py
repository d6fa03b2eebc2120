"""Place the 21 illustrative HD cameras (the report's count) at plausible spots of the town.

Positions are worked out in EPSG:4549 and stored as EPSG:4326 points. ``bearing_deg`` is the true
azimuth (degrees clockwise from north, on the WGS84 ellipsoid) from the camera to what it looks at.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

from cameras.models import Camera as CameraModel
from demo.dataset import geometry as geo
from demo.dataset.dedicated import DedicatedGrid
from gis_core.geometry import from_metric, to_metric
from grids.models import Grid

Status = CameraModel.Status
CAMERA_COUNT = 21
OFFLINE_COUNT = 2
FOV_DEG = (60, 110)
RANGE_M = (80, 300)
GATE_INSET_M = 6.0
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class CameraSpot:
    """A camera position and the point it looks at, both EPSG:4549."""

    name: str
    position: Point
    look_at: Point


@dataclass(frozen=True)
class Camera:
    """A placed camera: EPSG:4326 point and its view parameters."""

    code: str
    name: str
    point: Point
    bearing_deg: float
    fov_deg: int
    range_m: int
    status: str


def inside_point(polygon: Polygon) -> Point:
    """Return the centroid of ``polygon`` if inside it, else a point on its surface (same SRID)."""
    centroid = polygon.centroid
    return centroid if polygon.contains(centroid) else polygon.point_on_surface()


def gate(polygon_m: Polygon, toward: Point) -> Point:
    """Return the boundary point of ``polygon_m`` nearest ``toward``, moved GATE_INSET_M inside."""
    edge = polygon_m.exterior.interpolate(polygon_m.exterior.project(toward))
    centre = inside_point(polygon_m)
    step = LineString([edge, centre])
    return step.interpolate(min(GATE_INSET_M, step.length / 2.0))


def centre_spots(seat_m: Point) -> list[CameraSpot]:
    """Return the town-centre spots: the government gate and the two central crossings."""
    return [
        CameraSpot("公道镇政府门前", geo.offset(seat_m, 0.0, 30.0), geo.offset(seat_m, 0.0, -100.0)),
        CameraSpot("镇中心路口东", geo.offset(seat_m, 250.0, 0.0), seat_m),
        CameraSpot("镇中心路口西", geo.offset(seat_m, -250.0, 0.0), seat_m),
    ]


def dedicated_spots(placed: list[DedicatedGrid], seat_m: Point) -> list[CameraSpot]:
    """Return spots at the market, industrial park, schools, health centre, rivers and scenic area."""
    spots: list[CameraSpot] = []
    for grid in placed:
        if grid.polygon is None:
            raise ValueError(f"dedicated grid {grid.spec.place} was not built")
        poly = to_metric(grid.polygon)
        centre = inside_point(poly)
        place, purpose = grid.spec.place, grid.spec.purpose
        if purpose == Grid.Purpose.MARKET:
            east, north = geo.offset(centre, 500.0, 0.0), geo.offset(centre, 0.0, 500.0)
            spots += [CameraSpot(f"{place}东门", gate(poly, east), east),
                      CameraSpot(f"{place}北门", gate(poly, north), north)]
        elif purpose == Grid.Purpose.INDUSTRIAL_PARK:
            spots += [CameraSpot(f"{place}大门", gate(poly, seat_m), seat_m),
                      CameraSpot(f"{place}中心路口", centre, geo.offset(centre, 300.0, 300.0)),
                      CameraSpot(f"{place}北区", _towards(centre, poly, 0.0, 1.0, 0.6), centre)]
        elif purpose in {Grid.Purpose.SCHOOL, Grid.Purpose.HOSPITAL}:
            entrance = "校门" if purpose == Grid.Purpose.SCHOOL else "门口"
            spots.append(CameraSpot(f"{place}{entrance}", gate(poly, seat_m), seat_m))
        elif purpose == Grid.Purpose.RIVER and grid.centreline_m is not None:
            spots += _river_spots(place, grid.centreline_m)
        else:
            spots.append(CameraSpot(f"{place}观景台", centre, geo.offset(centre, 300.0, 0.0)))
    return spots


def _towards(centre: Point, poly: Polygon, dx: float, dy: float, share: float) -> Point:
    """Return the point ``share`` of the way from ``centre`` to the boundary in direction (dx, dy)."""
    far = LineString([centre, geo.offset(centre, dx * 5000.0, dy * 5000.0)])
    hit = far.intersection(poly.exterior)
    edge = min((p for p in getattr(hit, "geoms", [hit])), key=centre.distance)
    return LineString([centre, edge]).interpolate(share, normalized=True)


def _river_spots(place: str, line: LineString) -> list[CameraSpot]:
    spots = []
    for number, share in enumerate((0.3, 0.7), start=1):
        here = line.interpolate(share, normalized=True)
        ahead = line.interpolate(min(share + 0.05, 1.0), normalized=True)
        spots.append(CameraSpot(f"{place}{number}号桥", here, ahead))
    return spots


def crossing_spots(villages_m: list[Polygon], names: list[str], taken: set[int], seat_m: Point,
                   count: int) -> list[CameraSpot]:
    """Return ``count`` spots at village-office crossings of villages without a camera (code order)."""
    spots = []
    for index, (village, name) in enumerate(zip(villages_m, names, strict=True)):
        if index not in taken and len(spots) < count:
            spots.append(CameraSpot(f"{name}村部路口", inside_point(village), seat_m))
    return spots


def true_bearing(spot: CameraSpot) -> float:
    """Return the WGS84 azimuth in degrees [0, 360), clockwise from true north, rounded to 0.1."""
    a, b = from_metric(spot.position), from_metric(spot.look_at)
    azimuth, _, _ = _GEOD.inv(a.x, a.y, b.x, b.y)
    return round(azimuth % 360.0, 1) % 360.0


def build_cameras(spots: list[CameraSpot], town: Polygon, rng: np.random.Generator) -> list[Camera]:
    """Return the cameras GDC001.. for ``spots`` (EPSG:4326 points; all must lie inside ``town``)."""
    if len(spots) != CAMERA_COUNT:
        raise ValueError(f"{len(spots)} camera spots, expected {CAMERA_COUNT}")
    offline = {int(i) for i in rng.choice(np.arange(1, len(spots)), size=OFFLINE_COUNT, replace=False)}
    cameras = []
    for index, spot in enumerate(spots):
        point = from_metric(spot.position)
        if not town.contains(point):
            raise ValueError(f"camera {spot.name} is outside the town")
        cameras.append(Camera(
            code=f"GDC{index + 1:03d}", name=spot.name, point=point, bearing_deg=true_bearing(spot),
            fov_deg=int(rng.integers(FOV_DEG[0], FOV_DEG[1] + 1)),
            range_m=int(rng.integers(RANGE_M[0], RANGE_M[1] + 1)),
            status=Status.OFFLINE if index in offline else Status.ONLINE,
        ))
    return cameras
