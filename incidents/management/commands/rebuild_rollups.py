"""Recompute the incident rollups (incidents.rollups) from the incidents and their events."""
import time

from django.core.management.base import BaseCommand

from incidents.rollups import drift, rebuild_rollups


class Command(BaseCommand):
    help = ("Recompute incidents_rollup from the incidents and their events, in one transaction that "
            "holds writers back meanwhile (safe to run twice, safe while intake runs). --check only reports "
            "how many rollup rows differ from a recomputation.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare only; change nothing")

    def handle(self, *args, check: bool = False, **options):
        started = time.monotonic()
        if check:
            differing = drift()
            self.stdout.write(f"{len(differing)} rollup rows differ from the incidents")
            for row in differing[:20]:
                self.stdout.write(f"  {row}")
            return
        rows = rebuild_rollups()
        self.stdout.write(f"rebuilt {rows} rollup rows in {time.monotonic() - started:.1f} s")
