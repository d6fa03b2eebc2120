"""Who is acting: a user with their groups and linked person, or the system; and the roles there are.

The roles an actor holds towards one incident are decided in ``incidents.selectors.roles_on``."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"                  # the platform itself: intake pipeline, SLA sweep
    OPERATOR = "operator"              # command-centre operator (指挥中心)
    PLANNER = "planner"                # grid office planner
    TOWN_LEADER = "town_leader"        # town leader (镇领导): reads everything
    INTEGRATION = "integration"        # 12345 hotline, mayor's mailbox, camera analytics (API token)
    GRID_LEADER = "grid_leader"        # leader of the team of the incident's handling grid
    GRID_MEMBER = "grid_member"        # member of that team
    ASSIGNEE = "assignee"              # the person the incident is assigned to now
    VILLAGE_LEADER = "village_leader"  # the town leader linked to the incident's village


GROUPS = ("operator", "planner", "town_leader", "grid_leader", "grid_member", "integration")


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (with their groups and linked person) or the system."""

    user: object | None
    label: str
    groups: frozenset[str] = frozenset()
    person_id: int | None = None
    superuser: bool = False

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user=None, label=label)

    @classmethod
    def of(cls, user) -> Actor:
        """Return the actor for a Django user: groups and person in one query, once per user object.

        The user object lives for one request (or one socket), so the permission check and the view
        share one lookup, and a change of groups takes effect at the next request.
        """
        if user is None or not user.is_authenticated:
            return cls(user=None, label="anonymous")
        cached = getattr(user, "_gridops_actor", None)
        if cached is not None:
            return cached
        # the person is the user's one-to-one reverse relation ``person`` (grids.Person.user)
        rows = list(user._meta.model.objects.filter(pk=user.pk).values_list("groups__name", "person__id"))
        return cls.remember(user, groups=[g for g, _ in rows if g], person_id=rows[0][1] if rows else None)

    @classmethod
    def remember(cls, user, *, groups, person_id: int | None) -> Actor:
        """Return the actor of ``user`` with these groups and person, kept on the user object for
        ``of`` (the token authentication reads them with the token, in the same statement)."""
        actor = cls(user=user, label=user.get_username(), groups=frozenset(groups), person_id=person_id,
                    superuser=user.is_superuser)
        user._gridops_actor = actor
        return actor

    @property
    def is_system(self) -> bool:
        return self.user is None and self.label != "anonymous"

    def global_roles(self) -> set[Role]:
        """Return the roles that do not depend on the incident."""
        roles = {Role(g) for g in self.groups if g in GROUPS}
        if self.is_system:
            roles.add(Role.SYSTEM)
        if self.superuser:
            roles.add(Role.OPERATOR)
        return roles
