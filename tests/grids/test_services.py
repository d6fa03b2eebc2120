"""Generations: activation moves, refusals, and the database rule of one active per town."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from grids.models import BoundaryGeneration
from grids.services import GenerationError, generation_activate
from planner.services import generation_draft

pytestmark = pytest.mark.django_db


def test_activating_a_draft_retires_the_active_one(square_town):
    draft = generation_draft(town=square_town.town, description="redrawn")
    generation_activate(generation=draft)
    square_town.refresh_from_db()
    draft.refresh_from_db()
    assert (square_town.status, draft.status) == ("retired", "active")
    assert draft.activated_at is not None and square_town.retired_at is not None


def test_activating_the_active_generation_changes_nothing(square_town):
    activated_at = square_town.activated_at
    generation_activate(generation=square_town)
    square_town.refresh_from_db()
    assert square_town.status == "active" and square_town.activated_at == activated_at


def test_a_retired_generation_cannot_come_back(square_town):
    draft = generation_draft(town=square_town.town)
    generation_activate(generation=draft)
    square_town.refresh_from_db()
    with pytest.raises(GenerationError, match="only a draft"):
        generation_activate(generation=square_town)


def test_an_empty_draft_is_refused_with_its_problems(square_town):
    draft = BoundaryGeneration.objects.create(town=square_town.town)
    with pytest.raises(GenerationError, match="does not partition") as refused:
        generation_activate(generation=draft)
    assert len(refused.value.problems) == 2 and all("not covered" in p for p in refused.value.problems)
    draft.refresh_from_db()
    square_town.refresh_from_db()
    assert (draft.status, square_town.status) == ("draft", "active")


def test_database_refuses_two_active_generations(square_town):
    with pytest.raises(IntegrityError), transaction.atomic():
        BoundaryGeneration.objects.create(town=square_town.town, status="active", activated_at=timezone.now())


def test_active_generation_needs_an_activation_time(square_town):
    draft = BoundaryGeneration.objects.create(town=square_town.town)
    with pytest.raises(IntegrityError), transaction.atomic():
        BoundaryGeneration.objects.filter(pk=draft.pk).update(status="active")


def test_activate_command_is_a_dry_run_without_commit(square_town, capsys):
    from django.core.management import call_command

    draft = BoundaryGeneration.objects.create(town=square_town.town)
    for grid in square_town.grids.all():
        grid.pk, grid.generation = None, draft
        grid.save()
    call_command("activate_generation", str(draft.pk))
    draft.refresh_from_db()
    assert draft.status == "draft" and "is valid" in capsys.readouterr().out
    call_command("activate_generation", str(draft.pk), "--commit")
    draft.refresh_from_db()
    assert draft.status == "active"
