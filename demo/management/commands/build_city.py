"""Build the simulated city next to the data already stored: towns, grids, teams, cameras, incidents."""
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.progress import Progress
from demo.city import build_places
from demo.city_incidents import bulk_allowed, load_incidents
from incidents.models import Category
from incidents.services import categories_load


class Command(BaseCommand):
    help = ("Build a simulated city around Yangzhou next to the stored towns (never replacing them): "
            "--towns towns with villages, grids, teams and cameras, and --incidents incidents over three years. "
            "Reproducible from --seed (and --until); a second run keeps what is stored and adds what is missing.")

    def add_arguments(self, parser):
        parser.add_argument("--towns", type=int, default=100)
        parser.add_argument("--incidents", type=int, default=10_000_000)
        parser.add_argument("--seed", type=int, default=12)
        parser.add_argument("--until", help="the end of the three years (ISO date; default: now)")
        parser.add_argument("--bulk", action="store_true",
                            help="COPY with the triggers off, then compute the rollups once (a superuser role; "
                                 "about four times faster per chunk): for a bench database, never a live one")

    def rollup_progress(self, done: int, total: int) -> None:
        """The rollups' progress bar of a bulk build, its clock started by the first chunk of them."""
        if not hasattr(self, "_rollup_bar"):
            self._rollup_bar = Progress(self.stderr, "rollups  ")
        self._rollup_bar(done, total)

    def handle(self, *args, **opts):
        if opts["towns"] < 1 or opts["incidents"] < 0:
            raise CommandError("--towns must be at least 1 and --incidents at least 0")
        until = timezone.now()
        if opts["until"]:
            try:
                until = timezone.make_aware(datetime.fromisoformat(opts["until"]))
            except ValueError as exc:
                raise CommandError(f"--until: {exc}") from exc
        if opts["bulk"] and not bulk_allowed():
            raise CommandError("--bulk turns the triggers off (session_replication_role), which needs a superuser "
                               "database role: build without --bulk")
        if not Category.objects.exists():
            categories_load()
        started = time.monotonic()
        try:
            towns = build_places(opts["towns"], opts["seed"], Progress(self.stderr, "towns    "))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        placed = time.monotonic()
        try:
            counts = load_incidents(towns, opts["incidents"], opts["seed"], until,
                                    Progress(self.stderr, "incidents"), bulk_load=opts["bulk"],
                                    rollup_progress=self.rollup_progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        done = time.monotonic()
        self.stdout.write(self.style.SUCCESS(
            f"{len(towns)} towns in {placed - started:.1f} s; "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" added in {done - placed:.1f} s"))
