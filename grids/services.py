"""Writes on generations: publishing one (the import commands' and the planner's one way to do it).

Drafts and their edits are the planner's (``planner.services``)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from grids.locator import invalidate_cache
from grids.models import BoundaryGeneration
from grids.signals import generation_activated
from grids.validation import validate_generation


class GenerationError(Exception):
    """A generation cannot make the requested move (message says why; ``problems`` lists a partition's)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


@transaction.atomic
def generation_activate(*, generation: BoundaryGeneration) -> BoundaryGeneration:
    """Retire the town's active generation and make this one active (publish it), in one transaction.

    A draft whose comprehensive grids do not partition its villages is refused (GenerationError with
    the problems), checked under the lock, so nothing can publish an invalid partition. The partial
    unique index ``one_active_generation_per_town`` guarantees that no other session can leave two
    active generations behind; rows are locked in a fixed order. ``generation_activated`` is sent
    before the commit, so what follows the generation (cameras' grids) changes with it or not at all.
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
    problems = validate_generation(target)
    if problems:
        raise GenerationError(f"generation {target.pk} does not partition its villages: {len(problems)} problem(s)",
                              problems)
    now = timezone.now()
    for current in locked:
        if current.status == BoundaryGeneration.Status.ACTIVE:
            current.status = BoundaryGeneration.Status.RETIRED
            current.retired_at = now
            current.save(update_fields=["status", "retired_at"])
    target.status = BoundaryGeneration.Status.ACTIVE
    target.activated_at = now
    target.save(update_fields=["status", "activated_at"])
    generation_activated.send(sender=BoundaryGeneration, generation=target)
    transaction.on_commit(invalidate_cache)  # this process; the others see the new activation time
    return target
