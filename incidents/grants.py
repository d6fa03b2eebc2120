"""Which sources a client may post incidents for: the one place that decides it.

- operators (and superusers, and the platform itself) may post for every source;
- integration clients for the sources they are granted, one ``SourceGrant`` row each (the 12345
  account: hotline_12345 only), managed in the admin or by ``grant_sources``;
- grid leaders and members for "patrol" (what they find on their rounds).

A user may hold several of these; the sources add up.
"""
from __future__ import annotations

from django.db import connection

from core import db
from core.actors import Actor, Role
from incidents.models import Incident, SourceGrant

EVERY_SOURCE = frozenset(Incident.Source.values)
GRID_TEAM_SOURCES = frozenset({Incident.Source.PATROL.value})


def sources_allowed(actor: Actor) -> frozenset[str]:
    """Return the sources ``actor`` may post incidents for (possibly none)."""
    roles = actor.global_roles()
    if roles & {Role.OPERATOR, Role.SYSTEM}:
        return EVERY_SOURCE
    allowed: set[str] = set()
    if roles & {Role.GRID_LEADER, Role.GRID_MEMBER}:
        allowed |= GRID_TEAM_SOURCES
    if Role.INTEGRATION in roles and actor.user is not None:
        allowed |= _granted(actor.user.pk)
    return frozenset(allowed)


def _granted(client_id: int) -> set[str]:
    """Return the sources granted to the client: a prepared statement (every integration request asks,
    and building the ORM query cost more than running it)."""
    quote, meta = connection.ops.quote_name, SourceGrant._meta
    sql = (f"SELECT {quote(meta.get_field('source').column)} FROM {quote(meta.db_table)} "
           f"WHERE {quote(meta.get_field('client').column)} = %(client)s")
    with connection.cursor() as cursor:
        db.execute(cursor, "gridops_source_grants", sql, {"client": client_id})
        return {row[0] for row in cursor.fetchall()}


def refusal(source: str, allowed: frozenset[str]) -> str | None:
    """Return the field message refusing ``source``, or None when it is allowed."""
    if source in allowed:
        return None
    granted = ", ".join(sorted(allowed)) or "none"
    return f"this client may not post incidents for source {source!r} (granted: {granted})"


def grant_sources(client, sources: list[str]) -> None:
    """Grant ``client`` (a user) exactly these sources (the demo users and the admin use it)."""
    unknown = set(sources) - EVERY_SOURCE
    if unknown:
        raise ValueError(f"unknown sources: {', '.join(sorted(unknown))}")
    SourceGrant.objects.filter(client=client).exclude(source__in=sources).delete()
    for source in sources:
        SourceGrant.objects.get_or_create(client=client, source=source)
