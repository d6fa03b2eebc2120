"""Server-side prepared statements for the queries every intake runs.

PostgreSQL plans every statement it is sent; for the intake path's few fixed queries planning costs
more than running them. A statement prepared once per connection is planned once, then reused.
Prepared statements belong to the database session, not to a transaction (a rollback keeps them),
so each connection remembers which it has. Behind a transaction-mode connection pooler (pgbouncer),
session state does not follow the client: set DB_PREPARED_STATEMENTS=0 there.
"""
from __future__ import annotations

import re
import weakref

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection

_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # psycopg2 connection -> names
_NAMED = re.compile(r"%\((\w+)\)s")


def execute(cursor, name: str, sql: str, params: dict):
    """Run ``sql`` (``%(name)s`` parameters) on ``cursor`` as the prepared statement ``name``.

    The parameters are passed in the order they first appear; each ``%(x)s`` becomes ``$n``.
    Without DB_PREPARED_STATEMENTS, the statement is simply executed.
    """
    if not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    order: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    body = _NAMED.sub(number, sql)
    raw = connection.connection
    names = _prepared.setdefault(raw, set())
    if name not in names:
        cursor.execute(f"PREPARE {name} AS {body}")  # no parameters: psycopg2 leaves the text as it is
        names.add(name)
    placeholders = ", ".join(f"%({key})s" for key in order)
    cursor.execute(f"EXECUTE {name}({placeholders})" if order else f"EXECUTE {name}", params)


def compiled(qs) -> tuple[str, tuple] | None:
    """Return a queryset's SQL and parameters, to run or to nest in a statement of one's own; None when
    its filter holds nothing (Django raises ``EmptyResultSet`` for, say, an empty ``__in``: no rows)."""
    try:
        return qs.query.sql_with_params()
    except EmptyResultSet:
        return None
