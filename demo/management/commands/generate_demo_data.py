"""Regenerate the illustrative Gongdao demo data set files (EPSG:4326 GeoJSON and CSV)."""
from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from demo.dataset.generator import DEFAULT_SEED, generate
from demo.dataset.sources import SourceError


class Command(BaseCommand):
    """Write town, villages, grids, cameras, people and teams from the real source files and a seed."""

    help = (
        "Generate the illustrative Gongdao demo data set (town/village/grid polygons, cameras, people, "
        "teams) from the real source files. Deterministic: the same seed gives byte-identical files."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare --source, --out and --seed."""
        parser.add_argument("--source", default="data/boundaries/gongdao/source", type=Path,
                            help="directory with the real source files (default: %(default)s)")
        parser.add_argument("--out", default="data/boundaries/gongdao", type=Path,
                            help="directory to write the data set to (default: %(default)s)")
        parser.add_argument("--seed", default=DEFAULT_SEED, type=int, help="random seed (default: %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Generate the files and print the summary as JSON."""
        try:
            summary = generate(options["source"], options["out"], options["seed"])
        except SourceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
