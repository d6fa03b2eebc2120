"""Token authentication on django-rest-knox that reads the token, its user, the user's groups and
linked person in one statement.

Tokens are knox's: only a SHA-512 digest is stored (``knox_authtoken.digest``, with the key's first 15
characters in ``token_key`` to find it), each expires after ``REST_KNOX["TOKEN_TTL"]``, a deleted row is
a revoked token, and the key is shown once, when it is issued (``issue_token``). The header stays
``Authorization: Token <key>`` and is the only place a key is read (``ApiKeyAuthentication`` in
incidents/open311.py adds Open311's ``api_key`` parameter for that API alone).
"""
from __future__ import annotations

import binascii
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from core import db
from core.actors import Actor


def issue_token(user, expiry=...) -> tuple[object, str]:
    """Issue a knox token for ``user``: return (the stored token, its key). The key is not stored and
    can never be read again; ``expiry`` (a timedelta, or None for no expiry) defaults to the TTL."""
    token_model = get_token_model()
    if expiry is ...:
        return token_model.objects.create(user=user)
    return token_model.objects.create(user=user, expiry=expiry)


def _tokens_by_key(key_start: str) -> list[tuple]:
    """Return (digest, expiry, created, user, group names, person id) for every token whose key starts so.

    Raw SQL, because it runs on every integration request: knox's lookup (token with its user, then
    the user's other tokens) and the actor's groups-and-person lookup would be several ORM queries
    whose compilation costs more than running them.
    """
    user_model = get_user_model()
    token_table = connection.ops.quote_name(get_token_model()._meta.db_table)
    fields = user_model._meta.concrete_fields
    columns = ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in fields)
    user_table = connection.ops.quote_name(user_model._meta.db_table)
    # the linked person through the user's one-to-one reverse relation ``person``, by its table name
    person_table = user_model._meta.get_field("person").related_model._meta.db_table
    sql = (f"SELECT t.digest, t.expiry, t.created, {columns}, "
           "array_remove(array_agg(DISTINCT g.name), NULL), min(p.id) "
           f"FROM {token_table} t JOIN {user_table} u ON u.id = t.user_id "
           "LEFT JOIN auth_user_groups ug ON ug.user_id = u.id LEFT JOIN auth_group g ON g.id = ug.group_id "
           f"LEFT JOIN {person_table} p ON p.user_id = u.id WHERE t.token_key = %(key)s "
           "GROUP BY t.digest, u.id")
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_knox_token_user", sql, {"key": key_start})
        rows = cursor.fetchall()
    names = [f.attname for f in fields]
    n = len(fields)
    return [(row[0], row[1], row[2], user_model.from_db(connection.alias, names, row[3:3 + n]), row[3 + n], row[4 + n])
            for row in rows]


class ActorTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``: knox's token authentication (same messages, the digest compared
    in constant time, an expired token deleted and refused, ``AUTO_REFRESH`` honoured), reading the
    token, user, groups and person in one statement, then ``Actor.remember``.

    Unlike knox, it does not delete the user's *other* expired tokens on every request (a query and
    a write per request); ``manage.py api_tokens prune`` does.
    """

    def authenticate_credentials(self, token):
        msg = _("Invalid token.")
        key = token.decode("utf-8") if isinstance(token, bytes) else str(token)
        if not (key.isascii() and key.isprintable()):  # no token has such characters (a NUL fails the query)
            raise exceptions.AuthenticationFailed(msg)
        try:
            digest = hash_token(key)
        except (TypeError, binascii.Error, UnicodeError, ValueError):
            raise exceptions.AuthenticationFailed(msg) from None
        now = timezone.now()
        found = None
        for stored_digest, expiry, created, user, groups, person_id in _tokens_by_key(key[:CONSTANTS.TOKEN_KEY_LENGTH]):
            if expiry is not None and expiry < now:
                get_token_model().objects.filter(digest=stored_digest).delete()
                token_expired.send(sender=self.__class__, username=user.get_username(), source="auth_token")
                continue
            if compare_digest(digest, stored_digest):
                found = (stored_digest, expiry, created, user, groups, person_id)
        if found is None:
            raise exceptions.AuthenticationFailed(msg)
        stored_digest, expiry, created, user, groups, person_id = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        auth_token = get_token_model()(digest=stored_digest, token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH],
                                       user=user, expiry=expiry, created=created)
        auth_token._state.adding = False
        if knox_settings.AUTO_REFRESH and expiry is not None:
            self.renew_token(auth_token)
        Actor.remember(user, groups=groups, person_id=person_id)
        return user, auth_token


class ActorTokenScheme(OpenApiAuthenticationExtension):
    """Describe the token header in the OpenAPI schema (as drf-spectacular's scheme for DRF's tokens)."""

    target_class = ActorTokenAuthentication
    name = "tokenAuth"
    match_subclasses = True
    priority = -1  # a subclass's own scheme (Open311's api_key) comes first

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization",
                                                   token_prefix=knox_settings.AUTH_HEADER_PREFIX)
