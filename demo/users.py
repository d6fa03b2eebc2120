"""Demo logins created by `make run` (known, printed passwords) or by GRIDOPS_DEMO=1 in the image (random
passwords printed once, no superuser)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, User

from core.actors import GROUPS, Role
from core.authentication import issue_token
from grids.models import Grid, GridTeam, Person, TeamMembership
from incidents.grants import grant_sources


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    group: str | None
    what: str
    superuser: bool = False
    person: str = ""  # LEADER or a Person.Role: linked to that post (A) of the first comprehensive grid


LEADER = "leader"  # the team's leader, not a member post
DEMO_USERS = [
    DemoUser("admin", "gongdao-admin", None, "administrator: Django admin with map widgets", superuser=True),
    DemoUser("operator", "gongdao-operator", Role.OPERATOR, "command-centre operator (指挥中心): /command/"),
    DemoUser("planner", "gongdao-planner", Role.PLANNER, "grid office planner (网格办): /planner/"),
    DemoUser("leader", "gongdao-leader", Role.TOWN_LEADER, "town leader (镇领导): reads everything, /review/"),
    DemoUser("gridleader", "gongdao-gridleader", Role.GRID_LEADER, "grid leader (网格长) of grid 001: /my/",
             person=LEADER),
    DemoUser("gridworker", "gongdao-gridworker", Role.GRID_MEMBER, "full-time grid worker (专职网格员) of grid 001",
             person=Person.Role.GRID_WORKER),
    DemoUser("hotline", "gongdao-hotline", Role.INTEGRATION, "12345 hotline integration client (API token)"),
]


# The sources each demo integration client may post for (incidents.grants; the others' roles decide theirs).
DEMO_GRANTS = {"hotline": ["hotline_12345"]}


def _demo_person(kind: str) -> Person | None:
    grid = Grid.objects.active().filter(kind=Grid.Kind.COMPREHENSIVE).order_by("code").first()
    team = GridTeam.objects.filter(grid=grid).select_related("leader").first() if grid else None
    if team is None:
        return None
    if kind == LEADER:
        return team.leader
    post = team.memberships.filter(role=kind, slot=TeamMembership.Slot.A).select_related("person").first()
    return post.person if post else None


def known_passwords() -> bool:
    """Whether the demo users get the printed passwords: in development and tests; under production
    settings (GRIDOPS_DEMO=1 in the image) each gets a random one, printed once when it is created."""
    return getattr(settings, "ENVIRONMENT", "production") != "production"


def ensure_demo_users(*, known: bool | None = None) -> dict[str, str]:
    """Create the groups and the demo users that are missing; return {username: password} of those created.

    A user that exists keeps its password (it is set on creation only, never reset on a restart). With
    known passwords (development, tests) the superuser `admin` is among them; otherwise there is no demo
    superuser at all: `manage.py createsuperuser` makes one, with a password from the prompt or
    DJANGO_SUPERUSER_PASSWORD."""
    known = known_passwords() if known is None else known
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
    created = {}
    for demo in DEMO_USERS:
        if demo.superuser and not known:
            continue
        user, is_new = User.objects.get_or_create(username=demo.username)
        if is_new:
            created[demo.username] = demo.password if known else secrets.token_urlsafe(12)
            user.is_staff = user.is_superuser = demo.superuser
            user.set_password(created[demo.username])
            user.save()
        user.groups.set([groups[demo.group]] if demo.group else [])
        grant_sources(user, DEMO_GRANTS.get(demo.username, []))
        if demo.person and (person := _demo_person(demo.person)) is not None:
            Person.objects.filter(user=user).exclude(pk=person.pk).update(user=None)
            person.user = user
            person.save(update_fields=["user"])
    return created


def demo_token(username: str = "hotline") -> str:
    """Issue a fresh API token for a demo integration client and return its key.

    Tokens are stored as digests (knox): an existing key cannot be shown again, so each call issues a
    new one (expiring after the usual TTL). Raises User.DoesNotExist before ``load_demo_data``."""
    return issue_token(User.objects.get(username=username))[1]
