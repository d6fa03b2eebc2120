"""Build the simulated city next to the data already stored: towns, grids, teams, cameras, incidents."""
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from demo.city import build_places
from demo.city_incidents import load_incidents
from incidents.models import Category
from incidents.services import categories_load


class Progress:
    """A one-line progress bar on stderr (rate and time left), redrawn at most twice a second."""

    def __init__(self, out, label: str):
        self.out, self.label, self.start, self.shown = out, label, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5 and done < total:
            return
        self.shown = now
        rate = done / max(now - self.start, 1e-9)
        left = (total - done) / rate if rate else 0
        bar = "#" * int(30 * done / total)
        self.out.write(f"\r{self.label} [{bar:<30}] {done:,}/{total:,} {rate:,.0f}/s {left:,.0f} s left  ")
        if done >= total:
            self.out.write("\n")
        self.out.flush()


class Command(BaseCommand):
    help = ("Build a simulated city around Yangzhou next to the stored towns (never replacing them): "
            "--towns towns with villages, grids, teams and cameras, and --incidents incidents over three years. "
            "Reproducible from --seed (and --until); a second run keeps what is stored and adds what is missing.")

    def add_arguments(self, parser):
        parser.add_argument("--towns", type=int, default=100)
        parser.add_argument("--incidents", type=int, default=10_000_000)
        parser.add_argument("--seed", type=int, default=12)
        parser.add_argument("--until", help="the end of the three years (ISO date; default: now)")

    def handle(self, *args, **opts):
        if opts["towns"] < 1 or opts["incidents"] < 0:
            raise CommandError("--towns must be at least 1 and --incidents at least 0")
        until = timezone.now()
        if opts["until"]:
            try:
                until = timezone.make_aware(datetime.fromisoformat(opts["until"]))
            except ValueError as exc:
                raise CommandError(f"--until: {exc}") from exc
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
                                    Progress(self.stderr, "incidents"))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        done = time.monotonic()
        self.stdout.write(self.style.SUCCESS(
            f"{len(towns)} towns in {placed - started:.1f} s; "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f" added in {done - placed:.1f} s"))
