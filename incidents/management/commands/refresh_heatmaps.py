"""Sum the whole city's long heatmaps kept ahead (incidents.heat_ahead), as the beat job does."""
import time

from django.core.management.base import BaseCommand

from incidents.hotspots import refresh_heat_ahead, refresh_heat_live


class Command(BaseCommand):
    help = ("Sum the heatmaps kept ahead that are missing or stale (the day changed, or many late changes "
            "fell in their days), then the live ones (the N days ending now), as the 'heat-ahead' beat job does "
            "every 5 minutes; --force sums every daily run. Safe to run twice and beside the job (the second "
            "leaves).")

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="sum every run again, stale or not")

    def handle(self, *args, force: bool = False, **options):
        started = time.monotonic()
        runs = refresh_heat_ahead(force=force)
        runs += refresh_heat_live()
        for run in runs:
            self.stdout.write(f"  {run.days} days{' ending now' if run.part_start else ''}, {run.cell_m} m: "
                              f"{run.cells} cells")
        self.stdout.write(f"summed {len(runs)} heatmap runs in {time.monotonic() - started:.1f} s")
