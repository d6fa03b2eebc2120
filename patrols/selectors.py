"""Who sees whose patrols and tracks (personal data), in one place: each worker their own; a grid's
leader the people of the teams they lead; a village's leader the people of its grids' teams; the
command centre and the town's leaders everyone. Everything else sees nothing."""
from __future__ import annotations

from django.db.models import Q, QuerySet

from core.actors import Actor, Role
from grids.models import GridTeam, Person, TeamMembership
from patrols.models import Patrol

SEE_ALL = {Role.OPERATOR, Role.TOWN_LEADER}


def persons_visible_q(actor: Actor) -> Q | None:
    """Return the filter of the persons whose tracks the actor may see (None: everyone's)."""
    if actor.global_roles() & SEE_ALL:
        return None
    me = actor.person_id
    if me is None:
        return Q(pk__in=[])
    led = GridTeam.objects.filter(leader_id=me)
    village_teams = GridTeam.objects.filter(grid__village__leader_link__person_id=me)
    teams = led.values("pk").union(village_teams.values("pk"))
    members = TeamMembership.objects.filter(team_id__in=teams).values("person_id")
    leaders = village_teams.values("leader_id")
    return Q(pk=me) | Q(pk__in=members) | Q(pk__in=leaders)


def persons_visible_to(actor: Actor) -> QuerySet[Person]:
    q = persons_visible_q(actor)
    return Person.objects.all() if q is None else Person.objects.filter(q)


def patrols_visible_to(actor: Actor) -> QuerySet[Patrol]:
    q = persons_visible_q(actor)
    return Patrol.objects.all() if q is None else Patrol.objects.filter(person__in=Person.objects.filter(q))
