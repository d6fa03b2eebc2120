"""Load a town's boundary data set (town, villages, grids, people, teams) idempotently.

The directory layout is the one ``data/boundaries/<town>/`` uses: ``town.geojson``,
``villages.geojson``, ``grids.geojson``, ``people.csv``, ``team_members.csv`` and
``village_leaders.csv``. Loading twice changes nothing; loading changed grids creates a new
boundary generation and activates it (the old one is retired, never edited in place).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from gis_core.geometry import force_2d_multipolygon
from grids.codes import code20_of
from grids.models import BoundaryGeneration, Grid, GridTeam, Person, TeamMembership, Town, Village, VillageLeader
from grids.services import generation_activate


class DatasetError(Exception):
    """The data set is incomplete or inconsistent (the message names the file and feature)."""


@dataclass
class LoadSummary:
    town: str = ""
    villages: int = 0
    grids: int = 0
    generation: int | None = None
    new_generation: bool = False
    people: int = 0
    memberships: int = 0
    notes: list[str] = field(default_factory=list)


def read_features(path: Path) -> list[dict]:
    """Return the features of a GeoJSON FeatureCollection file (DatasetError if unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read GeoJSON ({exc})") from exc
    features = data.get("features") if isinstance(data, dict) else None
    if not features:
        raise DatasetError(f"{path}: no features")
    return features


def multipolygon(feature: dict, where: str) -> GEOSGeometry:
    """Return a feature's geometry as an EPSG:4326 GEOS MultiPolygon (exact coordinates)."""
    try:
        geom = force_2d_multipolygon(shapely.geometry.shape(feature["geometry"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: bad geometry ({exc})") from exc
    if not geom.is_valid:
        raise DatasetError(f"{where}: invalid geometry ({shapely.validation.explain_validity(geom)})")
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4326)


def read_csv(path: Path) -> list[dict]:
    """Return the rows of a UTF-8 CSV file with a header line."""
    if not path.exists():
        raise DatasetError(f"{path}: missing")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@transaction.atomic
def load_dataset(directory: Path) -> LoadSummary:
    """Load the data set in ``directory`` (all or nothing) and return what was done."""
    directory = Path(directory)
    summary = LoadSummary()
    town = _load_town(directory)
    summary.town = str(town)
    villages = _load_villages(directory, town)
    summary.villages = len(villages)
    generation, created = _load_grids(directory, town, villages)
    summary.generation, summary.new_generation = generation.pk, created
    summary.grids = generation.grids.count()
    people = _load_people(directory)
    summary.people = len(people)
    summary.memberships = _load_teams(directory, generation, people)
    _load_village_leaders(directory, villages, people)
    return summary


def _load_town(directory: Path) -> Town:
    (feature,) = read_features(directory / "town.geojson")[:1]
    props = feature["properties"]
    town, _ = Town.objects.update_or_create(
        code=props["code"],
        defaults={"name": props["name"], "boundary": multipolygon(feature, f"town {props['code']}")},
    )
    return town


def _load_villages(directory: Path, town: Town) -> dict[str, Village]:
    villages = {}
    for feature in read_features(directory / "villages.geojson"):
        props = feature["properties"]
        code = str(props["code"])
        if not code.startswith(town.code):
            raise DatasetError(f"village {code}: not in town {town.code}")
        villages[code], _ = Village.objects.update_or_create(
            code=code,
            defaults={
                "town": town, "name": props["name"], "official_name": props.get("name_nbs") or "",
                "kind": props["kind"], "boundary": multipolygon(feature, f"village {code}"),
            },
        )
    return villages


def _grid_rows(directory: Path, villages: dict[str, Village]) -> list[dict]:
    rows = []
    for feature in read_features(directory / "grids.geojson"):
        props = feature["properties"]
        code = str(props["code"])
        village = villages.get(str(props.get("village_code")))
        if village is None:
            raise DatasetError(f"grid {code}: unknown village {props.get('village_code')}")
        purpose = props.get("purpose") or ""
        try:  # the 20-digit CJ/T 349 code: as given, else by the rule of grids.codes
            code20 = str(props.get("code20") or code20_of(code, props["kind"], purpose))
        except ValueError as exc:
            raise DatasetError(f"grid {code}: {exc}") from exc
        rows.append({
            "code": code, "code20": code20, "name": props["name"], "kind": props["kind"], "purpose": purpose,
            "village": village, "boundary": multipolygon(feature, f"grid {code}"),
        })
    return rows


def _same_grids(generation: BoundaryGeneration, rows: list[dict]) -> bool:
    existing = {g.code: g for g in generation.grids.all()}
    if set(existing) != {r["code"] for r in rows}:
        return False
    for row in rows:
        grid = existing[row["code"]]
        if (grid.name, grid.kind, grid.purpose, grid.village_id) != (
            row["name"], row["kind"], row["purpose"], row["village"].pk
        ) or not grid.boundary.equals_exact(row["boundary"], 0):
            return False
    return True


def _load_grids(directory: Path, town: Town, villages: dict[str, Village]) -> tuple[BoundaryGeneration, bool]:
    rows = _grid_rows(directory, villages)
    active = BoundaryGeneration.objects.filter(town=town, status="active").first()
    if active is not None and _same_grids(active, rows):
        _keep_code20(active, rows)
        return active, False
    generation = BoundaryGeneration.objects.create(town=town, description=f"data set {directory.name}")
    Grid.objects.bulk_create([Grid(generation=generation, **row) for row in rows])
    return generation_activate(generation=generation), True


def _keep_code20(generation: BoundaryGeneration, rows: list[dict]) -> None:
    """Give the grids of an unchanged generation the 20-digit codes of the data set: a code beside the
    15-digit one, not a new boundary, so no new generation."""
    wanted = {row["code"]: row["code20"] for row in rows}
    for grid in generation.grids.only("pk", "code", "code20"):
        if grid.code20 != wanted[grid.code]:
            Grid.objects.filter(pk=grid.pk).update(code20=wanted[grid.code])


def _load_people(directory: Path) -> dict[str, Person]:
    people = {}
    for row in read_csv(directory / "people.csv"):
        people[row["person_id"]], _ = Person.objects.update_or_create(
            external_id=row["person_id"],
            defaults={"name": row["name"], "phone": row.get("phone", ""), "role": row["role"]},
        )
    return people


def _load_teams(directory: Path, generation: BoundaryGeneration, people: dict[str, Person]) -> int:
    grids = {g.code: g for g in generation.grids.all()}
    rows = read_csv(directory / "team_members.csv")
    leaders = {r["grid_code"]: r["person_id"] for r in rows if r["team_role"] == "leader"}
    count = 0
    for code, grid in grids.items():
        if code not in leaders:
            raise DatasetError(f"team_members.csv: grid {code} has no leader")
        team, _ = GridTeam.objects.update_or_create(grid=grid, defaults={"leader": _person(people, leaders[code])})
        team.memberships.all().delete()
        members = [r for r in rows if r["grid_code"] == code and r["team_role"] == "member"]
        TeamMembership.objects.bulk_create([
            TeamMembership(team=team, person=_person(people, r["person_id"]), role=r["role"], slot=r["slot"],
                           on_duty=r["on_duty"].strip().lower() in {"1", "true", "yes"})
            for r in members
        ])
        count += len(members)
    return count


def _load_village_leaders(directory: Path, villages: dict[str, Village], people: dict[str, Person]) -> None:
    for row in read_csv(directory / "village_leaders.csv"):
        village = villages.get(row["village_code"])
        if village is None:
            raise DatasetError(f"village_leaders.csv: unknown village {row['village_code']}")
        VillageLeader.objects.update_or_create(village=village, defaults={"person": _person(people, row["person_id"])})


def _person(people: dict[str, Person], person_id: str) -> Person:
    try:
        return people[person_id]
    except KeyError:
        raise DatasetError(f"unknown person {person_id}") from None
