"""Routing: which team, which level and which person an incident goes to.

- handling grid: a dedicated grid covering the point whose purpose is one of the category's
  purposes (the first by code), else the comprehensive grid;
- start level: the category's level, raised by severity (major -> village, critical -> town);
- grid level: the holder of the category's role in the grid's team: A when on duty and carrying
  fewer than settings.DISPATCH_MAX_OPEN_PER_PERSON open incidents, else B when on duty and below
  the limit, else whichever on-duty holder carries fewer, else the grid leader; the grid leader
  is always informed;
- village level: the town leader linked to the village (包村领导); the grid leader is informed;
- town level: the town command centre; bureau level: the category's functional bureau.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from core import bulk
from core.actors import Actor
from dispatch import selectors
from dispatch.models import Assignment, Notification
from dispatch.selectors import PersonRef
from incidents.lifecycle import apply_transition
from incidents.models import Incident, Level, Severity

COMMAND_CENTRE = "镇指挥中心 town command centre"
SEVERITY_LEVEL = {Severity.MINOR: Level.GRID, Severity.NORMAL: Level.GRID,
                  Severity.MAJOR: Level.VILLAGE, Severity.CRITICAL: Level.TOWN}


@dataclass(frozen=True)
class Target:
    """Who gets the incident: a person, or a unit (command centre, bureau) with no person."""

    level: int
    person: PersonRef | None
    role: str = ""
    slot: str = ""
    unit: str = ""
    reason: str = ""


def handling_grid(incident: Incident):
    """Return the grid whose team handles the incident (a matching dedicated grid first)."""
    purposes = set(incident.category.purposes)
    for grid in getattr(incident, "located_dedicated", []):
        if grid.purpose in purposes:
            return grid
    return incident.grid


def start_level(incident: Incident) -> int:
    """Return the level an incident starts at: its category's, raised by its severity."""
    return max(incident.category.level, SEVERITY_LEVEL[Severity(incident.severity)])


class RoutingContext:
    """Teams, village leaders and open loads for a set of grids, read once per batch (one query)."""

    def __init__(self, grid_ids: set[int], village_ids: set[int], roles: set[str] | None = None):
        """``roles``: the only roles that will be asked for (None: all), so only their holders' loads
        are counted."""
        self.teams, self.village_leaders, loads = selectors.routing_reads(grid_ids, village_ids, roles)
        self.loads: Counter = Counter(loads)
        self.limit = settings.DISPATCH_MAX_OPEN_PER_PERSON

    def grid_target(self, incident: Incident, grid) -> Target | None:
        team = self.teams.get(grid.pk) if grid else None
        if team is None:
            return None
        role = incident.category.responsible_role
        posts = {p.slot: p for p in team.posts if p.role == role}
        for slot in ("A", "B"):
            post = posts.get(slot)
            if post and post.on_duty and self.loads[post.person.id] < self.limit:
                why = "A holder" if slot == "A" else "B backup: A holder off duty or at the limit"
                return Target(Level.GRID, post.person, role, slot, reason=f"{role} {why} in grid {grid.code}")
        on_duty = [p for p in posts.values() if p.on_duty]
        if on_duty:
            post = min(on_duty, key=lambda p: (self.loads[p.person.id], p.slot))
            return Target(Level.GRID, post.person, role, post.slot,
                          reason=f"{role} {post.slot}: both holders at the limit, fewer open")
        return Target(Level.GRID, team.leader, "leader", "", reason=f"no {role} on duty: grid leader of {grid.code}")

    def target(self, incident: Incident, level: int) -> Target:
        """Return the target at ``level``, moving up when nobody can take it at that level."""
        if level == Level.GRID:
            found = self.grid_target(incident, incident.handling_grid)
            if found:
                return found
            level = Level.VILLAGE
        if level == Level.VILLAGE:
            leader = self.village_leaders.get(incident.village_id)
            if leader:
                return Target(Level.VILLAGE, leader, "town_leader", unit="村居 village",
                              reason="village level: the linked town leader")
            level = Level.TOWN
        if level == Level.TOWN:
            return Target(Level.TOWN, None, unit=COMMAND_CENTRE, reason="town level: the command centre")
        return Target(Level.BUREAU, None, unit=incident.category.bureau or COMMAND_CENTRE,
                      reason="bureau level: the functional bureau")

    def leader_of(self, incident: Incident) -> PersonRef | None:
        team = self.teams.get(incident.handling_grid_id)
        return team.leader if team else None


def assign(incident: Incident, target: Target, ctx: RoutingContext, *, now: datetime, why: str) -> list:
    """Point the incident at the target (in memory); return the new assignment and notifications."""
    person_id = target.person.id if target.person else None
    incident.level = target.level
    incident.assignee = target.person.as_person() if target.person else None
    objects: list = [bulk.unsaved(
        Assignment, incident_id=incident.pk, level=target.level, grid_id=incident.handling_grid_id, person_id=person_id,
        role=target.role, slot=target.slot, unit=target.unit, reason=f"{why}: {target.reason}", assigned_at=now,
    )]
    if person_id is not None:
        ctx.loads[person_id] += 1
        objects.append(bulk.unsaved(Notification, person_id=person_id, incident_id=incident.pk,
                                    kind=Notification.Kind.ASSIGNED, message=f"{why}: {incident.title}"[:300],
                                    created_at=now))
    leader = ctx.leader_of(incident)
    if leader is not None and leader.id != person_id:
        objects.append(bulk.unsaved(Notification, person_id=leader.id, incident_id=incident.pk,
                                    kind=Notification.Kind.INFORMED,
                                    message=f"{why} in your grid: {incident.title}"[:300], created_at=now))
    return objects


class GridDispatcher:
    """The default dispatcher (settings.INCIDENT_DISPATCHER): routes registered incidents in bulk."""

    def dispatch_new(self, incidents: list[Incident], *, now: datetime, events: list) -> list:
        """Dispatch registered incidents (in memory); append events; return objects to insert."""
        for incident in incidents:
            incident.handling_grid = handling_grid(incident)
        ctx = RoutingContext({i.handling_grid_id for i in incidents if i.handling_grid_id},
                             {i.village_id for i in incidents if i.village_id},
                             {i.category.responsible_role for i in incidents})
        system = Actor.system()
        objects: list = []
        for incident in incidents:
            target = ctx.target(incident, start_level(incident))
            objects += assign(incident, target, ctx, now=now, why="dispatched")
            events.append(apply_transition(incident, "dispatch", system, checked=True, now=now,
                                           note=target.reason, data=_describe(target)))
        return objects


def _describe(target: Target) -> dict:
    return {"level": target.level, "person": target.person.external_id if target.person else None,
            "role": target.role, "slot": target.slot, "unit": target.unit}
