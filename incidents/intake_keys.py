"""Batch-level idempotency: the ``Idempotency-Key`` header of ``POST /api/incidents/batch/``.

Rows without an external_id are new incidents each time they are sent; a client that must re-send a
whole batch (a timeout, a dropped connection) sends the same ``Idempotency-Key`` with it. The same
client re-sending the same key gets the first answer again and nothing new is stored; the same key
with a different body is refused (422); a key lives ``settings.INTAKE_IDEMPOTENCY_TTL_H`` hours (24).

The key row is written in the batch's own transaction (in PostgreSQL, so it outlives a Redis
restart): a concurrent request with the same key waits on the unique index until the first commits,
then replays its answer; if the first rolls back, the second runs.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import IntakeKey

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"  # printable ASCII, no spaces, as the IETF draft's examples
_KEY = re.compile(KEY_PATTERN)


class KeyInvalid(ValueError):
    """The header's value is not a usable key."""


class KeyReused(ValueError):
    """The key was used before with another body."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict
    replayed: bool


def check_key(value: str) -> str:
    """Return the key, or raise ``KeyInvalid`` with the message for the 400."""
    if not _KEY.match(value):
        raise KeyInvalid("1 to 200 printable ASCII characters without spaces, unique per batch")
    return value


def body_digest(data) -> str:
    """Return the SHA-256 of the parsed body in canonical JSON (key order and spacing do not count)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def run_once(*, client, key: str, data, run: Callable[[], tuple[int, dict]], now: datetime | None = None) -> Answer:
    """Run ``run`` (it stores the batch; returns status and body) once per (client, key) and keep its
    answer; a repeat within the key's lifetime returns that answer. ``KeyReused`` for another body."""
    now = now or timezone.now()
    digest = body_digest(data)
    with transaction.atomic():
        IntakeKey.objects.filter(expires_at__lte=now).delete()  # expired keys, anyone's: the index on expires_at
        try:
            with transaction.atomic():
                stored = IntakeKey.objects.create(client=client, key=key, body_sha256=digest, status_code=0,
                                                  response={}, created_at=now,
                                                  expires_at=now + timedelta(hours=settings.INTAKE_IDEMPOTENCY_TTL_H))
        except IntegrityError:  # used before (or by a concurrent request that has now committed)
            stored = IntakeKey.objects.get(client=client, key=key)
            if stored.body_sha256 != digest:
                raise KeyReused(f"this {HEADER} was used with another body; use a new key for a new batch") from None
            return Answer(stored.status_code, stored.response, replayed=True)
        status_code, body = run()
        stored.status_code, stored.response = status_code, body
        stored.save(update_fields=["status_code", "response"])
        return Answer(status_code, body, replayed=False)
