"""Reads for routing: the teams of a set of grids, the villages' linked leaders, people's open loads.

Raw SQL, because routing runs inside every intake: one parameterised statement replaces five ORM
queries with prefetches (their compilation alone costs more than running them, and each is a round
trip). Nothing here decides who gets an incident (that is ``dispatch.routing``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from core import bulk, db
from grids.models import Person
from incidents import rules


@dataclass(frozen=True)
class PersonRef:
    """A person as routing needs them: the row id, the public id (``P0042``), name and role."""

    id: int
    external_id: str
    name: str = ""
    role: str = ""

    def as_person(self) -> Person:
        """Return an unsaved-looking Person with these fields (to point a foreign key at, never to save)."""
        return bulk.unsaved(Person, pk=self.id, external_id=self.external_id, name=self.name, role=self.role)


@dataclass
class Post:
    role: str
    slot: str
    person: PersonRef
    on_duty: bool


@dataclass
class Team:
    grid_id: int
    leader: PersonRef
    posts: list[Post] = field(default_factory=list)


def load_cap() -> int:
    """Return how far open loads are counted: far past the dispatch limit, so that every decision is
    the exact one unless both holders of a post carry more than this (then they count as equal and
    A is chosen), and a person's thousands of open incidents are never counted one by one."""
    return max(100, 10 * settings.DISPATCH_MAX_OPEN_PER_PERSON)


def routing_reads(grid_ids: set[int], village_ids: set[int], roles: set[str] | None = None
                  ) -> tuple[dict[int, Team], dict[int, PersonRef], dict[int, int]]:
    """Return, in one statement, the team of each grid (leader and every post), the town leader
    linked to each village (包村领导), and how many incidents the holders of ``roles`` (None: of
    every role) hold dispatched or in progress (counted up to ``load_cap()``)."""
    if not grid_ids and not village_ids:
        return {}, {}, {}
    sql = """
        SELECT 'post', t.grid_id, l.id, l.external_id, l.name, l.role, m.role, m.slot, m.on_duty,
               p.id, p.external_id, p.name, p.role,
               CASE WHEN %(all_roles)s OR m.role = ANY(%(roles)s) THEN (
                   SELECT count(*) FROM (SELECT 1 FROM incidents_incident i
                                         WHERE i.assignee_id = p.id AND i.state = ANY(%(busy)s) LIMIT %(cap)s) o)
               END
        FROM grids_gridteam t
        JOIN grids_person l ON l.id = t.leader_id
        LEFT JOIN grids_teammembership m ON m.team_id = t.id
        LEFT JOIN grids_person p ON p.id = m.person_id
        WHERE t.grid_id = ANY(%(grids)s)
        UNION ALL
        SELECT 'village', v.village_id, p.id, p.external_id, p.name, p.role,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM grids_villageleader v JOIN grids_person p ON p.id = v.person_id
        WHERE v.village_id = ANY(%(villages)s)"""
    params = {"grids": sorted(grid_ids), "villages": sorted(village_ids), "all_roles": roles is None,
              "roles": sorted(roles or ()), "busy": sorted(rules.ASSIGNED), "cap": load_cap()}
    teams: dict[int, Team] = {}
    leaders: dict[int, PersonRef] = {}
    loads: dict[int, int] = {}
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_routing", sql, params)
        for kind, key, *head, role, slot, on_duty, person_id, ref, name, person_role, load in cursor.fetchall():
            if kind == "village":
                leaders[key] = PersonRef(*head)
                continue
            team = teams.setdefault(key, Team(key, PersonRef(*head)))
            if person_id is not None:
                team.posts.append(Post(role, slot, PersonRef(person_id, ref, name, person_role), on_duty))
                if load:
                    loads[person_id] = load
    for team in teams.values():
        team.posts.sort(key=lambda post: (post.role, post.slot))
    return teams, leaders, loads
