"""Reads for routing: the teams of a set of grids, the villages' linked leaders, people's open loads.

Raw SQL, because routing runs inside every intake: three parameterised statements replace five ORM
queries with prefetches whose compilation alone cost more than a millisecond per intake. Rows are
plain tuples; nothing here decides who gets an incident (that is ``dispatch.routing``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

BUSY_STATES = ("dispatched", "in_progress")


@dataclass(frozen=True)
class PersonRef:
    """A person as routing needs them: the row id and the public id (``P0042``)."""

    id: int
    external_id: str


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


def teams_of(grid_ids: set[int]) -> dict[int, Team]:
    """Return the team of each grid (leader and every post) by grid id."""
    if not grid_ids:
        return {}
    sql = """
        SELECT t.grid_id, l.id, l.external_id, m.role, m.slot, m.on_duty, p.id, p.external_id
        FROM grids_gridteam t
        JOIN grids_person l ON l.id = t.leader_id
        LEFT JOIN grids_teammembership m ON m.team_id = t.id
        LEFT JOIN grids_person p ON p.id = m.person_id
        WHERE t.grid_id = ANY(%s)
        ORDER BY t.grid_id, m.role, m.slot"""
    teams: dict[int, Team] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(grid_ids)])
        for grid_id, leader_id, leader_ref, role, slot, on_duty, person_id, person_ref in cursor.fetchall():
            team = teams.setdefault(grid_id, Team(grid_id, PersonRef(leader_id, leader_ref)))
            if person_id is not None:
                team.posts.append(Post(role, slot, PersonRef(person_id, person_ref), on_duty))
    return teams


def village_leaders_of(village_ids: set[int]) -> dict[int, PersonRef]:
    """Return the town leader linked to each village (包村领导) by village id."""
    if not village_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.village_id, p.id, p.external_id FROM grids_villageleader v "
            "JOIN grids_person p ON p.id = v.person_id WHERE v.village_id = ANY(%s)", [list(village_ids)])
        return {village_id: PersonRef(pid, ref) for village_id, pid, ref in cursor.fetchall()}


def open_loads(person_ids: set[int]) -> dict[int, int]:
    """Return how many incidents each person holds dispatched or in progress (absent: none)."""
    if not person_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT assignee_id, count(*) FROM incidents_incident "
            "WHERE assignee_id = ANY(%s) AND state = ANY(%s) GROUP BY assignee_id",
            [list(person_ids), list(BUSY_STATES)])
        return dict(cursor.fetchall())
