"""Recompute the incident rollups (incidents.rollups) from the incidents and their events."""
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import ProgrammingError

from core.progress import Progress
from incidents.rollups import REBUILD_CHUNK, cluster_rollups, drift, rebuild_rollups


class Command(BaseCommand):
    help = ("Recompute incidents_rollup from the incidents and their events, in one transaction that "
            "holds writers back meanwhile (safe to run twice, safe while intake runs). --check only reports "
            "how many rollup rows differ from a recomputation. --cluster only puts each partition's rows in the "
            "order of their key (a period's rows together), locking one partition at a time: a quiet hour's job.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare only; change nothing")
        parser.add_argument("--chunk", type=int, default=REBUILD_CHUNK, help="incident ids per statement")
        parser.add_argument("--cluster", action="store_true",
                            help="only rewrite each partition in the order of its key (CLUSTER), one at a time")

    def handle(self, *args, check: bool = False, chunk: int = REBUILD_CHUNK, cluster: bool = False, **options):
        started = time.monotonic()
        if check and cluster:
            raise CommandError("--check and --cluster: one at a time")
        if cluster:
            try:
                names = cluster_rollups(progress=Progress(self.stderr, "partitions"))
            except ProgrammingError as exc:  # CLUSTER is the owner's: the app's own role may not
                raise CommandError(f"--cluster must run as the tables' owner (the role `migrate` runs as): "
                                   f"{str(exc).strip()}") from exc
            self.stdout.write(f"clustered {len(names)} rollup partitions in {time.monotonic() - started:.1f} s")
            return
        if check:
            differing = drift()
            self.stdout.write(f"{len(differing)} rollup rows differ from the incidents")
            for row in differing[:20]:
                self.stdout.write(f"  {row}")
            return
        rows = rebuild_rollups(chunk=max(1, chunk), progress=Progress(self.stderr, "rollups"))
        self.stdout.write(f"rebuilt {rows} rollup rows in {time.monotonic() - started:.1f} s")
