"""Activate a draft boundary generation (the town's active one is retired)."""
from django.core.management.base import BaseCommand, CommandError

from grids.models import BoundaryGeneration
from grids.services import GenerationError, generation_activate
from grids.validation import validate_generation


class Command(BaseCommand):
    help = "Validate a draft generation and activate it (dry run unless --commit)."

    def add_arguments(self, parser):
        parser.add_argument("generation", type=int)
        parser.add_argument("--commit", action="store_true")

    def handle(self, *args, **opts):
        generation = BoundaryGeneration.objects.filter(pk=opts["generation"]).first()
        if generation is None:
            raise CommandError(f"no generation {opts['generation']}")
        problems = validate_generation(generation)
        if problems:
            raise CommandError("not activated, the partition is invalid:\n  " + "\n  ".join(problems))
        if not opts["commit"]:
            self.stdout.write(f"generation {generation.pk} is valid; pass --commit to activate it")
            return
        try:
            generation_activate(generation=generation)
        except GenerationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"generation {generation.pk} is now active"))
