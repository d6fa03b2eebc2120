"""Intake: validate, locate, store, register and dispatch incidents, one or many, in one transaction.

A single POST is a batch of one, so the two paths cannot drift apart. The steps:
1. idempotency: an item whose (client, source, external id) is already stored returns the stored
   incident (a batch is probed first; a few items learn it from their INSERT ... ON CONFLICT DO
   NOTHING). The client is the actor's user (NULL for the platform itself): another client re-using
   the same (source, external id) gets an incident of its own, and learns nothing of the other's;
2. location: coordinates in any accepted CRS, else an address through the local gazetteer, else the
   camera's view-sector target; grids.locator finds the grid (and whether the point is near its edge);
   what cannot be located is still stored, in the triage queue (never rejected, never lost);
3. possible duplicates (same category, within 50 m and 72 h of an open incident) are flagged;
4. located incidents are registered and handed to the dispatcher (settings.INCIDENT_DISPATCHER);
5. everything is stored in bulk (ids from the sequence, COPY); a concurrent re-send of the same key
   loses the insert race quietly (ON CONFLICT DO NOTHING) and returns the winner's incident.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import numpy as np
import shapely
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from core import bulk, db
from core.actors import Actor
from gis_core.coords import to_wgs84_array
from grids import locator
from incidents.duplicates import find_possible_duplicates
from incidents.gazetteer import Gazetteer, GazetteerMatch, build_gazetteer, normalise
from incidents.lifecycle import apply_transition, new_event, notify_changed
from incidents.models import Category, Incident, IncidentEvent


@dataclass
class IntakeItem:
    """One validated incident report (the API's serializers build these)."""

    source: str
    category: Category
    title: str
    external_id: str = ""
    severity: int | None = None
    description: str = ""
    address: str = ""
    x: float | None = None
    y: float | None = None
    crs: str = "EPSG:4326"
    camera: object | None = None
    component: object | None = None  # the city component (部件) it is about
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""  # personal data, like the phone
    media_url: str = ""  # a link the reporter gave; stored, never fetched
    attributes: dict | None = None  # answers to the category's questions (incidents.attributes), checked
    on_the_spot: bool = False  # 自行处置: registered, not dispatched (incidents.on_the_spot closes it)

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.source, self.external_id) if self.external_id else None


@dataclass
class IntakeOutcome:
    incident: Incident
    created: bool


@dataclass
class _Batch:
    incidents: list[Incident] = field(default_factory=list)
    events: list[IncidentEvent] = field(default_factory=list)
    related: list = field(default_factory=list)


def get_dispatcher():
    """Return the configured dispatcher (dispatch.routing.GridDispatcher by default).

    The hook by which dispatch reacts to incidents without incidents importing it: the dispatcher
    named in ``settings.INCIDENT_DISPATCHER`` has ``dispatch_new(incidents, *, now, events) -> list``,
    called inside the intake's (or the relocation's) transaction with the registered incidents in
    memory; it points each at its grid team and returns the rows to store with them (assignments,
    notifications), appending the dispatch events to ``events``. Changes after the commit reach the
    other floors through ``incidents.signals.incident_changed``."""
    return import_string(settings.INCIDENT_DISPATCHER)()


def intake(items: list[IntakeItem], *, actor: Actor, now: datetime | None = None) -> list[IntakeOutcome]:
    """Store, locate, register and dispatch the items; return one outcome per item, in order."""
    now = now or timezone.now()
    with transaction.atomic():
        # A few items go straight to INSERT ... ON CONFLICT DO NOTHING, which tells a re-send too;
        # a batch is probed first, so that a re-sent batch is not located and routed again.
        client_id = actor.user.pk if actor.user is not None else None
        existing = _existing(client_id, [i.key for i in items if i.key]) if len(items) > SMALL_BATCH else {}
        fresh: list[int] = []
        seen: dict[tuple, int] = {}
        for n, item in enumerate(items):
            if item.key and (item.key in existing or item.key in seen):
                continue
            if item.key:
                seen[item.key] = n
            fresh.append(n)
        batch = _prepare([items[n] for n in fresh], actor=actor, now=now)
        inserted = _insert(batch)
        notify_changed([inc.pk for inc, ok in zip(batch.incidents, inserted, strict=True) if ok])
        existing |= _existing(client_id, [items[n].key for n, ok in zip(fresh, inserted, strict=True) if not ok])
        by_index = {n: inc for n, inc, ok in zip(fresh, batch.incidents, inserted, strict=True) if ok}
        existing |= {items[n].key: inc for n, inc in by_index.items() if items[n].key}
        return [
            IntakeOutcome(by_index[n], True) if n in by_index else IntakeOutcome(existing[item.key], False)
            for n, item in enumerate(items)
        ]


def _existing(client_id: int | None, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Incident]:
    """Return the client's stored incidents of these (source, external id) keys.

    The common answer is "none": a bare id probe on the unique index (client, source, external_id)
    (raw SQL, one statement however many keys) decides that, and only the keys found are loaded.
    """
    if not keys:
        return {}
    wanted = sorted(set(keys))
    # "= client" or "IS NULL" (two statements, not IS NOT DISTINCT FROM, which no index serves)
    client = "i.submitted_by_id IS NULL" if client_id is None else "i.submitted_by_id = %(client)s"
    with connection.cursor() as cursor:
        db.execute(
            cursor, "gridops_existing_keys_system" if client_id is None else "gridops_existing_client_keys",
            "SELECT i.id FROM incidents_incident i "
            "JOIN unnest(%(sources)s::text[], %(ids)s::text[]) AS k(source, external_id) "
            f"ON {client} AND i.source = k.source AND i.external_id = k.external_id "
            "WHERE i.external_id <> ''",  # lets the planner use the partial unique index
            {"client": client_id, "sources": [k[0] for k in wanted], "ids": [k[1] for k in wanted]})
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return {}
    return {(r.source, r.external_id): r for r in Incident.objects.filter(pk__in=ids).select_related("category")}


def _prepare(items: list[IntakeItem], *, actor: Actor, now: datetime) -> _Batch:
    batch = _Batch()
    system = Actor.system()
    user_id = actor.user.pk if actor.user is not None else None
    for item in items:
        incident = bulk.unsaved(
            Incident,
            source=item.source, external_id=item.external_id, category=item.category,
            severity=item.severity or item.category.default_severity, title=item.title,
            description=item.description, address=item.address, camera_id=item.camera.pk if item.camera else None,
            component_id=item.component.pk if item.component else None,
            reporter_name=item.reporter_name, reporter_phone=item.reporter_phone,
            reporter_email=item.reporter_email, media_url=item.media_url, attributes=item.attributes, created_at=now,
            submitted_by_id=user_id,
        )
        batch.incidents.append(incident)
    for incident, pk in zip(batch.incidents, bulk.allocate_ids(Incident, len(batch.incidents)), strict=True):
        incident.pk = pk  # before the events and assignments are built, so they point at it
    by_id = {i.pk: i for i in batch.incidents}
    located, lons, lats = _locate(batch.incidents, items)
    for pk, earlier in find_possible_duplicates(located, lons, lats).items():
        by_id[pk].possible_duplicate_of_id = earlier
    for incident in batch.incidents:
        batch.events.append(new_event(incident, "report", actor, from_state="", now=now,
                                      data={"triage": incident.triage} if incident.triage else None))
    located = [i for i in batch.incidents if not i.triage]
    for incident in located:
        batch.events.append(apply_transition(incident, "register", system, checked=True, now=now))
    spot = {i.pk for i, item in zip(batch.incidents, items, strict=True) if item.on_the_spot}
    batch.related = get_dispatcher().dispatch_new([i for i in located if i.pk not in spot], now=now,
                                                  events=batch.events)
    return batch


def _points(items: list[IntakeItem]) -> list[tuple[tuple[float, float] | None, str, str]]:
    """Return per item ((lon, lat) or None, how it was found, a note); coordinates are converted
    in one call per CRS, each distinct address text is resolved once."""
    out: list = [None] * len(items)
    by_crs: dict[str, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        if item.x is not None and item.y is not None:
            by_crs[item.crs].append(n)
    for crs, ns in by_crs.items():
        for n, point in zip(ns, _converted([items[n].x for n in ns], [items[n].y for n in ns], crs), strict=True):
            out[n] = (point, "coordinates", "") if point else (None, "coordinates", "the coordinates could not be "
                                                                  f"converted from {crs}")
    resolve = _address_resolver()
    for n, item in enumerate(items):
        if out[n] is None:
            out[n] = _point_without_coordinates(item, resolve)
    return out


def _converted(xs: list[float], ys: list[float], crs: str) -> list[tuple[float, float] | None]:
    """Return the WGS84 (lon, lat) of each point, in one call for the lot; None for a point that cannot
    be converted. The serializers refuse such points (400), so None is a safety net: a conversion
    failure never fails the other rows of a batch, nor escapes as a 500."""
    try:
        lons, lats = to_wgs84_array(xs, ys, crs)
        return list(zip(lons.tolist(), lats.tolist(), strict=True))
    except ValueError:
        if len(xs) == 1:
            return [None]
        return [p for x, y in zip(xs, ys, strict=True) for p in _converted([x], [y], crs)]


def _address_resolver() -> Callable[[str], GazetteerMatch | None]:
    """Return a memoised address lookup; the gazetteer is fetched on first use only."""
    gazetteer: list[Gazetteer] = []

    @cache
    def resolve(text: str) -> GazetteerMatch | None:
        if not normalise(text):
            return None
        if not gazetteer:
            gazetteer.append(build_gazetteer())
        return gazetteer[0].resolve(text)

    return resolve


def _point_without_coordinates(item: IntakeItem, resolve) -> tuple[tuple[float, float] | None, str, str]:
    if item.address:
        match = resolve(item.address)
        if match is not None:
            return (match.lon, match.lat), "address", f"{match.kind} {match.matched} ({match.precision})"
        return None, "address", "address not found in the gazetteer"
    if item.camera is not None:
        target = shapely.point_on_surface(shapely.from_wkb(bytes(item.camera.sector.wkb)))
        return (target.x, target.y), "camera", f"view-sector target of camera {item.camera.code}"
    return None, "", "no location given"


def _locate(incidents: list[Incident], items: list[IntakeItem]) -> tuple[list[Incident], np.ndarray, np.ndarray]:
    """Set each incident's location, grid and triage; return the incidents that have a point, with
    their longitudes and latitudes."""
    points = []
    for incident, item, (point, how, note) in zip(incidents, items, _points(items), strict=True):
        incident.location_source, incident.location_note = how, note
        if item.x is not None and item.y is not None:
            incident.original_x, incident.original_y, incident.original_crs = item.x, item.y, item.crs
        if point is None:
            incident.triage = {"address": Incident.Triage.UNRESOLVED_ADDRESS, "coordinates": Incident.Triage.OUTSIDE
                               }.get(how, Incident.Triage.NO_LOCATION)
        else:
            points.append((incident, point))
    lons = np.array([p[1][0] for p in points], dtype=np.float64)
    lats = np.array([p[1][1] for p in points], dtype=np.float64)
    if points:
        _assign_grids([p[0] for p in points], lons, lats)
    return [p[0] for p in points], lons, lats


def _assign_grids(incidents: list[Incident], lons: np.ndarray, lats: np.ndarray) -> None:
    """Locate the points in the active grids. The locations are set as hex EWKB, made for all
    points in one call: the geometry field takes that form and builds its GEOS point only when
    read (COPY writes the text as it is), which saves a GEOS point per incident of a batch."""
    located = locator.locate_many(lons, lats)
    found, grids = located.found, located.grids
    near_edge = found.near_edge.tolist()
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.points(lons, lats), 4326), hex=True, include_srid=True).tolist()
    for k, incident in enumerate(incidents):
        incident.location = ewkb[k]
        incident.located_dedicated = [grids[g] for g in found.dedicated_for(k)]
        if found.grid_id[k] >= 0:
            grid = grids[int(found.grid_id[k])]
            incident.grid, incident.village = grid, grid.village
            incident.generation_id, incident.town_id = grid.generation_id, grid.generation.town_id
            incident.near_edge = near_edge[k]
        else:
            nearest = grids.get(int(found.nearest_grid_id[k]))
            incident.triage = Incident.Triage.OUTSIDE
            incident.nearest_grid_id = nearest.pk if nearest else None
            incident.distance_m = float(found.nearest_distance_m[k]) if nearest else None
            incident.town_id = nearest.generation.town_id if nearest else None


SMALL_BATCH = 50  # up to this many incidents go in with INSERTs, more with COPY


def _insert(batch: _Batch) -> list[bool]:
    """Insert the batch; return per incident whether this call stored it (False: lost a key race).

    The incidents carry ids from the sequence (``_prepare``). A few go in with one INSERT ... ON
    CONFLICT DO NOTHING RETURNING id, which skips a key a concurrent re-send stored first; many go
    in with COPY, and when COPY fails on the unique index (such a race), through that INSERT.
    """
    if len(batch.incidents) <= SMALL_BATCH:
        stored_ids = _insert_skipping_taken_keys(batch.incidents)
    else:
        try:
            with transaction.atomic():  # a savepoint: only this COPY is undone when it fails
                bulk.copy_objects(Incident, batch.incidents, with_pk=True)
            stored_ids = {i.pk for i in batch.incidents}
        except IntegrityError:
            stored_ids = _insert_skipping_taken_keys(batch.incidents)
    events = [e for e in batch.events if e.incident_id in stored_ids]
    related = _group_by_model([r for r in batch.related if r.incident_id in stored_ids])
    if len(batch.incidents) <= SMALL_BATCH:
        bulk.execute([bulk.insert_statement(IncidentEvent, events, with_pk=False)]
                     + [bulk.insert_statement(type(group[0]), group, with_pk=False) for group in related])
    else:
        bulk.copy_objects(IncidentEvent, events, with_pk=False)
        for group in related:
            bulk.copy_objects(type(group[0]), group, with_pk=False)
    return [i.pk in stored_ids for i in batch.incidents]


def _insert_skipping_taken_keys(incidents: list[Incident]) -> set[int]:
    """Insert with ON CONFLICT DO NOTHING; return the ids stored. A stored incident flagged as a
    possible duplicate of one that was not stored loses that flag."""
    stored_ids: set[int] = set()
    for start in range(0, len(incidents), 1000):
        chunk = incidents[start:start + 1000]
        stored_ids |= {row[0] for row in bulk.execute(
            [bulk.insert_statement(Incident, chunk, with_pk=True, skip_conflicts=True)])}
    lost = {i.pk for i in incidents} - stored_ids
    dangling = [i for i in incidents if i.pk in stored_ids and i.possible_duplicate_of_id in lost]
    for incident in dangling:
        incident.possible_duplicate_of_id = None
    if dangling:
        Incident.objects.filter(pk__in=[i.pk for i in dangling]).update(possible_duplicate_of=None)
    return stored_ids


def _group_by_model(objects: list) -> list[list]:
    groups: dict[type, list] = {}
    for obj in objects:
        groups.setdefault(type(obj), []).append(obj)
    return list(groups.values())
