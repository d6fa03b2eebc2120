"""Staff the demo grids with fictional people, using the counts of the town's report.

Names are drawn (seeded) from common surname and given-name characters and are fictional; phone
numbers are fictional 11-digit strings starting "1099", outside every Chinese mobile prefix (13-19).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grids.models import Person as Staff
from grids.models import TeamMembership

Role, Slot = Staff.Role, TeamMembership.Slot
ROLE_COUNTS: tuple[tuple[str, int], ...] = (
    (Role.TOWN_LEADER, 13), (Role.CADRE, 45), (Role.GRID_WORKER, 45), (Role.POLICE, 34), (Role.ENFORCEMENT, 14),
)
MEMBER_ROLES = (Role.GRID_WORKER, Role.POLICE, Role.ENFORCEMENT, Role.CADRE)
OFF_DUTY = ((Role.GRID_WORKER, 2), (Role.POLICE, 1), (Role.ENFORCEMENT, 1))
SURNAMES = tuple("王陈张李刘朱周徐吴孙杨黄赵钱沈顾蒋许卞唐丁宋胡郭马潘高戴夏殷仇郑韩冯史")
GIVEN = tuple("建国明华军红伟芳丽强勇玲静娟海涛斌峰磊敏燕霞杰俊鹏晨宇婷雪梅兰春秋志文平东林源浩然欣怡嘉成立新亮")
PHONE_PREFIX = "1099"


@dataclass(frozen=True)
class Person:
    """A fictional person: stable id (P0001..), name, phone and role."""

    person_id: str
    name: str
    phone: str
    role: str


@dataclass(frozen=True)
class TeamRow:
    """One row of team_members.csv."""

    grid_code: str
    person_id: str
    team_role: str
    role: str
    slot: str
    on_duty: bool


def fictional_names(count: int, rng: np.random.Generator) -> list[str]:
    """Return ``count`` distinct fictional Chinese names of two or three characters."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
        size = 1 if rng.random() < 0.3 else 2
        given = "".join(GIVEN[int(i)] for i in rng.choice(len(GIVEN), size=size, replace=False))
        if surname + given not in seen:
            seen.add(surname + given)
            names.append(surname + given)
    return names


def make_people(rng: np.random.Generator) -> dict[str, list[Person]]:
    """Return the people by role, ids P0001.. in ROLE_COUNTS order, phones 1099 + 7 digits."""
    total = sum(count for _, count in ROLE_COUNTS)
    names = iter(fictional_names(total, rng))
    people: dict[str, list[Person]] = {}
    number = 0
    for role, count in ROLE_COUNTS:
        people[role] = []
        for _ in range(count):
            number += 1
            phone = f"{PHONE_PREFIX}{int(rng.integers(0, 1000)):03d}{number:04d}"
            people[role].append(Person(f"P{number:04d}", next(names), phone, role))
    return people


def village_leaders(stems: Sequence[str], leaders: Sequence[Person]) -> list[str]:
    """Return, per village (code order), the id of its town leader; units sharing a stem share one."""
    distinct = list(dict.fromkeys(stems))
    if len(distinct) != len(leaders):
        raise ValueError(f"{len(distinct)} distinct villages for {len(leaders)} town leaders")
    by_stem = {stem: leaders[i].person_id for i, stem in enumerate(distinct)}
    return [by_stem[stem] for stem in stems]


def split_by_share(total: int, sizes: Sequence[int]) -> list[int]:
    """Return per-group counts of ``total`` by largest remainder on ``sizes`` (1 <= count <= size)."""
    quotas = [total * size / sum(sizes) for size in sizes]
    counts = [min(max(int(q), 1), size) for q, size in zip(quotas, sizes, strict=True)]
    while sum(counts) != total:
        step = 1 if sum(counts) < total else -1
        movable = [i for i, size in enumerate(sizes) if 1 <= counts[i] + step <= size]
        if not movable:
            raise ValueError("cannot split people over groups")
        pick = max(movable, key=lambda i: (step * (quotas[i] - counts[i]), -i))
        counts[pick] += step
    return counts


@dataclass(frozen=True)
class GridLayout:
    """Comprehensive grids in code order with their village and neighbours (for backups)."""

    codes: list[str]
    village: list[int]
    grid_neighbour: list[int]
    village_neighbour: list[int]


def holders(layout: GridLayout, people: dict[str, list[Person]]) -> dict[str, list[tuple[str, str]]]:
    """Return, per member role, the (A holder, B backup) person ids of every grid (code order)."""
    size = len(layout.codes)
    own = {role: [people[role][i].person_id for i in range(size)] for role in (Role.CADRE, Role.GRID_WORKER)}
    result = {role: [(ids[i], ids[layout.grid_neighbour[i]]) for i in range(size)] for role, ids in own.items()}
    result[Role.POLICE] = _police(layout, people[Role.POLICE])
    villages = sorted(set(layout.village))
    officer = {v: people[Role.ENFORCEMENT][k].person_id for k, v in enumerate(villages)}
    result[Role.ENFORCEMENT] = [
        (officer[layout.village[i]], officer[layout.village_neighbour[layout.village[i]]]) for i in range(size)
    ]
    return result


def _police(layout: GridLayout, police: Sequence[Person]) -> list[tuple[str, str]]:
    villages = sorted(set(layout.village))
    members = {v: [i for i, x in enumerate(layout.village) if x == v] for v in villages}
    counts = split_by_share(len(police), [len(members[v]) for v in villages])
    pool, start = {}, 0
    for v, count in zip(villages, counts, strict=True):
        pool[v] = [p.person_id for p in police[start:start + count]]
        start += count
    holder = {}
    for v in villages:
        for j, grid in enumerate(members[v]):
            holder[grid] = pool[v][j * len(pool[v]) // len(members[v])]
    pairs = []
    for grid, v in enumerate(layout.village):
        backup = holder[layout.grid_neighbour[grid]]
        if backup == holder[grid]:
            others = [p for p in pool[v] if p != holder[grid]]
            backup = others[0] if others else pool[layout.village_neighbour[v]][0]
        pairs.append((holder[grid], backup))
    return pairs


def off_duty(pairs: dict[str, list[tuple[str, str]]], rng: np.random.Generator) -> set[str]:
    """Return a few A holders who are off duty, never both holders of one post."""
    chosen: set[str] = set()
    for role, count in OFF_DUTY:
        candidates = sorted({a for a, _ in pairs[role]})
        picked = 0
        for index in rng.permutation(len(candidates)):
            person = candidates[int(index)]
            if picked < count and all(not ({a, b} <= chosen | {person}) for a, b in pairs[role]):
                chosen.add(person)
                picked += 1
    return chosen


def team_rows(code: str, index: int, pairs: dict[str, list[tuple[str, str]]], away: set[str]) -> list[TeamRow]:
    """Return the rows of one team: the leader (the grid's cadre) then an A and a B per member role."""
    leader = pairs[Role.CADRE][index][0]
    rows = [TeamRow(code, leader, "leader", Role.CADRE, Slot.A, True)]
    for role in MEMBER_ROLES:
        for slot, person in zip((Slot.A, Slot.B), pairs[role][index], strict=True):
            on_duty = role == Role.CADRE or person not in away
            rows.append(TeamRow(code, person, "member", role, slot, on_duty))
    return rows
