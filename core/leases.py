"""Claiming rows of a work queue kept in a table (the outbox, SMS): a worker takes due rows with a lease.

``claim_due`` takes up to ``limit`` rows whose state is the pending one, whose time has come and whose
lease (if any) has run out, in id order, skipping rows another worker is claiming at the same moment
(``FOR UPDATE SKIP LOCKED``), and stamps them with its lease and one more attempt, in one short
transaction. The work itself runs outside any transaction; the worker then records the outcome only
while its lease still holds (``lease_until = lease``). A worker killed mid-way leaves its rows to the
next claim once the lease runs out. After a failed try, ``after_failure`` says when to try again, or
that the row is dead. Both queues use these; neither keeps a copy of them.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction


def claim_due(table: str, *, now: datetime, limit: int, lease_for: timedelta, due_column: str,
              join: str = "", where: str = "", params: dict | None = None) -> tuple[list[int], datetime]:
    """Claim due rows of ``table`` (alias ``o``; ``join`` and ``where`` add conditions with ``params``);
    return their ids and the lease that marks them as this worker's."""
    # microseconds of our own: two workers claiming in one instant still hold different leases
    lease = now + lease_for + timedelta(microseconds=uuid.uuid4().int % 1000)
    sql = f"""
WITH due AS (
  SELECT o.id FROM {table} o {join}
  WHERE o.state = 'pending' AND o.{due_column} <= %(now)s AND (o.lease_until IS NULL OR o.lease_until < %(now)s)
    {("AND " + where) if where else ""}
  ORDER BY o.id LIMIT %(limit)s
  FOR UPDATE OF o SKIP LOCKED
)
UPDATE {table} m SET lease_until = %(lease)s, attempts = m.attempts + 1
FROM due WHERE m.id = due.id
RETURNING m.id"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {**(params or {}), "now": now, "limit": limit, "lease": lease})
        return sorted(row[0] for row in cursor.fetchall()), lease


def after_failure(attempts: int, delays, now: datetime) -> dict:
    """Return the fields of a row whose ``attempts``-th try failed: the time of the next try after
    ``delays[attempts - 1]`` seconds, or ``state="dead"`` once every delay is spent."""
    if attempts > len(delays):
        return {"state": "dead"}
    return {"next_attempt_at": now + timedelta(seconds=float(delays[attempts - 1]))}
