"""Who sees what of the people in the grids, written once: phone numbers are personal information
(PIPL), so a phone goes out in full only to those who work with its holder.

``phone_visibility(actor, grid)`` decides how the phones of a grid's team are shown to an actor:

- ``FULL``: the operators (and superusers), the town leaders, the system, the grid's own team
  (its leader and members) and the leader linked to the grid's village (包村领导);
- ``MASKED`` (``138****5678``): every other logged-in member of staff (planners, other grids' teams);
- ``NONE``: integration clients (API tokens) and anonymous users: no number at all; integration
  clients read no names of the grids' people either (``names_visible``).

An incident's reporter follows the same levels, decided on the incident's roles
(``incidents.selectors.reporter_visibility``); both render through ``show_phone`` / ``show_name``.
"""
from __future__ import annotations

from django.db.models import Q

from core.actors import Actor, Role
from grids.models import Grid, GridTeam, VillageLeader

FULL, MASKED, NONE = "full", "masked", "none"

# Roles that see every number in full, whatever the grid.
SEES_ALL = frozenset({Role.OPERATOR, Role.TOWN_LEADER, Role.SYSTEM})


def base_visibility(actor: Actor) -> str | None:
    """Return the level that does not depend on the grid (None: it depends on the grid)."""
    if actor.user is None and not actor.is_system:
        return NONE
    roles = actor.global_roles()
    if roles & SEES_ALL:
        return FULL
    if Role.INTEGRATION in roles:
        return NONE
    return None


def phone_visibility(actor: Actor, grid: Grid | None) -> str:
    """Return how the phones of ``grid``'s team are shown to ``actor``: FULL, MASKED or NONE."""
    level = base_visibility(actor)
    if level is not None:
        return level
    person = actor.person_id
    if person is not None and grid is not None:
        if GridTeam.objects.filter(Q(leader_id=person) | Q(memberships__person_id=person), grid_id=grid.pk).exists():
            return FULL
        if VillageLeader.objects.filter(village_id=grid.village_id, person_id=person).exists():
            return FULL
    return MASKED


def names_visible(actor: Actor) -> bool:
    """Return whether the actor may read the names of the grids' people: not an integration client
    (a hotline posts incidents, it has no business with who works in the grids). The map's public
    grid layer names each grid's leader, as the signboards in the grids do."""
    return not (Role.INTEGRATION in actor.global_roles() and base_visibility(actor) == NONE)


def mask_phone(phone: str) -> str:
    """Return the number with its middle hidden: ``13812345678`` -> ``138****5678`` (the first 3 and
    the last 4 digits kept, +86 dropped; a shorter number keeps at most its last 2)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):  # +86 and a mobile number
        digits = digits[2:]
    if not digits:
        return ""
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    keep = min(2, len(digits) // 3)
    return "*" * (len(digits) - keep) + digits[len(digits) - keep:]


def show_phone(phone: str, level: str) -> str | None:
    """Return the phone as ``level`` shows it (None for NONE)."""
    if level == FULL:
        return phone
    if level == MASKED:
        return mask_phone(phone)
    return None


def show_name(name: str, level: str) -> str | None:
    """Return a private person's name (an incident's reporter) as ``level`` shows it: in full,
    with all but the first character hidden (``王**``), or not at all."""
    if level == FULL:
        return name
    if level == MASKED:
        return name[:1] + "*" * (len(name) - 1) if name else ""
    return None


def team_dict(team: GridTeam | None, level: str) -> dict | None:
    """Return a team (leader, every post) with its phones shown at ``level``: the one rendering of a
    team that the grid API and the incident side panel share."""
    if team is None:
        return None

    def person(p) -> dict:
        return {"person_id": p.external_id, "name": p.name, "phone": show_phone(p.phone, level)}

    return {
        "grid_code": team.grid.code, "grid_name": team.grid.name, "village": team.grid.village.name,
        "leader": person(team.leader),
        "members": [{"role": m.role, "slot": m.slot, "on_duty": m.on_duty, **person(m.person)}
                    for m in team.memberships.all()],
    }
