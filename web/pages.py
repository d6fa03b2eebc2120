"""Which page fits whom: the command centre for the command hall, the review for town leaders, the
workspace for grid teams."""
from __future__ import annotations

from core.actors import Actor, Role

COMMAND_ROLES = {Role.OPERATOR, Role.TOWN_LEADER, Role.PLANNER}


def home_for(user) -> str:
    """Return the home page of a logged-in user."""
    roles = Actor.of(user).global_roles()
    if Role.OPERATOR not in roles and Role.PLANNER in roles:
        return "/planner/"
    if Role.TOWN_LEADER in roles and Role.OPERATOR not in roles:
        return "/review/"
    if roles & COMMAND_ROLES:
        return "/command/"
    if getattr(user, "person", None) is not None if hasattr(user, "person") else False:
        return "/my/"
    return "/map/"
