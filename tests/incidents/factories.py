"""Build incidents through the real intake service, and the people who act on them.

Every incident here is stored by ``incidents.intake.intake`` (locate, register, dispatch, events),
never by ``Incident.objects.create``; only tests that need a state the flow cannot reach in one
step move it with ``set_state`` (a queryset update on the incident, never on its events).
"""
from __future__ import annotations

import itertools
from datetime import datetime

import shapely
from django.contrib.auth.models import Group, User
from django.contrib.gis.db.models.functions import PointOnSurface
from django.utils import timezone
from rest_framework.test import APIClient
from shapely.ops import polylabel

from core.actors import Actor
from gis_core.coords import from_wgs84, to_wgs84
from grids.models import Grid, GridTeam, Person, VillageLeader
from incidents.intake import IntakeItem, IntakeOutcome, intake
from incidents.lifecycle import incident_transition
from incidents.models import Category, Incident, IncidentEvent

SYSTEM = Actor.system()
# A comprehensive grid of 谷营村 that no dedicated grid overlaps at its interior point.
HOME_GRID = "321003100204001"

_serial = itertools.count(1)


def category(code: str = "other") -> Category:
    return Category.objects.get(code=code)


def grid(code: str = HOME_GRID) -> Grid:
    return Grid.objects.active().select_related("village").get(code=code)


def dedicated_grid(purpose: str) -> Grid:
    """Return the (first by code) active dedicated grid of a purpose."""
    return Grid.objects.active().filter(kind=Grid.Kind.DEDICATED, purpose=purpose).order_by("code").first()


def interior_point(of: Grid) -> tuple[float, float]:
    """Return (lon, lat) far from the grid's outline: the pole of inaccessibility of its largest part."""
    geom = shapely.from_wkb(bytes(of.boundary.wkb))
    largest = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    point = polylabel(largest, tolerance=1e-6)
    return point.x, point.y


def surface_point(of: Grid) -> tuple[float, float]:
    """Return (lon, lat) of PostGIS ST_PointOnSurface of the grid (always inside it)."""
    point = Grid.objects.annotate(p=PointOnSurface("boundary")).get(pk=of.pk).p
    return point.x, point.y


def offset_m(lon: float, lat: float, east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    """Return the point ``east_m``/``north_m`` metres away (moved in EPSG:4549)."""
    x, y = from_wgs84(lon, lat, "EPSG:4549")
    return to_wgs84(x + east_m, y + north_m, "EPSG:4549")


def item(code: str = "other", *, at: tuple[float, float] | None = None, **fields) -> IntakeItem:
    """Return an intake item of category ``code``; ``at`` is an EPSG:4326 (lon, lat)."""
    if at is not None:
        fields.setdefault("x", at[0])
        fields.setdefault("y", at[1])
    fields.setdefault("source", Incident.Source.PATROL)
    fields.setdefault("title", f"test incident {next(_serial)}")
    return IntakeItem(category=category(code), **fields)


def report_many(items: list[IntakeItem], *, actor: Actor = SYSTEM, now: datetime | None = None) -> list[IntakeOutcome]:
    return intake(items, actor=actor, now=now)


def report(code: str = "other", *, at: tuple[float, float] | None = None, actor: Actor = SYSTEM,
           now: datetime | None = None, **fields) -> Incident:
    """Send one incident through intake and return it as stored."""
    outcome = intake([item(code, at=at, **fields)], actor=actor, now=now)[0]
    return Incident.objects.select_related("category").get(pk=outcome.incident.pk)


def located(code: str = "other", *, in_grid: str = HOME_GRID, **fields) -> Incident:
    """Report an incident at the interior point of a grid (registered and dispatched by intake)."""
    return report(code, at=interior_point(grid(in_grid)), **fields)


def reload(incident: Incident) -> Incident:
    return Incident.objects.select_related("category").get(pk=incident.pk)


def set_state(incident: Incident, state: str, **fields) -> None:
    """Move an incident to ``state`` directly (a test shortcut: no event, no clock)."""
    if state == Incident.State.CLOSED:
        fields.setdefault("closed_at", timezone.now())
    Incident.objects.filter(pk=incident.pk).update(state=state, **fields)


def drive(incident: Incident, actions: list[str], actor: Actor) -> Incident:
    """Perform lifecycle actions in turn, as ``actor``; return the incident as stored."""
    for action in actions:
        incident_transition(incident_id=incident.pk, action=action, actor=actor)
    return reload(incident)


def actions_of(incident: Incident) -> list[str]:
    return list(IncidentEvent.objects.filter(incident=incident).order_by("id").values_list("action", flat=True))


def user(*groups: str, person: Person | None = None, username: str | None = None) -> User:
    """Create a user in ``groups``, linked to ``person`` when given."""
    account = User.objects.create_user(username or f"user{next(_serial)}", password="x")
    for name in groups:
        account.groups.add(Group.objects.get_or_create(name=name)[0])
    if person is not None:
        person.user = account
        person.save(update_fields=["user"])
    return account


def api_client(*groups: str, person: Person | None = None, username: str | None = None) -> APIClient:
    """Return an API client logged in as a new user in ``groups`` (linked to ``person`` when given)."""
    client = APIClient()
    client.force_authenticate(user(*groups, person=person, username=username))
    return client


def actor(*groups: str, person: Person | None = None) -> Actor:
    return Actor.of(user(*groups, person=person))


def operator() -> Actor:
    return actor("operator")


def new_person(role: str = Person.Role.GRID_WORKER, name: str = "测试人员") -> Person:
    n = next(_serial)
    return Person.objects.create(external_id=f"T{n:05d}", name=f"{name}{n}", role=role)


def team_of(of: Grid) -> GridTeam:
    return GridTeam.objects.select_related("leader").get(grid=of)


def holder(of: Grid, role: str, slot: str) -> Person:
    return team_of(of).memberships.get(role=role, slot=slot).person


def village_leader(incident: Incident) -> Person:
    return VillageLeader.objects.get(village_id=incident.village_id).person


def unrelated_leader(incident: Incident) -> Person:
    """Return the leader of a grid in another village who has no post in the incident's team."""
    team = team_of(incident.handling_grid)
    insiders = {team.leader_id, *team.memberships.values_list("person_id", flat=True)}
    insiders |= set(VillageLeader.objects.filter(village_id=incident.village_id).values_list("person_id", flat=True))
    other = (GridTeam.objects.exclude(grid__village_id=incident.village_id).exclude(leader_id__in=insiders)
             .select_related("leader").order_by("grid__code").first())
    return other.leader
