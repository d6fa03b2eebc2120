"""Token authentication that reads the token, its user, the user's groups and linked person at once."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core import db
from core.actors import Actor


def _user_by_token(key: str):
    """Return (user, group names, person id) for a token key, or None.

    Raw SQL, because it runs on every integration request: DRF's token lookup and the actor's
    groups-and-person lookup would be two ORM queries whose compilation costs more than running them.
    """
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    columns = ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in fields)
    # the linked person through the user's one-to-one reverse relation ``person``, by its table name
    person_table = user_model._meta.get_field("person").related_model._meta.db_table
    sql = (f"SELECT {columns}, array_remove(array_agg(DISTINCT g.name), NULL), min(p.id) "
           "FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id "
           "LEFT JOIN auth_user_groups ug ON ug.user_id = u.id LEFT JOIN auth_group g ON g.id = ug.group_id "
           f"LEFT JOIN {person_table} p ON p.user_id = u.id WHERE t.key = %(key)s GROUP BY u.id")
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_token_user", sql, {"key": key})
        row = cursor.fetchone()
    if row is None:
        return None
    user = user_model.from_db(connection.alias, [f.attname for f in fields], row[:len(fields)])
    return user, row[len(fields)], row[len(fields) + 1]


class ActorTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's TokenAuthentication (same messages), in one statement."""

    def authenticate_credentials(self, key):
        found = _user_by_token(key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, groups, person_id = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        Actor.remember(user, groups=groups, person_id=person_id)
        token = Token(key=key, user=user)
        return user, token
