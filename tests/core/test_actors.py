"""The token authentication's one-statement actor equals the ordinary path's (``Actor.of`` on a user
read through the ORM): the same groups, person and superuser flag, with and without a linked person."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from core.actors import Actor, Role
from core.authentication import ActorTokenAuthentication
from tests.auth import token_for
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db


def _both(user: User) -> tuple[Actor, Actor]:
    fast_user, _ = ActorTokenAuthentication().authenticate_credentials(token_for(user))
    return Actor.of(fast_user), Actor.of(User.objects.get(pk=user.pk))


def test_a_member_with_a_person_and_two_groups():
    person = f.holder(f.grid(), "grid_worker", "A")
    user = f.user("grid_member", "integration", person=person)
    fast, ordinary = _both(user)
    assert fast == ordinary
    assert fast.person_id == person.pk and fast.global_roles() == {Role.GRID_MEMBER, Role.INTEGRATION}


def test_a_client_without_a_person_or_a_group():
    fast, ordinary = _both(User.objects.create_user("bare", password="x"))
    assert fast == ordinary and fast.person_id is None and fast.groups == frozenset()


def test_a_superuser():
    user = User.objects.create_superuser("root2", password="x")
    user.groups.add(Group.objects.get_or_create(name="planner")[0])
    fast, ordinary = _both(user)
    assert fast == ordinary and fast.superuser and Role.OPERATOR in fast.global_roles()
