"""Writes on towns, generations and grids: every change goes through one function here."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from grids.models import BoundaryGeneration


class GenerationError(Exception):
    """A generation cannot make the requested move (message says why)."""


@transaction.atomic
def generation_activate(*, generation: BoundaryGeneration) -> BoundaryGeneration:
    """Retire the town's active generation and make this one active, in one transaction.

    The partial unique index ``one_active_generation_per_town`` guarantees that no other
    session can leave two active generations behind; rows are locked in a fixed order.
    """
    locked = list(
        BoundaryGeneration.objects.select_for_update()
        .filter(town=generation.town_id, status__in=["active", "draft"])
        .order_by("pk")
    )
    target = next((g for g in locked if g.pk == generation.pk), None)
    if target is None:
        raise GenerationError(f"generation {generation.pk} is {generation.status}; only a draft can be activated")
    if target.status == BoundaryGeneration.Status.ACTIVE:
        return target
    now = timezone.now()
    for current in locked:
        if current.status == BoundaryGeneration.Status.ACTIVE:
            current.status = BoundaryGeneration.Status.RETIRED
            current.retired_at = now
            current.save(update_fields=["status", "retired_at"])
    target.status = BoundaryGeneration.Status.ACTIVE
    target.activated_at = now
    target.save(update_fields=["status", "activated_at"])
    transaction.on_commit(_announce_activation)
    return target


def _announce_activation() -> None:
    from grids.fast_locator import invalidate_cache

    invalidate_cache()
